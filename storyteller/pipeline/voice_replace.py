"""Replace her voice entirely: a synthetic voice (``synthetic``) or a second person (``double``).

Both keep the story's timing: the new speech is cut into pieces, and each piece
is time-stretched (WORLD vocoder, pitch kept) into the time she spoke the same
words, so subtitles made from her recording still fit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyworld

from storyteller.pipeline import tts

FRAME = 0.010


class ReplaceError(ValueError):
    """The replacement voice could not be made; the message says why."""


def speech_regions(y: np.ndarray, sr: int, min_gap: float = 0.3, min_len: float = 0.12) -> list[tuple[int, int]]:
    """(start, end) samples of the stretches that hold speech, by frame energy.

    The threshold sits between the quiet floor and the loud level, so it adapts
    to a hissy phone recording as well as to a quiet room.
    """
    hop = int(FRAME * sr)
    n = len(y) // hop
    if n == 0:
        return []
    e = 10 * np.log10(np.mean(y[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-10)
    lo, hi = np.percentile(e, 10), np.percentile(e, 95)
    if hi - lo < 6:  # flat energy: silence or constant noise, no speech to find
        return [] if hi < -60 else [(0, len(y))]
    active = e > lo + 0.35 * (hi - lo)
    regions: list[list[int]] = []
    for i in np.flatnonzero(active):
        if regions and i - regions[-1][1] <= min_gap / FRAME:
            regions[-1][1] = i + 1
        else:
            regions.append([i, i + 1])
    return [(a * hop, min(len(y), b * hop)) for a, b in regions if (b - a) * FRAME >= min_len]


def stretch(y: np.ndarray, sr: int, length: int) -> np.ndarray:
    """Time-stretch ``y`` to exactly ``length`` samples with the pitch kept (WORLD)."""
    if length <= 0:
        return np.zeros(0, np.float32)
    if len(y) < int(0.05 * sr) or not np.any(y):
        return np.zeros(length, np.float32)
    x = np.ascontiguousarray(y, dtype=np.float64)
    fp = 5.0
    f0, t = pyworld.dio(x, sr, frame_period=fp)
    f0 = pyworld.stonemask(x, f0, t, sr)
    sp = pyworld.cheaptrick(x, f0, t, sr)
    ap = pyworld.d4c(x, f0, t, sr)
    frames = max(2, int(round(length / sr * 1000 / fp)) + 1)
    src = np.linspace(0, len(f0) - 1, frames)
    near = np.round(src).astype(int)  # nearest frame for F0 keeps voiced/unvoiced edges sharp
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, len(f0) - 1)
    w = (src - i0)[:, None]
    sp2 = np.exp(np.log(sp[i0] + 1e-16) * (1 - w) + np.log(sp[i1] + 1e-16) * w)
    ap2 = ap[i0] * (1 - w) + ap[i1] * w
    out = pyworld.synthesize(np.ascontiguousarray(f0[near]), np.ascontiguousarray(sp2), np.ascontiguousarray(ap2), sr, fp)
    out = out[:length] if len(out) >= length else np.pad(out, (0, length - len(out)))
    return out.astype(np.float32)


def _resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = np.gcd(sr_in, sr_out)
    return resample_poly(y, sr_out // g, sr_in // g).astype(np.float32)


def _place(out: np.ndarray, piece: np.ndarray, start: int, sr: int) -> None:
    """Add ``piece`` at ``start`` with 10 ms fades so no edge clicks."""
    piece = piece[: max(0, len(out) - start)].copy()
    f = min(len(piece) // 2, int(0.01 * sr))
    if f:
        ramp = np.linspace(0, 1, f, dtype=np.float32)
        piece[:f] *= ramp
        piece[-f:] *= ramp[::-1]
    out[start : start + len(piece)] += piece


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(y, np.float64) ** 2) + 1e-12))


# ------------------------------------------------------------------ synthetic
_SENTENCE_END = re.compile(r"(?<=[.!?؟۔])\s+|\n+")


def split_sentences(script: str) -> list[str]:
    """Sentences of a script (Latin and Urdu full stops, question marks, line breaks)."""
    return [s.strip() for s in _SENTENCE_END.split(script) if s and s.strip()]


def script_timing(script: str, regions: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """Spread the script's sentences over her speech by length.

    Cumulative characters map to cumulative speaking time, so a sentence gets
    the stretch of her speech that its share of the text predicts; pauses
    between her phrases are kept as they are.
    """
    sentences = split_sentences(script)
    if not sentences or not regions:
        return []
    lens = np.array([max(1, len(s)) for s in sentences], float)
    speech = np.array([b - a for a, b in regions], float)
    cum_speech = np.concatenate([[0], np.cumsum(speech)])

    def at(u: float) -> int:  # speech time u (samples) -> wall-clock sample
        k = int(np.clip(np.searchsorted(cum_speech, u, side="right") - 1, 0, len(regions) - 1))
        return int(regions[k][0] + min(u - cum_speech[k], speech[k]))

    bounds = np.concatenate([[0], np.cumsum(lens)]) / lens.sum() * cum_speech[-1]
    return [(at(bounds[i]), at(bounds[i + 1]), s) for i, s in enumerate(sentences)]


def transcript_timing(y: np.ndarray, sr: int, language: str, models_root: Path | None) -> list[tuple[int, int, str]]:
    """Her words and their times from the installed Whisper model (offline)."""
    from faster_whisper import WhisperModel

    from storyteller import config, whisper_models

    model = whisper_models.resolve(models_root or config.models_dir())
    wm = WhisperModel(str(model.path), device="cpu", compute_type="int8", cpu_threads=2)
    segments, _ = wm.transcribe(np.asarray(y, np.float32), language=language, beam_size=1, vad_filter=False)
    return [(int(s.start * sr), int(s.end * sr), s.text.strip()) for s in segments if s.text.strip()]


def synthetic_voice(secret, language: str) -> tts.Voice:
    """The story's synthetic voice: variant, pitch and range drawn from the secret."""
    from storyteller.pipeline.voice import secret_rng

    rng = secret_rng(secret, "synthetic")
    return tts.Voice(
        language=language,
        variant=str(rng.choice(tts.VARIANTS)),
        pitch=int(rng.integers(25, 76)),
        range=int(rng.integers(30, 81)),
    )


