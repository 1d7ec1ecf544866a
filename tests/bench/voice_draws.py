"""The voice judge over many secret draws, not one.

``../shared/bench/voice_eval.py`` gives each of its four speakers one story
secret (1000 + i) and one attacker secret (5000 + i). With 28 target trials,
one draw of secrets moves EER by about 5 points and WER by about 3. This runs
the same measurement (same verifier, trials, WER rule, and the app's CLI) for
seed sets k = 0..N-1 (story 1000 + i + 100k, attacker 5000 + i + 100k; k = 0 is
exactly the judge's draw) and prints each set and the mean, so a method is
judged on what a story can expect rather than on one draw.

Runs in the eval venv (Resemblyzer, faster-whisper), from the project folder:

    FW_MODEL=instance/models/whisper-base /tmp/benchv/bin/python tests/bench/voice_draws.py \\
        ../shared/data/speech/librispeech-test-other --method disguise --sets 10

``--invert`` adds the judge's EER_orig (once) and EER_invert (each set). On the
held-out speakers of ``voice_heldout.py`` (four languages), ``--language folder``
has Whisper transcribe each speaker in her own language, original and output alike.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
from resemblyzer import VoiceEncoder, preprocess_wav
from voice_eq_attack import (  # same folder; eer is the judge's own
    N_ENROLL,
    eer,
    similarity,
    speaker_files,
)

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--method", default="disguise")
    ap.add_argument("--sets", type=int, default=10)
    ap.add_argument("--first", type=int, default=0, help="the first set (to run sets side by side, as voice_wer.py --first)")
    ap.add_argument("--no-wer", action="store_true")
    ap.add_argument("--invert", action="store_true", help="also the judge's pitch-inversion attacker (EER_invert)")
    ap.add_argument(
        "--language",
        default="en",
        help="Whisper's language for the WER (the judge's: en); 'folder' takes each speaker folder's name up to its first '-' "
        "(voice_heldout.py's en-allison, fr-june, ...), so speech in another language is transcribed in its own",
    )
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    files = speaker_files(a.data)
    spks = list(files)
    language = {s: s.split("-")[0] if a.language == "folder" else a.language for s in spks}
    enc = VoiceEncoder(device="cpu", verbose=False)
    embed = lambda p: enc.embed_utterance(preprocess_wav(p))  # noqa: E731
    embed_wave = lambda y: enc.embed_utterance(preprocess_wav(y, source_sr=16000))  # noqa: E731
    cli = ROOT / ".venv" / "bin" / "storyteller"
    whisper = None
    if not a.no_wer:
        import jiwer
        from faster_whisper import WhisperModel

        whisper = WhisperModel(os.environ["FW_MODEL"], device="cpu", compute_type="int8")
        tf = jiwer.Compose(
            [jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip(), jiwer.ReduceToListOfListOfWords()]
        )

    def words(path: str, lang: str) -> str:
        return " ".join(s.text for s in whisper.transcribe(path, language=lang, beam_size=1)[0]).strip().lower()

    with tempfile.TemporaryDirectory() as tmp:
        src = {}
        for s in spks:
            for f in files[s]:
                src[f] = os.path.join(tmp, Path(f).stem + ".wav")
                sf.write(src[f], librosa.load(f, sr=16000)[0], 16000)

        def anon(f: str, seed: int) -> str:
            out = os.path.join(tmp, f"{seed}_{Path(f).stem}.wav")
            r = subprocess.run(
                [str(cli), "voice", src[f], "-o", out, "--seed", str(seed), "--method", a.method, "--audience", "workshop"],
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                sys.exit(f"anonymizer failed on {f}: {r.stderr[-500:]}")
            return out

        enrol_orig = {s: [embed(src[f]) for f in files[s][:N_ENROLL]] for s in spks}
        if a.invert:  # the judge's sanity row: the verifier on untouched trials
            sc, lb = [], []
            for ts in spks:
                for f in files[ts][N_ENROLL:]:
                    te = embed(src[f])
                    for s in spks:
                        sc.append(similarity(enrol_orig[s], te))
                        lb.append(int(s == ts))
            print(f"originals: EER_orig={eer(sc, lb):.1f}", flush=True)
        refs = {}
        rows = []
        for k in range(a.first, a.first + a.sets):
            story = {s: 1000 + i + 100 * k for i, s in enumerate(spks)}
            attacker = {s: 5000 + i + 100 * k for i, s in enumerate(spks)}
            jobs = [(f, attacker[s]) for s in spks for f in files[s][:N_ENROLL]]
            jobs += [(f, story[s]) for s in spks for f in files[s][N_ENROLL:]]
            with ThreadPoolExecutor(2) as pool:
                made = dict(zip(jobs, pool.map(lambda j: anon(*j), jobs)))
            enrol_lazy = {s: [embed(made[(f, attacker[s])]) for f in files[s][:N_ENROLL]] for s in spks}
            trials = [(s, f, made[(f, story[s])]) for s in spks for f in files[s][N_ENROLL:]]
            tests = [(s, embed(p)) for s, _, p in trials]

            def score(enrol: dict, tests=tests) -> float:
                sc, lb = [], []
                for ts, te in tests:
                    for s in spks:
                        sc.append(similarity(enrol[s], te))
                        lb.append(int(s == ts))
                return eer(sc, lb)

            row = {"EER_ignorant": score(enrol_orig), "EER_lazy": score(enrol_lazy)}
            if a.invert:  # the judge's inversion: undo -12..+12 semitones, keep each enrolled speaker's best score
                sc, lb = [], []
                for ts, _, p in trials:
                    y = librosa.load(p, sr=16000)[0]
                    shifted = [embed_wave(librosa.effects.pitch_shift(y, sr=16000, n_steps=st)) for st in range(-12, 13, 2)]
                    for s in spks:
                        sc.append(max(similarity(enrol_orig[s], te) for te in shifted))
                        lb.append(int(s == ts))
                row["EER_invert"] = eer(sc, lb)
            if whisper is not None:
                picked = trials[::2]
                for s, f, _ in picked:
                    refs.setdefault(f, words(src[f], language[s]))
                row["WER"] = 100 * jiwer.wer(
                    [refs[f] for _, f, _ in picked],
                    [words(p, language[s]) for s, _, p in picked],
                    reference_transform=tf,
                    hypothesis_transform=tf,
                )
            rows.append(row)
            print(f"set {k}: " + " ".join(f"{n}={v:.1f}" for n, v in row.items()), flush=True)
            for p in made.values():
                os.remove(p)
    print(f"mean over {a.sets} sets: " + " ".join(f"{n}={np.mean([r[n] for r in rows]):.1f}" for n in rows[0]))


if __name__ == "__main__":
    main()
