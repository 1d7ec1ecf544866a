"""A second attacker for the voice benchmark: undo the average tone, then verify.

``../shared/bench/voice_eval.py`` tries to undo a pitch shift. This one undoes
an equaliser: it measures the anonymized take's long-term average spectrum
and pulls it back to the average of the original enrolment recordings (any
attacker has ordinary speech to copy that from), then runs the same verifier
against the original voices. A disguise whose privacy lives in the tone
(bass cut, treble lift) falls back here, just as a plain pitch shift falls
back under ``--invert``. Same speakers, same story seeds (1000 + i), same
trials and same verifier as the judge.

Runs in the eval venv (it needs Resemblyzer):

    /tmp/benchv/bin/python tests/bench/voice_eq_attack.py ../shared/data/speech/librispeech-test-other \\
        '.venv/bin/storyteller voice {inp} -o {out} --seed {seed} --method disguise --audience workshop'

prints ``EER_ignorant=.. EER_eq=.. EER_eq_invert=..`` (the last also tries pitch
shifts of -6..+6 semitones after the equaliser and keeps the best score, like
the judge's inversion).
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
from resemblyzer import VoiceEncoder, preprocess_wav
from scipy.signal import istft, stft

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "shared" / "bench"))
from voice_eval import eer  # noqa: E402  (the judge's own EER)

SR = 16000
NFFT, HOP = 512, 128
MAX_GAIN = 4.6  # nepers (40 dB): enough to undo any equaliser the app could apply
N_ENROLL = 3


def speaker_files(data: str) -> dict[str, list[str]]:
    """Each speaker folder's recordings, in the judge's order (first ``N_ENROLL`` enrol, the rest are trials)."""
    spks = sorted(d for d in os.listdir(data) if os.path.isdir(os.path.join(data, d)))
    return {s: sorted(glob.glob(os.path.join(data, s, "*.flac")) + glob.glob(os.path.join(data, s, "*.wav"))) for s in spks}


def similarity(enrolled: list[np.ndarray], test: np.ndarray) -> float:
    """The judge's trial score: mean dot product of the test embedding with a speaker's enrolment."""
    return float(np.mean([np.dot(e, test) for e in enrolled]))


def long_term_spectrum(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed log amplitude of the loud frames, and the STFT it came from."""
    _, _, spec = stft(y, SR, nperseg=NFFT, noverlap=NFFT - HOP)
    power = np.abs(spec) ** 2
    energy = power.sum(axis=0)
    loud = energy > 0.05 * np.median(energy[energy > 0])
    avg = np.log(power[:, loud].mean(axis=1) + 1e-12) / 2
    k = 4
    smooth = np.convolve(np.pad(avg, k, mode="edge"), np.ones(2 * k + 1) / (2 * k + 1), "same")[k:-k]
    return smooth - smooth.mean(), spec


def equalise(y: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Give ``y`` the long-term spectrum ``target`` with one fixed filter."""
    own, spec = long_term_spectrum(y)
    gain = np.clip(target - own, -MAX_GAIN, MAX_GAIN)
    _, z = istft(spec * np.exp(gain)[:, None], SR, nperseg=NFFT, noverlap=NFFT - HOP)
    return z[: len(y)].astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("cmd")
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    files = speaker_files(a.data)
    spks = list(files)
    enc = VoiceEncoder(device="cpu", verbose=False)
    embed = lambda y: enc.embed_utterance(preprocess_wav(y, source_sr=SR))  # noqa: E731
    originals = {f: librosa.load(f, sr=SR)[0] for s in spks for f in files[s]}
    enrol = {s: [embed(originals[f]) for f in files[s][:N_ENROLL]] for s in spks}
    target = np.mean([long_term_spectrum(originals[f])[0] for s in spks for f in files[s][:N_ENROLL]], axis=0)
    attacks = {"EER_ignorant": [], "EER_eq": [], "EER_eq_invert": []}
    labels = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, s in enumerate(spks):
            for f in files[s][N_ENROLL:]:
                src = os.path.join(tmp, "in_" + Path(f).stem + ".wav")
                out = os.path.join(tmp, "out_" + Path(f).stem + ".wav")
                sf.write(src, originals[f], SR)
                r = subprocess.run(a.cmd.format(inp=src, out=out, seed=1000 + i), shell=True, capture_output=True, text=True)
                if r.returncode != 0 or not os.path.exists(out):
                    sys.exit(f"anonymizer failed on {f}: {r.stderr[-500:]}")
                y = librosa.load(out, sr=SR)[0]
                flat = equalise(y, target)
                tries = {
                    "EER_ignorant": [embed(y)],
                    "EER_eq": [embed(flat)],
                    "EER_eq_invert": [embed(librosa.effects.pitch_shift(flat, sr=SR, n_steps=st)) for st in (-6, -3, 0, 3, 6)],
                }
                for s2 in spks:
                    labels.append(int(s == s2))
                    for name, embs in tries.items():
                        attacks[name].append(max(similarity(enrol[s2], t) for t in embs))
    print(" ".join(f"{name}={eer(scores, labels):.1f}" for name, scores in attacks.items()))


if __name__ == "__main__":
    main()
