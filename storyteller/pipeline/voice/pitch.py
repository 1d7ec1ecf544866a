"""WORLD vocoder pitch shift (the honest-labelled ``pitch`` method).

The WORLD vocoder (pyworld) splits speech into a pitch track (F0), a smooth
spectral envelope and an aperiodicity map, and rebuilds it from them; here
only the pitch track is scaled. Works on one block of mono float audio and
keeps its length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyworld

FRAME_MS = 5.0
F0_FLOOR = 60.0
F0_CEIL = 600.0


@dataclass(frozen=True)
class PitchChange:
    """A WORLD pitch change: ``pitch_ratio`` multiplies F0. The identity is ``PitchChange()``."""

    pitch_ratio: float = 1.0


def analyse(y: np.ndarray, sr: int):
    """WORLD analysis (DIO + StoneMask pitch, CheapTrick envelope, D4C aperiodicity)."""
    x = np.ascontiguousarray(y, dtype=np.float64)
    f0, t = pyworld.dio(x, sr, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_MS)
    f0 = pyworld.stonemask(x, f0, t, sr)
    sp = pyworld.cheaptrick(x, f0, t, sr, f0_floor=F0_FLOOR)
    ap = pyworld.d4c(x, f0, t, sr)
    return f0, sp, ap


def change(y: np.ndarray, sr: int, ch: PitchChange) -> np.ndarray:
    """Apply ``ch`` to the block ``y`` and return audio of the same length.

    Depends on nothing but the block, so blocks can be processed in any order
    (and in parallel) with identical results.
    """
    n = len(y)
    if n < int(0.05 * sr):
        return np.zeros(n, dtype=np.float32)
    f0, sp, ap = analyse(y, sr)
    new_f0 = np.where(f0 > 0, np.clip(f0 * ch.pitch_ratio, F0_FLOOR, 800.0), 0.0)
    out = pyworld.synthesize(np.ascontiguousarray(new_f0), sp, ap, sr, FRAME_MS)
    out = out[:n] if len(out) >= n else np.pad(out, (0, n - len(out)))
    rms_in = np.sqrt(np.mean(np.asarray(y, np.float64) ** 2) + 1e-12)
    rms_out = np.sqrt(np.mean(out**2) + 1e-12)
    return (out * (rms_in / rms_out)).astype(np.float32)
