"""Make the bundled music tracks: calm, slow, generated here so their licence is plain (CC0).

Each track is a 40-second loop of soft chords (additive synthesis, slow attack and
release, a gentle tremolo) with a few plucked notes above them, written as a small
mono Opus file. The render loops a track under the whole story and ducks it under
her voice, so the loop only has to join smoothly: every note fades out before the
end and the chords start again from silence.

Run from the project root:  .venv/bin/python media/music/make_music.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from media.synth import encode_opus, tone
from storyteller.pipeline.media.audio import write_wav

RATE = 24000
SECONDS = 40.0
A4 = 440.0

# name -> (chord roots as semitones from A4, chord quality, bright notes, seed)
TRACKS = {
    "dawn": ((-9, -4, -12, -7), "major", 0.6, 1),  # major chords: open and hopeful
    "river": ((-12, -8, -5, -10), "minor", 0.4, 2),  # minor chords, fewer plucks: quiet, thoughtful
    "lantern": ((-7, -2, -9, -5), "sus", 0.5, 3),  # suspended chords: warm and unresolved
}
QUALITIES = {"major": (0, 4, 7, 12), "minor": (0, 3, 7, 12), "sus": (0, 5, 7, 12)}


def hz(semitones: float) -> float:
    return A4 * 2.0 ** (semitones / 12.0)


def voice(freq: float, seconds: float, attack: float, release: float, harmonics=(1.0, 0.35, 0.12)) -> np.ndarray:
    return tone(freq, seconds, RATE, attack, release, harmonics)


def track(roots, quality: str, bright: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros(int(SECONDS * RATE))
    chord_seconds = SECONDS / len(roots)
    for i, root in enumerate(roots):
        start = int(i * chord_seconds * RATE)
        for step in QUALITIES[quality]:
            pad = voice(hz(root + step - 12), chord_seconds + 1.5, attack=2.5, release=3.0)
            end = min(len(out), start + len(pad))
            out[start:end] += 0.08 * pad[: end - start]
        # a few soft plucks from the chord, high and sparse
        for _ in range(3):
            note = hz(root + int(rng.choice(QUALITIES[quality])) + 12)
            at = start + int(rng.uniform(0.5, chord_seconds - 3.0) * RATE)
            pluck = voice(note, 2.5, attack=0.01, release=2.4, harmonics=(1.0, 0.2)) * np.exp(-np.arange(int(2.5 * RATE)) / RATE * 1.5)
            end = min(len(out), at + len(pluck))
            out[at:end] += 0.05 * bright * pluck[: end - at]
    t = np.arange(len(out)) / RATE
    out *= 1.0 + 0.08 * np.sin(2 * np.pi * 0.2 * t)  # slow tremolo: the pad breathes
    fade = int(1.5 * RATE)
    out[:fade] *= np.linspace(0.0, 1.0, fade)
    out[-fade:] *= np.linspace(1.0, 0.0, fade)
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, (roots, quality, bright, seed) in TRACKS.items():
            wav = write_wav(Path(tmp) / f"{name}.wav", track(roots, quality, bright, seed), RATE)
            target = HERE / f"{name}.ogg"
            encode_opus(wav, target, "32k")
            print(f"{target.name}: {target.stat().st_size // 1024} kB")


if __name__ == "__main__":
    main()
