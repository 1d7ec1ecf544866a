"""Held-out speakers for the voice judge, built from Debian's recorded telephone prompts.

``disguise`` was tuned on the four shared LibriSpeech speakers; issue 14 asks
for its figures on speakers it was never tuned on. This builds such a set, in
the layout ``../shared/bench/voice_eval.py`` (and ``voice_eq_attack.speaker_files``)
reads: one folder per speaker, its ``.wav`` recordings sorted by name, the
first three enrol and the rest are trials. Each speaker is one language of
the Asterisk core prompts (G.722, 16 kHz), from these Debian packages:

=============================  ===================  =========================  ============
package                        folder               voice                      licence
=============================  ===================  =========================  ============
asterisk-core-sounds-en-g722   en-allison           Allison Smith (woman)      CC-BY-SA-3.0
asterisk-core-sounds-fr-g722   fr-june              June Wallack (woman)       CC-BY-SA-3.0
asterisk-core-sounds-it-g722   it-carlo             Carlo Flora (man)          CC-BY-3.0
asterisk-core-sounds-ru-g722   ru-ivrvoice          ivrvoice.ru, Maxim Topal   CC-BY-3.0
=============================  ===================  =========================  ============

(licences from ``/usr/share/doc/<package>/copyright``; the Russian folder is
``ru_RU_f_IvrvoiceRU``, a woman's voice). Nothing from the packages is kept in
the project: install them, then build the folder outside it::

    apt-get install -y asterisk-core-sounds-en-g722 asterisk-core-sounds-fr-g722 \\
        asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722
    python tests/bench/voice_heldout.py /tmp/heldout

Each prompt is decoded with ffmpeg (the app's, from imageio-ffmpeg, or one on
the PATH) to 16 kHz mono WAV. The selection is deterministic: the prompts of
3 to 10 s (raw G.722 at 64 kbit/s is 8000 bytes a second; not the
``silence/`` ones), sorted by path,
and ``--per-speaker`` of them (10, as in the shared set: 3 enrol, 7 trials)
taken evenly spaced over that list. A speaker folder's name starts with its
language code, which ``voice_draws.py --language folder`` gives Whisper. A
``sources.tsv`` in the output folder names the prompt behind every file.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import wave
from pathlib import Path

SOUNDS = Path("/usr/share/asterisk/sounds")
SPEAKERS = {  # output folder -> (package, folder of its prompts)
    "en-allison": ("asterisk-core-sounds-en-g722", "en_US_f_Allison"),
    "fr-june": ("asterisk-core-sounds-fr-g722", "fr_CA_f_June"),
    "it-carlo": ("asterisk-core-sounds-it-g722", "it_IT_m_Carlo"),
    "ru-ivrvoice": ("asterisk-core-sounds-ru-g722", "ru_RU_f_IvrvoiceRU"),
}
G722_BYTES_PER_SECOND = 8000
SR = 16000


def ffmpeg() -> str:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except ImportError:
        found = shutil.which("ffmpeg")
        if not found:
            sys.exit("no ffmpeg: install imageio-ffmpeg (pip) or ffmpeg (apt)")
        return found


def pick(folder: Path, n: int, shortest: float, longest: float) -> list[Path]:
    """``n`` prompts of ``shortest``..``longest`` seconds, evenly spaced over their sorted paths."""
    fits = sorted(
        (
            p
            for p in folder.rglob("*.g722")
            if p.parent.name != "silence" and shortest <= p.stat().st_size / G722_BYTES_PER_SECOND <= longest
        ),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    if len(fits) < n:
        sys.exit(f"{folder}: only {len(fits)} prompts of {shortest}-{longest} s, {n} wanted")
    return [fits[i * len(fits) // n] for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="/tmp/heldout")
    ap.add_argument("--per-speaker", type=int, default=10)
    ap.add_argument("--min-seconds", type=float, default=3.0)
    ap.add_argument("--max-seconds", type=float, default=10.0)
    a = ap.parse_args()
    out = Path(a.out)
    exe = ffmpeg()
    missing = [pkg for pkg, folder in SPEAKERS.values() if not (SOUNDS / folder).is_dir()]
    if missing:
        sys.exit("missing prompts; run: apt-get install -y " + " ".join(missing))
    rows = ["file\tpackage\tprompt\tseconds"]
    for name, (pkg, folder) in SPEAKERS.items():
        target = out / name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for i, src in enumerate(pick(SOUNDS / folder, a.per_speaker, a.min_seconds, a.max_seconds)):
            wav = target / f"{name}-{i:02d}.wav"
            subprocess.run(
                [
                    exe,
                    "-nostdin",
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-y",
                    "-f",
                    "g722",
                    "-i",
                    str(src),
                    "-ac",
                    "1",
                    "-ar",
                    str(SR),
                    str(wav),
                ],
                check=True,
            )
            with wave.open(str(wav)) as w:
                if w.getframerate() != SR or w.getnchannels() != 1 or not w.getnframes():
                    sys.exit(f"bad decode of {src}")
                seconds = w.getnframes() / SR
            rows.append(f"{name}/{wav.name}\t{pkg}\t{src.relative_to(SOUNDS / folder).as_posix()}\t{seconds:.2f}")
        print(f"{name}: {a.per_speaker} files from {pkg}", flush=True)
    (out / "sources.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
