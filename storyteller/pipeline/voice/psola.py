"""Pitch and vocal-tract change by Praat's PSOLA ("Change gender"), with her average spectrum replaced.

Praat (praat-parselmouth) resamples the block so every formant moves by one
ratio (a shorter or longer vocal tract), then puts pitch and duration back in
place by pitch-synchronous overlap-add, moving the pitch by its own ratio and
scaling the melody around it. PSOLA keeps her real glottal pulses, so words
stay clear (far fewer recognition errors than a vocoder copy; figures in
``tests/bench/bench_voice.py``). Pitch and formants move by different secret amounts.
Her long-term average spectrum, a strong identity cue, is then replaced by
a speech-like one with a secret slope, or overshot past it. The measured
verifier (GE2E on linear-power mel bands) hardly hears pitch; it hears the
formant scale and, most, the balance of low and high frequencies, so the
overshoot's deep cut of her strong low band is what an attacker who shifts
the pitch back cannot undo.

Everything here works on one block of mono float audio and keeps its length.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass

import numpy as np
import parselmouth
from scipy.signal import istft, stft

PITCH_FLOOR = 75.0  # Praat's defaults for speech
PITCH_CEIL = 600.0
MIN_SECONDS = 0.1  # Praat needs three periods of the lowest pitch, plus room
NFFT = 512  # 32 ms at 16 kHz: fine enough to see her average formant pattern
HOP = 128

# Praat's PSOLA places pulses in unvoiced stretches at random, from one global
# generator, and parselmouth lets threads into Praat at once. Seeding it and
# running PSOLA under one lock keeps "same secret, same output" true.
_PRAAT = threading.Lock()
_CHANGE_GENDER = """random_initializeWithSeedUnsafelyButPredictably (1)
Change gender: {floor}, {ceil}, {formant!r}, {median!r}, {range!r}, 1.0
"""


@dataclass(frozen=True)
class VoiceChange:
    """One PSOLA voice change. The identity is ``VoiceChange()``.

    ``pitch_ratio``    multiplies her median pitch.
    ``formant_ratio``  multiplies every formant frequency (>1 = shorter vocal tract).
    ``range_factor``   scales the melody around the median (1 keeps it).
    ``flatten``        how much of her long-term average spectrum is replaced: 1 swaps it for the
                       target, above 1 overshoots (her own formant pattern is turned upside down).
    ``slope_db``       the replacement: flat to 500 Hz, then this many dB per octave.
    """

    pitch_ratio: float = 1.0
    formant_ratio: float = 1.0
    range_factor: float = 1.0
    flatten: float = 0.0
    slope_db: float = 0.0


def median_pitch(y: np.ndarray, sr: int) -> float:
    """Her median pitch in the block (Hz), or 0 if nothing in it is voiced."""
    with _PRAAT, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = parselmouth.Sound(np.asarray(y, np.float64), sr).to_pitch_ac(time_step=0.01, pitch_floor=PITCH_FLOOR, pitch_ceiling=PITCH_CEIL)
    f = p.selected_array["frequency"]
    f = f[f > 0]
    return float(np.median(f)) if len(f) else 0.0


def _fit(z: np.ndarray, n: int) -> np.ndarray:
    return z[:n] if len(z) >= n else np.pad(z, (0, n - len(z)))


def replace_average_spectrum(y: np.ndarray, sr: int, strength: float, slope_db: float) -> np.ndarray:
    """Swap the block's long-term average spectrum for a speech-like one (one fixed filter per block).

    Quiet frames are left out of the average (they are room, not voice). A
    short block's average is just a few sounds, and removing it would erase
    them, so the strength falls off below 3 s of speech.
    """
    f, _, spec = stft(y, sr, nperseg=NFFT, noverlap=NFFT - HOP)
    power = np.abs(spec) ** 2
    energy = power.sum(axis=0)
    if not np.any(energy > 0):
        return y
    loud = energy > 0.05 * np.median(energy[energy > 0])
    strength = strength * min(1.0, loud.sum() * HOP / sr / 3.0)
    avg = np.log(power[:, loud].mean(axis=1) + 1e-12) / 2  # log amplitude
    k = 4  # smooth over ~250 Hz: her formant pattern, not single harmonics
    smooth = np.convolve(np.pad(avg, k, mode="edge"), np.ones(2 * k + 1) / (2 * k + 1), "same")[k:-k]
    target = slope_db / 8.686 * np.log2(np.maximum(f, 500.0) / 500.0)
    gain = np.clip(strength * ((target - target.mean()) - (smooth - smooth.mean())), -4.0, 4.0)
    _, z = istft(spec * np.exp(gain)[:, None], sr, nperseg=NFFT, noverlap=NFFT - HOP)
    return _fit(z, len(y))


def change(y: np.ndarray, sr: int, ch: VoiceChange) -> np.ndarray:
    """Apply ``ch`` to the block ``y``; same length, same loudness.

    Depends on nothing but the block, so blocks can be processed in any order
    with identical results.
    """
    n = len(y)
    if n < int(MIN_SECONDS * sr):
        return np.zeros(n, dtype=np.float32)
    x = np.asarray(y, np.float64)
    med = median_pitch(x, sr)
    new_median = med * ch.pitch_ratio if med > 0 else 0.0  # 0 = Praat keeps the pitch (nothing voiced to move)
    script = _CHANGE_GENDER.format(
        floor=PITCH_FLOOR, ceil=PITCH_CEIL, formant=float(ch.formant_ratio), median=float(new_median), range=float(ch.range_factor)
    )
    with _PRAAT, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = parselmouth.praat.run(parselmouth.Sound(x, sr), script)[0]
    z = _fit(out.values[0], n)
    if ch.flatten > 0:
        z = replace_average_spectrum(z, sr, ch.flatten, ch.slope_db)
    rms_in = np.sqrt(np.mean(x**2) + 1e-12)
    rms_out = np.sqrt(np.mean(z**2) + 1e-12)
    return (z * (rms_in / rms_out)).astype(np.float32)
