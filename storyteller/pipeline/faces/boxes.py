"""One box type for every face found, tracked, drawn by hand or added by the check, and the geometry between boxes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# How a box was found.
SOURCES = ("detected", "region", "rotated", "interpolated", "held", "lead", "manual", "post-check")


@dataclass(frozen=True)
class FaceBox:
    """One mask on one frame, in output pixels. ``source`` says how it was found (one of ``SOURCES``)."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    track: int
    source: str

    @property
    def xyxy(self) -> np.ndarray:
        return np.array([self.x1, self.y1, self.x2, self.y2], np.float32)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, >=4) and (M, >=4) boxes."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda m: (m[:, 2] - m[:, 0]) * (m[:, 3] - m[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-6)


def size(box) -> float:
    return float(max(box[2] - box[0], box[3] - box[1]))


def centre_dist(a, b) -> float:
    return float(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2))


def grow(box, factor: float, extra: float = 0.0) -> np.ndarray:
    """``box`` scaled about its centre by ``factor`` plus ``extra`` pixels each side."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) / 2 * factor + extra, (box[3] - box[1]) / 2 * factor + extra
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh], np.float32)


def match(pred: np.ndarray, dets: np.ndarray, min_iou: float = 0.2) -> list[tuple[int, int]]:
    """Greedy one-to-one matching by IoU, then by centre distance for fast movers."""
    pairs: list[tuple[int, int]] = []
    if not len(pred) or not len(dets):
        return pairs
    m = iou_matrix(pred, dets)
    used_t, used_d = set(), set()
    for flat in np.argsort(-m, axis=None):
        t, d = divmod(int(flat), m.shape[1])
        if m[t, d] < min_iou:
            break
        if t not in used_t and d not in used_d:
            pairs.append((t, d))
            used_t.add(t)
            used_d.add(d)
    # A fast face overlaps its prediction little: accept a near centre of similar size.
    for t in range(len(pred)):
        if t in used_t:
            continue
        best, best_d = None, None
        for d in range(len(dets)):
            if d in used_d:
                continue
            dist = centre_dist(pred[t], dets[d])
            ratio = size(dets[d]) / max(1.0, size(pred[t]))
            if dist < 0.9 * size(pred[t]) and 0.5 < ratio < 2.0 and (best_d is None or dist < best_d):
                best, best_d = d, dist
        if best is not None:
            pairs.append((t, best))
            used_t.add(t)
            used_d.add(best)
    return pairs
