"""Scene cuts: a jump in a small grey thumbnail ends the scene, so tracks are not carried across it."""

from __future__ import annotations

import cv2
import numpy as np


def thumb(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A shot's fingerprint: a 16x9 grey thumbnail and a coarse colour histogram."""
    small = cv2.resize(frame, (64, 36), interpolation=cv2.INTER_AREA)
    grey = cv2.resize(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (16, 9), interpolation=cv2.INTER_AREA).astype(np.float32)
    hist = cv2.calcHist([small], [0, 1, 2], None, [4, 4, 4], [0, 256] * 3).ravel()
    return grey, hist / max(1.0, float(hist.sum()))


def thumb_diff(prev, cur) -> tuple[float, float]:
    """Picture change (mean absolute difference of the thumbnails after removing the mean
    brightness change, so a fade is not a cut) and colour change (histogram L1, 0..2)."""
    d = float(np.abs((cur[0] - cur[0].mean()) - (prev[0] - prev[0].mean())).mean())
    return d, float(np.abs(cur[1] - prev[1]).sum())


def is_cut(diff: tuple[float, float], recent: list[float], floor: float = 16.0) -> bool:
    """A cut: the picture jumps far more than it has been changing from frame to frame
    (a fast pan or roll changes every frame; a cut changes one frame far more), or it
    jumps less but the colours change too (rolling and zooming keep the colours)."""
    d, h = diff
    if len(recent) < 3:  # too little history to tell a cut from a fast camera
        return d > 3 * floor or (d > floor and h > 0.3)
    m = float(np.median(recent))
    return d > floor and (d > 3.0 * m or (d > 2.0 * m and h > 0.3))
