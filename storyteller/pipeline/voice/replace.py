"""Replace her voice entirely: a synthetic voice (``synthetic``) or a second person (``double``).

Both keep the story's timing: the new speech is cut into pieces, and each piece
is time-stretched (WORLD vocoder, pitch kept) into the time she spoke the same
words, so subtitles made from her recording still fit.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pyworld

from storyteller.errors import CancelFn, ProgressFn, UserError
from storyteller.pipeline.media.audio import speech_regions
from storyteller.pipeline.speech.align import spread_over
from storyteller.pipeline.speech.transcribe import load_model
from storyteller.pipeline.voice import tts
from storyteller.pipeline.voice.secret import secret_rng

FRAME = 0.010


class ReplaceError(UserError):
    """The replacement voice could not be made; the message says why."""


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
    """Spread the script's sentences over her speech by length (see ``align.spread_over``)."""
    sentences = split_sentences(script)
    spans = spread_over([len(x) for x in sentences], regions)
    return [(int(a), int(b), x) for (a, b), x in zip(spans, sentences)]


def transcript_timing(y: np.ndarray, sr: int, language: str) -> list[tuple[int, int, str]]:
    """Her words and their times from the installed Whisper model (offline, loaded once per process)."""
    model, _info = load_model()
    segments, _ = model.transcribe(np.asarray(y, np.float32), language=language, beam_size=1, vad_filter=False)
    return [(int(s.start * sr), int(s.end * sr), s.text.strip()) for s in segments if s.text.strip()]


def synthetic_voice(secret) -> tts.Voice:
    """The story's synthetic voice: a secret blend of two of the shipped voices."""
    rng = secret_rng(secret, "synthetic")
    first, second = rng.choice(tts.VOICES, size=2, replace=False)
    return tts.Voice(str(first), str(second), mix=float(rng.uniform(0.0, 0.5)))


def _espeak_language(language: str, text: str) -> str:
    # Pakistani Punjabi is written in Shahmukhi (Arabic script); eSpeak's pa reads Gurmukhi, so use the Urdu voice
    if language == "pa" and re.search(r"[\u0600-\u06FF]", text):
        return "ur"
    return language


def synthetic(
    y: np.ndarray,
    sr: int,
    secret,
    *,
    script: str | None = None,
    language: str = "en",
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> np.ndarray:
    """Her words spoken by a synthetic voice, each piece fitted into the time she took."""
    progress = progress or (lambda f: None)
    cancel = cancel or (lambda: False)
    if not tts.language_supported(language):
        raise ReplaceError(f"There is no offline synthetic voice for the language {language!r}. Use 'disguise' instead.")
    if script is not None and script.strip():
        timing = script_timing(script, speech_regions(y, sr))
    else:
        timing = transcript_timing(y, sr, language)
    progress(0.3)
    out = np.zeros(len(y), np.float32)
    if not timing:
        return out  # no speech found: silence in, silence out
    voice = synthetic_voice(secret)
    level = _rms(np.concatenate([y[a:b] for a, b, _ in timing]))
    for k, (a, b, text) in enumerate(timing):
        if cancel():
            break
        spoken = _espeak_language(language, text)
        speech, tsr = tts.synthesize(text, spoken, voice)
        # one re-synthesis at a better speaking rate keeps the stretch small (it sounds more natural)
        ratio = (len(speech) / tsr) / max((b - a) / sr, 0.05)
        if not 0.8 < ratio < 1.25:
            paced = replace(voice, speed=float(np.clip(voice.speed * ratio, 0.6, 1.8)))
            speech, tsr = tts.synthesize(text, spoken, paced)
        piece = stretch(_resample(speech, tsr, sr), sr, b - a)
        _place(out, piece * (level / max(_rms(piece), 1e-6)), a, sr)
        progress(0.3 + 0.7 * (k + 1) / len(timing))
    return out


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


def fit_double(orig: np.ndarray, double: np.ndarray, sr: int, progress: ProgressFn | None = None) -> np.ndarray:
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
