"""Test narration with a known text: eSpeak NG's own voice (from the ``espeakng-loader`` wheel).

The wheel ships libespeak-ng and its voice data, so CI needs no apt package.
espeak-ng's Urdu voice is robotic, but the words it says are exactly the
script we give it, which is what the alignment tests need. It is the same
voice the product falls back to when no neural voice is installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from storyteller.pipeline.media.audio import write_wav
from storyteller.pipeline.voice import tts


def speak(text: str, voice: str = "ur", rate_wpm: int = 150) -> tuple[np.ndarray, int]:
    """Synthesize ``text`` with espeak-ng; returns (float32 mono samples, sample rate)."""
    return tts.espeak_speak(text, voice, rate_wpm)


def speak_to_wav(text: str, target: Path, voice: str = "ur", rate_wpm: int = 150, lead: float = 0.5) -> Path:
    """Write ``text`` spoken by espeak-ng to a WAV with ``lead`` seconds of silence around it."""
    samples, rate = speak(text, voice, rate_wpm)
    pad = np.zeros(int(lead * rate), dtype=np.float32)
    return write_wav(target, np.concatenate([pad, samples, pad]), rate)
