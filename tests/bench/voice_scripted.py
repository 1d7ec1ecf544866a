"""Run ``synthetic`` with a script, for ../shared/bench/voice_eval.py (the shared speech has no transcripts).

Whisper's greedy transcript of the untouched take stands in for her script, as issue 14 asks:

    voice_eval.py DATA '.venv/bin/python tests/bench/voice_scripted.py {inp} {out} {seed}' --invert
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("STORYTELLER_WHISPER_GREEDY", "1")

from storyteller.pipeline.speech.transcribe import transcribe  # noqa: E402
from storyteller.pipeline.voice import methods as voice  # noqa: E402


def main() -> None:
    inp, out, seed = sys.argv[1:4]
    script = " ".join(s.text for s in transcribe(inp, "en", beam_size=1).segments)
    voice.anonymize(inp, out, "synthetic", seed, script=script, language="en")


if __name__ == "__main__":
    main()
