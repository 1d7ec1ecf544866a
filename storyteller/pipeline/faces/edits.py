"""Corrections by hand: reading them, removing detections inside a region, following a drawn box back and forward."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from storyteller.errors import CancelFn, Cancelled
from storyteller.pipeline.faces.boxes import FaceBox
from storyteller.pipeline.faces.result import Edits, FaceError, ManualBox


def load_edits(path: str | Path) -> Edits:
    """Read hand corrections from a JSON file: ``{"add": [...], "remove": [...]}``.

    Each entry is ``{"box": [x1, y1, x2, y2], "frame": N, "until": M}`` (frame and
    until optional). A saved :class:`FaceResult` JSON works too, so a re-run keeps
    the corrections made before.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FaceError(f"The boxes file {p.name} was not found.") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FaceError(f"The boxes file {p.name} is not valid JSON.") from exc
    if isinstance(data, dict) and "edits" in data:
        data = data["edits"]
    if not isinstance(data, dict):
        raise FaceError(f"The boxes file {p.name} must hold an object with 'add' and/or 'remove' lists.")

    def parse(items, what):
        out = []
        for it in items or []:
            try:
                box = tuple(float(v) for v in it["box"])
                if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
                    raise ValueError
                until = it.get("until")
                out.append(ManualBox(box, int(it.get("frame", 0)), None if until is None else int(until)))
            except (KeyError, TypeError, ValueError) as exc:
                raise FaceError(f"A box in {p.name} ('{what}') is not [x1, y1, x2, y2] with x2 > x1 and y2 > y1.") from exc
        return tuple(out)

    return Edits(parse(data.get("add"), "add"), parse(data.get("remove"), "remove"))


# ----------------------------------------------------------------- helpers
def removed(box, idx: int, edits: Edits) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for r in edits.remove:
        if r.frame <= idx and (r.until is None or idx <= r.until) or (r.frame == 0 and r.until is None):
            if r.box[0] <= cx <= r.box[2] and r.box[1] <= cy <= r.box[3]:
                return True
    return False


def _follow(gray: np.ndarray, cur: np.ndarray, tpl: np.ndarray) -> np.ndarray | None:
    """Where the patch ``tpl`` (last seen at ``cur``) is in ``gray``: searched within one
    box size around it by normalised cross-correlation; None when nothing matches well."""
    H, W = gray.shape
    bw, bh = tpl.shape[1], tpl.shape[0]
    sx1, sy1 = int(max(0, cur[0] - bw)), int(max(0, cur[1] - bh))
    sx2, sy2 = int(min(W, cur[2] + bw)), int(min(H, cur[3] + bh))
    win = gray[sy1:sy2, sx1:sx2]
    if win.shape[0] < bh or win.shape[1] < bw:
        return None
    _, score, _, loc = cv2.minMaxLoc(cv2.matchTemplate(win, tpl, cv2.TM_CCOEFF_NORMED))
    if score < 0.5:
        return None
    return np.array([sx1 + loc[0], sy1 + loc[1], sx1 + loc[0] + bw, sy1 + loc[1] + bh], np.float32)


def _patch(gray: np.ndarray, box) -> np.ndarray | None:
    H, W = gray.shape
    x1, y1, x2, y2 = (int(v) for v in np.clip(np.asarray(box, np.float32), 0, [W, H, W, H]))
    return gray[y1:y2, x1:x2].copy() if x2 - x1 >= 4 and y2 - y1 >= 4 else None


LOST_AFTER = 12  # frames without a match before a hand-drawn region stops being followed
_BACK_SECONDS = 10.0  # how far back a hand-drawn region is followed


def track_back(
    frames: Iterable[np.ndarray], add: tuple[ManualBox, ...], fps: float, cancel: CancelFn = lambda: False
) -> dict[int, dict[int, np.ndarray]]:
    """Follow each hand-drawn region back from the frame it was drawn on.

    A person marks a face on the frame where she noticed it was missed; it was
    usually there before. ``frames`` are the video's frames from the start; only
    the last ``_BACK_SECONDS`` before each drawn frame are kept (in grey, so memory
    stays bounded). Returns ``{region number: {frame index: box}}`` for the frames
    before each region's own frame, as far back as it can be followed.
    """
    todo = {n: m for n, m in enumerate(add) if m.frame > 0}
    if not todo:
        return {}
    keep = max(1, int(_BACK_SECONDS * fps))
    last = max(m.frame for m in todo.values())
    recent: deque[np.ndarray] = deque(maxlen=keep)
    out: dict[int, dict[int, np.ndarray]] = {}
    for idx, frame in enumerate(frames):
        if idx % 16 == 0 and cancel():
            raise Cancelled("Stopped on request.")
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        for n, m in todo.items():
            if m.frame != idx:
                continue
            cur = np.array(m.box, np.float32)
            tpl = _patch(gray, cur)
            path: dict[int, np.ndarray] = {}
            misses = 0
            for back, g in enumerate(reversed(recent), 1):
                found = None if tpl is None else _follow(g, cur, tpl)
                misses = 0 if found is not None else misses + 1
                if misses > LOST_AFTER:
                    break
                cur = found if found is not None else cur
                path[idx - back] = cur
            out[n] = path
        if idx >= last:
            break
        recent.append(gray)
    return out


class ManualBoxes:
    """Boxes drawn by hand: followed back from the frame they were drawn on (see
    :func:`track_back`), and forward by template matching until ``until`` (or,
    without ``until``, until the region can no longer be found)."""

    def __init__(self, add: tuple[ManualBox, ...], before: dict[int, dict[int, np.ndarray]] | None = None):
        self.items = [[m, None, None, 0] for m in add]  # ManualBox, current box, template, misses
        self.before = before or {}

    def boxes(self, idx: int, frame: np.ndarray) -> list[FaceBox]:
        out = []
        gray = None
        for n, it in enumerate(self.items):
            m, cur, tpl, misses = it
            if idx < m.frame:
                back = self.before.get(n, {}).get(idx)
                if back is not None:
                    out.append(FaceBox(*map(float, back), 1.0, 10000 + n, "manual"))
                continue
            if m.until is not None and idx > m.until:
                continue
            if gray is None:
                gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
            if cur is None:  # first frame: the box as drawn
                cur = np.array(m.box, np.float32)
                tpl = _patch(gray, cur)
            elif tpl is not None:
                found = _follow(gray, cur, tpl)
                misses = 0 if found is not None else misses + 1
                cur = found if found is not None else cur
            if m.until is None and misses > LOST_AFTER:
                continue
            it[1:] = [cur, tpl, misses]
            out.append(FaceBox(*map(float, cur), 1.0, 10000 + n, "manual"))
        return out
