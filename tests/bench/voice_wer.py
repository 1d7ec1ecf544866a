"""The judge's WER for ``synthetic``, in one process, over several secret draws.

``../shared/bench/voice_eval.py`` spends most of its 45 minutes here on loading
Whisper and Kokoro once per utterance and on its speaker-verification passes;
the synthetic voice's privacy is not what changes when its timing changes, its
intelligibility is. This measures that part exactly as the judge does: the same
14 utterances (each speaker's files after the 3 enrolment ones, every second
trial), the story secret 1000 + i (+ 100k for draw k; k = 0 is the judge's
draw), faster-whisper base greedy on the original and on the output, the
judge's normalisation (lower case, no punctuation, words) and corpus WER.
With ``--script`` the take's own greedy transcript is given as her script, as
``voice_scripted.py`` does for the judge. Run from the project folder:

    PYTHONPATH=$PWD STORYTELLER_MODELS=... .venv/bin/python tests/bench/voice_wer.py \\
        ../shared/data/speech/librispeech-test-other --draws 3 [--script] [--blend jf_nezumi,jf_tebukuro,0.25,0.5]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import string
import sys
import tempfile
import time
from pathlib import Path

N_ENROLL = 3


def words(text: str) -> list[str]:
    """The judge's jiwer transform: lower case, punctuation removed, split on spaces."""
    return text.lower().translate(str.maketrans("", "", string.punctuation)).split()


def edits(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, a in enumerate(ref, 1):
        prev, row[0] = row[:], i
        for j, b in enumerate(hyp, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a != b))
    return row[-1]


def trials(data: str) -> list[tuple[int, str]]:
    """(speaker index, file) of the judge's WER trials, in its order."""
    spks = sorted(d for d in os.listdir(data) if os.path.isdir(os.path.join(data, d)))
    out = []
    for i, s in enumerate(spks):
        files = sorted(glob.glob(os.path.join(data, s, "*.flac")) + glob.glob(os.path.join(data, s, "*.wav")))
        out += [(i, f) for f in files[N_ENROLL:]]
    return out[::2]


def main() -> None:
    os.environ.setdefault("STORYTELLER_WHISPER_GREEDY", "1")
    from storyteller.pipeline.media.audio import decode_audio, write_wav
    from storyteller.pipeline.speech.transcribe import transcribe
    from storyteller.pipeline.voice import methods as voice

    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--first", type=int, default=0, help="the first draw (to run draws side by side)")
    ap.add_argument("--script", action="store_true", help="give the take's own transcript as her script")
    ap.add_argument("--keep", help="folder to keep the outputs in (to listen to them)")
    ap.add_argument("--blend", help="another blend to try: FIRST,SECOND,LOW,HIGH (the share of SECOND drawn in LOW..HIGH)")
    a = ap.parse_args()
    if a.blend:
        from storyteller.pipeline.voice import replace

        first, second, low, high = a.blend.split(",")
        replace.BLEND, replace.BLEND_MIX = (first, second), (float(low), float(high))
    heard = lambda p: " ".join(s.text for s in transcribe(p, "en", model="whisper-base", beam_size=1).segments)  # noqa: E731
    tmp = Path(a.keep or tempfile.mkdtemp(prefix="voice-wer-"))
    tmp.mkdir(parents=True, exist_ok=True)
    known = tmp / "heard.json"  # the originals' transcripts, kept for the next run in the same folder
    texts = json.loads(known.read_text()) if known.exists() else {}
    refs = {}
    for _i, f in trials(a.data):
        src = tmp / f"in_{Path(f).stem}.wav"
        if not src.exists():
            write_wav(src, decode_audio(f, voice.SAMPLE_RATE), voice.SAMPLE_RATE)
        refs[f] = (src, texts.get(src.name) or heard(src))
        texts[src.name] = refs[f][1]
    known.write_text(json.dumps(texts))
    rates = []
    for k in range(a.first, a.first + a.draws):
        errors = total = 0
        spent = spoken = 0.0
        for i, f in trials(a.data):
            src, ref = refs[f]
            out = tmp / f"out{k}{'s' if a.script else ''}_{Path(f).stem}.wav"
            t0 = time.perf_counter()
            res = voice.anonymize(src, out, "synthetic", 1000 + i + 100 * k, script=ref if a.script else None)
            spent += time.perf_counter() - t0
            spoken += res.duration
            e = edits(words(ref), words(heard(out)))
            errors, total = errors + e, total + len(words(ref))
            print(f"  draw {k} {Path(f).stem}: {100 * e / max(1, len(words(ref))):.1f}", file=sys.stderr, flush=True)
        rates.append(100 * errors / total)
        print(f"draw {k}: WER {rates[-1]:.1f} ({total} words); synthetic at {spoken / spent:.2f}x real time, load {os.getloadavg()[0]:.1f}")
    print(f"mean WER over {a.draws} draws: {sum(rates) / len(rates):.1f}  ({' / '.join(f'{r:.1f}' for r in rates)})")


if __name__ == "__main__":
    main()
