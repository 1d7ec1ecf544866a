"""A second person's reading of her script (``double``), fitted to her timing.

The double's reading is cut into pieces, each time-stretched (WORLD vocoder,
pitch kept) into the time she spoke the same words, so subtitles made from her
recording still fit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyworld

from storyteller.errors import ProgressFn
from storyteller.pipeline.media.audio import speech_regions
from storyteller.pipeline.voice.replace import ReplaceError, _place, _rms

FRAME = 0.010


def stretch(y: np.ndarray, sr: int, length: int) -> np.ndarray:
    """Time-stretch ``y`` to exactly ``length`` samples with the pitch kept (WORLD)."""
    return warp(y, sr, [0, len(y)], [0, length])


def warp(y: np.ndarray, sr: int, marks: Sequence[int], targets: Sequence[int]) -> np.ndarray:
    """Move each sample position ``marks[i]`` of ``y`` to ``targets[i]`` (both rising), pitch kept (WORLD).

    Between marks time runs evenly, so a word of the new voice fills exactly the
    time she took for the same word. The result has ``targets[-1] - targets[0]`` samples.
    """
    length = int(targets[-1] - targets[0])
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
    out_time = targets[0] + np.arange(frames) * (fp / 1000 * sr)
    src = np.clip(np.interp(out_time, targets, marks) / sr * 1000 / fp, 0, len(f0) - 1)
    near = np.round(src).astype(int)  # nearest frame for F0 keeps voiced/unvoiced edges sharp
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, len(f0) - 1)
    w = (src - i0)[:, None]
    sp2 = np.exp(np.log(sp[i0] + 1e-16) * (1 - w) + np.log(sp[i1] + 1e-16) * w)
    ap2 = ap[i0] * (1 - w) + ap[i1] * w
    out = pyworld.synthesize(np.ascontiguousarray(f0[near]), np.ascontiguousarray(sp2), np.ascontiguousarray(ap2), sr, fp)
    out = out[:length] if len(out) >= length else np.pad(out, (0, length - len(out)))
    return out.astype(np.float32)


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
