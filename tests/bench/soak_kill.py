"""Kill soak (issue 16): a real worker SIGKILLed at many points of her render, restarted each time.

    STORYTELLER_MODELS=.venv/storyteller-test-data/models .venv/bin/python tests/bench/soak_kill.py [--quick]

Each kill point gets a fresh story (her narration, two pictures checked for faces) whose
subtitles are not made yet, so the render job walks through every stage: subtitles
(Whisper), voice, rendering, and the final mux. The worker is killed when the job's row
reaches the point, then started again; ``tests/test_kill.py::kill_and_recover`` checks
that the job ran again to done (attempt 2), her originals kept their sha256, one whole
video was kept, no half-written file or work/temp file stayed, and no process outlived
the killed worker. Prints one line per kill point and how many were survived.
With ``--quick``, 6 points instead of 21.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from storyteller.pipeline.media.audio import decode_audio, write_wav
from tests.test_kill import IN_MUX, KillPoint, kill_and_recover, make_her_story

SPEECH = ROOT.parent / "shared" / "data" / "speech" / "librispeech-test-other" / "1688"

POINTS = (
    [KillPoint("subtitles", p) for p in (0.0, 0.05, 0.15)]
    + [KillPoint("voice", p) for p in (0.25, 0.32)]
    + [KillPoint("rendering", 0.4 + 0.6 * f) for f in (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)]
    + [IN_MUX, IN_MUX]
)
QUICK = [POINTS[0], POINTS[3], POINTS[6], POINTS[11], POINTS[17], IN_MUX]


def narration(folder: Path) -> Path | None:
    """About 30 s of real speech (so Whisper has work to do), or None for a tone when ../shared is absent."""
    clips = sorted(SPEECH.glob("*.flac"))[:2]
    if not clips:
        return None
    speech = np.concatenate([decode_audio(c, 16000) for c in clips])
    return write_wav(folder / "narration.wav", speech, 16000)


def main() -> int:
    points = QUICK if "--quick" in sys.argv else POINTS
    survived = missed_points = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="soak-kill-") as tmp:
        tmp = Path(tmp)
        data_dir = tmp / "data"
        data_dir.mkdir()
        take = narration(tmp)
        print(f"{len(points)} kill points, narration: {'LibriSpeech' if take else 'a tone'}", flush=True)
        for i, point in enumerate(points, 1):
            run = tmp / f"run-{i}"
            her = make_her_story(data_dir, run / "her", narration=take, subtitles=True)
            t0 = time.monotonic()
            try:
                result = kill_and_recover(data_dir, run, her, point)
            except AssertionError as missed:  # the render reports about once a second and may skip past a point
                print(f"{i:2d}. {str(point):22s} not reached, no kill: {missed}", flush=True)
                missed_points += 1
                continue
            ok = not result.problems
            survived += ok
            print(
                f"{i:2d}. {str(point):22s} killed at {result.killed_at:18s} attempt {result.attempt}  "
                f"{'survived' if ok else 'LOST: ' + '; '.join(result.problems)}  ({time.monotonic() - t0:.0f} s)",
                flush=True,
            )
    killed = len(points) - missed_points
    print(f"survived {survived} of {killed} kills ({missed_points} points not reached) in {time.monotonic() - started:.0f} s")
    return 0 if survived == killed else 1


if __name__ == "__main__":
    sys.exit(main())
