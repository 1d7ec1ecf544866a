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


URDU_STORY = (
    "میرا نام عائشہ ہے۔ میں ایک چھوٹے سے گاؤں میں پیدا ہوئی۔ میرے والد کسان تھے اور میری ماں گھر کا کام کرتی تھیں۔ "
    "ہمارے گھر کے پاس ایک بڑا درخت تھا۔ میں ہر صبح اسکول جاتی تھی۔ ایک دن میری زندگی بدل گئی۔ "
    "آج میں اپنی کہانی سنانا چاہتی ہوں تاکہ دوسری لڑکیاں ہمت نہ ہاریں۔"
)


def read_by_synthetic(script: str, language: str, secret=1, word_seconds: float = 0.4) -> tuple[np.ndarray, int]:
    """``script`` said by the story's synthetic voice exactly as ``synthetic`` says her words: as if she
    had read it at ``word_seconds`` a word with a second's pause after each sentence (16 kHz, peak 0.5)."""
    import re

    from storyteller.pipeline.voice import replace

    sr = 16000
    words, t = [], 0.5
    for sentence in re.split(r"(?<=[.!?۔؟])\s+", script.strip()):
        for w in sentence.split():
            words.append(replace.TimedWord(int(t * sr), int((t + word_seconds - 0.05) * sr), w))
            t += word_seconds
        t += 1.0
    her = np.full(int((t + 1.0) * sr), 0.1, np.float32)  # an even level: the voice keeps its own loudness
    speaker = replace._Speaker(secret, language)
    out = replace.speak_over(her, sr, words, speaker, lambda f: None, lambda: False)
    return (0.5 * out / max(float(np.abs(out).max()), 1e-9)).astype(np.float32), sr