def _espeak_language(language: str, text: str) -> str:
    # Pakistani Punjabi is written in Shahmukhi (Arabic script); eSpeak's pa reads Gurmukhi, so use the Urdu voice
    if language == "pa" and re.search(r"[\u0600-\u06FF]", text):
        return "ur"
    return language


def synthetic(
    y: np.ndarray, sr: int, secret, *, script: str | None = None, language: str = "en", models_root: Path | None = None,
    progress: Callable[[float], None] | None = None, cancel: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Her words spoken by a synthetic voice, each piece fitted into the time she took."""
    progress = progress or (lambda f: None)
    cancel = cancel or (lambda: False)
    if not tts.language_supported(language):
        raise ReplaceError(f"There is no offline synthetic voice for the language {language!r}. Use 'disguise' instead.")
    if script is not None and script.strip():
        timing = script_timing(script, speech_regions(y, sr))
    else:
        timing = transcript_timing(y, sr, language, models_root)
    progress(0.3)
    out = np.zeros(len(y), np.float32)
    if not timing:
        return out  # no speech found: silence in, silence out
    voice = synthetic_voice(secret, language)
    level = _rms(np.concatenate([y[a:b] for a, b, _ in timing]))
    for k, (a, b, text) in enumerate(timing):
        if cancel():
            break
        v = tts.Voice(_espeak_language(language, text), voice.variant, voice.rate, voice.pitch, voice.range)
        speech, tsr = tts.synthesize(text, v)
        # one re-synthesis at a better speaking rate keeps the stretch small (it sounds more natural)
        ratio = (len(speech) / tsr) / max((b - a) / sr, 0.05)
        if not 0.8 < ratio < 1.25:
            rate = int(np.clip(v.rate * ratio, 80, 450))
            speech, tsr = tts.synthesize(text, tts.Voice(v.language, v.variant, rate, v.pitch, v.range))
        speech = _trim(speech, tsr)
        piece = stretch(_resample(speech, tsr, sr), sr, b - a)
        _place(out, piece * (level / max(_rms(piece), 1e-6)), a, sr)
        progress(0.3 + 0.7 * (k + 1) / len(timing))
    return out


def _trim(y: np.ndarray, sr: int) -> np.ndarray:
    """Cut eSpeak's leading and trailing silence so the words fill their slot."""
    nz = np.flatnonzero(np.abs(y) > 0.01)
    return y[max(0, nz[0] - sr // 100) : nz[-1] + sr // 100] if len(nz) else y


# ------------------------------------------------------------------ double
def _quiet_point(y: np.ndarray, sr: int, at: int, search: float = 0.25) -> int:
    """The quietest 10 ms frame within ``search`` seconds of ``at`` (a cut that does not split a word)."""
    hop = int(FRAME * sr)
    lo, hi = max(0, at - int(search * sr)), min(len(y), at + int(search * sr))
    n = (hi - lo) // hop
    if n < 2:
        return at
    e = np.sum(y[lo : lo + n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1)
    return lo + int(np.argmin(e)) * hop + hop // 2


def fit_double(orig: np.ndarray, double: np.ndarray, sr: int, progress: Callable[[float], None] | None = None) -> np.ndarray:
    """Fit a second person's reading of the script to the timing of the original.

    Her speech stretches are found; the double's speech (pauses removed) is cut
    at quiet points into as many pieces, in proportion to the length of hers,
    and each piece is stretched into the place of the matching stretch.
    """
    progress = progress or (lambda f: None)
    mine = speech_regions(orig, sr)
    theirs = speech_regions(double, sr)
    out = np.zeros(len(orig), np.float32)
    if not mine:
        return out
    if not theirs:
        raise ReplaceError("No speech was found in the second person's recording.")
    stream = np.concatenate([double[a:b] for a, b in theirs])
    lens = np.array([b - a for a, b in mine], float)
    cuts = np.concatenate([[0], np.cumsum(lens)]) / lens.sum() * len(stream)
    cuts = [0] + [_quiet_point(stream, sr, int(c)) for c in cuts[1:-1]] + [len(stream)]
    level = _rms(np.concatenate([orig[a:b] for a, b in mine]))
    for k, (a, b) in enumerate(mine):
        piece = stretch(stream[cuts[k] : cuts[k + 1]], sr, b - a)
        _place(out, piece * (level / max(_rms(piece), 1e-6)), a, sr)
        progress((k + 1) / len(mine))
    return out
