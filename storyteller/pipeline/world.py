"""WORLD vocoder changes: pitch level and contour, vocal-tract-length and formant warp.

The WORLD vocoder (pyworld) splits speech into a pitch track (F0), a smooth
spectral envelope and an aperiodicity map, and rebuilds it from them. Changing
the three parts separately is what lets the disguise move a voice's pitch and
its vocal tract independently, so undoing one (a pitch shift) leaves the other.
Everything here works on one block of mono float audio and keeps its length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyworld

FRAME_MS = 5.0
F0_FLOOR = 60.0
F0_CEIL = 600.0


@dataclass(frozen=True)
class WorldChange:
    """One set of WORLD changes. The identity is ``WorldChange()``.

    ``pitch_ratio``     multiplies F0 (used when ``target_f0`` is None).
    ``target_f0``       moves the speaker's median F0 to this value (Hz), hiding her own level.
    ``contour``         scales the melody around the median (1 keeps it; <1 flattens it).
    ``vtl``             vocal-tract-length factor: formants scale by it (>1 = shorter tract).
    ``warp_alpha``      McAdams-style power warp of the envelope's frequency axis (1 keeps it).
    ``tilt_db``         spectral tilt added, dB from 0 Hz to Nyquist.
    ``flatten``         0..1, how much of the speaker's average spectral shape is replaced.
    ``slope_db``        the replacement: a speech-like average spectrum, flat to 500 Hz, then this many dB per octave.
    """

    pitch_ratio: float = 1.0
    target_f0: float | None = None
    contour: float = 1.0
    vtl: float = 1.0
    warp_alpha: float = 1.0
    tilt_db: float = 0.0
    flatten: float = 0.0
    slope_db: float = -7.0


def analyse(y: np.ndarray, sr: int):
    """WORLD analysis (DIO + StoneMask pitch, CheapTrick envelope, D4C aperiodicity)."""
    x = np.ascontiguousarray(y, dtype=np.float64)
    f0, t = pyworld.dio(x, sr, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_MS)
    f0 = pyworld.stonemask(x, f0, t, sr)
    sp = pyworld.cheaptrick(x, f0, t, sr, f0_floor=F0_FLOOR)
    ap = pyworld.d4c(x, f0, t, sr)
    return f0, sp, ap


def _speech_ltas(nbins: int, sr: int, slope_db: float) -> np.ndarray:
    """A generic long-term speech spectrum (log amplitude): flat to 500 Hz, then ``slope_db`` per octave.

    Her own average spectrum is replaced by this shape rather than by a flat one:
    a flat spectrum sounds harsh and the recogniser (and listener) loses words.
    """
    f = np.linspace(0.0, sr / 2, nbins)
    db = slope_db * np.log2(np.maximum(f, 500.0) / 500.0)
    return db / 8.686


def _warp_index(nbins: int, vtl: float, alpha: float) -> np.ndarray:
    """Fractional source bin for each output bin of the warped envelope."""
    phi = np.linspace(0.0, np.pi, nbins)
    src = phi / vtl  # formant at f moves to vtl * f
    src = np.clip(src, 0.0, np.pi)
    if alpha != 1.0:
        # McAdams moves a pole at angle p to p**alpha; the envelope value at p**alpha is the old value at p
        src = np.clip(src, 1e-6, np.pi) ** (1.0 / alpha)
        src = np.clip(src, 0.0, np.pi)
    return src / np.pi * (nbins - 1)


def _warp(mat: np.ndarray, index: np.ndarray) -> np.ndarray:
    i0 = np.floor(index).astype(int)
    i1 = np.minimum(i0 + 1, mat.shape[1] - 1)
    t = index - i0
    return mat[:, i0] * (1 - t) + mat[:, i1] * t


def change(y: np.ndarray, sr: int, ch: WorldChange) -> np.ndarray:
    """Apply ``ch`` to the block ``y`` and return audio of the same length.

    Depends on nothing but the block, so blocks can be processed in any order
    (and in parallel) with identical results.
    """
    n = len(y)
    if n < int(0.05 * sr):
        return np.zeros(n, dtype=np.float32)
    f0, sp, ap = analyse(y, sr)
    voiced = f0 > 0

    # pitch: a ratio, or her median moved to a secret target; then the melody scaled around it
    med = float(np.median(f0[voiced])) if voiced.any() else 150.0
    lf0 = np.log(np.where(voiced, f0, med))
    centre = np.log(ch.target_f0) if ch.target_f0 else np.log(med * ch.pitch_ratio)
    new_f0 = np.exp(centre + ch.contour * (lf0 - np.log(med)))
    new_f0 = np.where(voiced, np.clip(new_f0, F0_FLOOR, 800.0), 0.0)

    logsp = np.log(np.maximum(sp, 1e-16))
    if ch.flatten > 0 and voiced.any():
        # Her long-term average envelope is a strong identity cue (measured: it is what
        # the verifier leans on most), so remove it. Over a very short take the average
        # is just one or two vowels, and removing it would erase them: scale down.
        avg = logsp[voiced].mean(axis=0)
        k = max(3, len(avg) // 40)
        smooth = np.convolve(np.pad(avg, k, mode="edge"), np.ones(2 * k + 1) / (2 * k + 1), "same")[k:-k]
        strength = ch.flatten * min(1.0, voiced.sum() * FRAME_MS / 1000 / 3.0)
        target = _speech_ltas(len(avg), sr, ch.slope_db)
        logsp = logsp - strength * ((smooth - smooth.mean()) - (target - target.mean()))
    if ch.vtl != 1.0 or ch.warp_alpha != 1.0:
        idx = _warp_index(sp.shape[1], ch.vtl, ch.warp_alpha)
        logsp = _warp(logsp, idx)
        ap = _warp(ap, idx)
    if ch.tilt_db:
        logsp = logsp + np.linspace(0.0, ch.tilt_db / 8.686, sp.shape[1])[None, :]
    out = pyworld.synthesize(
        np.ascontiguousarray(new_f0), np.ascontiguousarray(np.exp(logsp)), np.ascontiguousarray(np.clip(ap, 0.0, 1.0)), sr, FRAME_MS
    )
    out = out[:n] if len(out) >= n else np.pad(out, (0, n - len(out)))
    rms_in = np.sqrt(np.mean(np.asarray(y, np.float64) ** 2) + 1e-12)
    rms_out = np.sqrt(np.mean(out**2) + 1e-12)
    return (out * (rms_in / rms_out)).astype(np.float32)
