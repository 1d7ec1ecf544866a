"""Sound made in code for the bundled media (media/sample, media/music): tones and their Opus files.

Used by the developer scripts that make those files, never by the app.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from storyteller.pipeline.media.ffmpeg import run_ffmpeg


def tone(
    freq: float, seconds: float, rate: int, attack: float, release: float, harmonics: Sequence[float] = (1.0, 0.35, 0.12)
) -> np.ndarray:
    """A note with its harmonics (amplitudes of f, 2f, 3f...), rising over ``attack`` seconds
    and falling to silence over the last ``release`` seconds."""
    t = np.arange(int(seconds * rate)) / rate
    wave = sum(a * np.sin(2 * np.pi * freq * (k + 1) * t) for k, a in enumerate(harmonics))
    envelope = np.minimum(1.0, t / attack) * np.clip((seconds - t) / release, 0.0, 1.0)
    return (wave * envelope).astype(np.float64)


def encode_opus(wav: Path, target: Path, bitrate: str) -> Path:
    """``wav`` as a small mono Ogg/Opus file, byte for byte the same on every run (no metadata)."""
    run_ffmpeg(
        [
            *("-i", str(wav), "-c:a", "libopus", "-b:a", bitrate, "-ac", "1", "-map_metadata", "-1"),
            *("-fflags", "+bitexact", "-flags:a", "+bitexact", "-y", str(target)),
        ]
    )
    return target
