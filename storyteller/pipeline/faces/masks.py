"""Drawing face masks and whole-frame fallbacks onto RGB frames (in place).

A face box from the detector is tight around brow, eyes and chin. The mask is a
padded box around it, shifted up a little and made taller than wide, so hair, ears
and the jaw line are covered too; ``mask_scale`` grows it further.

The box has square corners on purpose: a flat oval (or a rounded box) framed by hair
and shoulders is what a face detector reads as a head, a square box is not
(measured: see ``tests/bench/bench_faces.py``). An ellipse (``shape="ellipse"``) remains for
anyone who wants it; the post-check still covers what it finds. Three fills:

- ``solid``: one flat colour (the story's palette). Cannot be undone. The default.
- ``mosaic``: four large blocks across the mask. Large blocks cannot be undone.
- ``blur``: a strong blur. Blur can be partly reversed, so callers warn about it.

A solid fill whose colour happens to match the face (a grey fill over a grey
face) would look untouched; then a fallback colour is used instead (never a
skin tone: a light oval in dark hair still reads as a face).
"""

from __future__ import annotations

import cv2
import numpy as np

MASKS = ("solid", "mosaic", "blur")
SHAPES = ("box", "ellipse")
WHOLE_FRAME = ("blur", "pixelate", "silhouette")
# Deep teal and warm cream: far from every skin tone and from each other.
DEFAULT_COLOR = (38, 70, 83)
ALT_COLOR = (233, 216, 166)
# Half-extents as multiples of the half box: wide enough for ears, tall for hair.
_AX_W, _AX_H, _LIFT = 1.75, 1.9, 0.1


# Fallback fills, in order of preference: none is skin-like, because a light skin-toned
# oval framed by dark hair is what a face detector (and a viewer) reads as a face.
_FALLBACKS = ((120, 45, 130), (50, 90, 170), (175, 195, 220), ALT_COLOR)


def _fill_for(face_mean: np.ndarray, color) -> tuple[int, int, int]:
    """The palette colour, unless it is so close to the face's own colour that the mask
    would hardly change it; then the first fallback that differs enough (or the most different)."""
    options = (tuple(color), *_FALLBACKS)
    dist = [float(np.abs(face_mean - np.array(c)).mean()) for c in options]
    for c, d in zip(options, dist):
        if d >= 45:
            return c
    return options[int(np.argmax(dist))]


def mask_rect(box, shape_hw, mask_scale: float = 1.0) -> tuple[int, int, int, int, float, float, float, float]:
    """Pixel rectangle (clipped) and ellipse centre/axes that a mask over ``box`` covers."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    w, h = max(1.0, x2 - x1), max(1.0, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - _LIFT * h
    ax, ay = w / 2 * _AX_W * mask_scale + 1, h / 2 * _AX_H * mask_scale + 1
    H, W = shape_hw
    X1, Y1 = int(max(0, np.floor(cx - ax))), int(max(0, np.floor(cy - ay)))
    X2, Y2 = int(min(W, np.ceil(cx + ax) + 1)), int(min(H, np.ceil(cy + ay) + 1))
    return X1, Y1, X2, Y2, cx, cy, ax, ay


def _stencil(X1, Y1, X2, Y2, cx, cy, ax, ay, shape: str) -> np.ndarray:
    if shape == "box":
        return np.full((Y2 - Y1, X2 - X1), 255, np.uint8)
    st = np.zeros((Y2 - Y1, X2 - X1), np.uint8)
    # Sub-pixel ellipse (shift=2) so tiny faces still get a round mask.
    c = (round((cx - X1) * 4), round((cy - Y1) * 4))
    cv2.ellipse(st, c, (max(1, round(ax * 4)), max(1, round(ay * 4))), 0, 0, 360, 255, -1, cv2.LINE_8, 2)
    return st


def draw_mask(
    frame: np.ndarray,
    box,
    mask: str = "solid",
    mask_scale: float = 1.0,
    color=DEFAULT_COLOR,
    shape: str = "box",
    ref: np.ndarray | None = None,
) -> None:
    """Cover one face box on an RGB uint8 ``frame`` in place.

    ``ref`` is the unmasked frame, to judge the face's colour by when masks overlap
    (else an earlier mask's colour would pick a different fill and leave rings)."""
    if shape not in SHAPES:
        raise ValueError(f"Unknown mask shape '{shape}'. Choose one of: {', '.join(SHAPES)}.")
    X1, Y1, X2, Y2, cx, cy, ax, ay = mask_rect(box, frame.shape[:2], mask_scale)
    if X2 <= X1 or Y2 <= Y1:
        return
    roi = frame[Y1:Y2, X1:X2]
    if mask == "solid":
        fill = tuple(int(c) for c in color)
        # The face's own mean colour (its box, not the mask) decides if the fill would vanish into it.
        x1, y1, x2, y2 = (int(v) for v in box[:4])
        face = (frame if ref is None else ref)[max(0, y1) : max(y1 + 1, y2), max(0, x1) : max(x1 + 1, x2)]
        if face.size:
            fill = _fill_for(np.asarray(cv2.mean(face)[:3]), fill)
        if shape == "box":
            roi[:] = fill
        else:  # straight onto the frame: no stencil needed
            cv2.ellipse(
                frame, (round(cx * 4), round(cy * 4)), (max(1, round(ax * 4)), max(1, round(ay * 4))), 0, 0, 360, fill, -1, cv2.LINE_8, 2
            )
        return
    st = _stencil(X1, Y1, X2, Y2, cx, cy, ax, ay, shape).astype(bool)
    h, w = roi.shape[:2]
    if mask == "mosaic":
        # Four blocks across the mask (about two across the face), never smaller than 8 px:
        # smaller blocks leave a face's light and shade, and can be matched.
        block = max(8, int(2 * ax / 4))
        small = cv2.resize(roi, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    elif mask == "blur":
        k = max(3, int(max(ax, ay)) | 1)
        out = cv2.GaussianBlur(cv2.blur(roi, (k, k)), (k, k), 0)
    else:
        raise ValueError(f"Unknown mask '{mask}'. Choose one of: {', '.join(MASKS)}.")
    roi[st] = out[st]


def whole_frame(frame: np.ndarray, mode: str) -> np.ndarray:
    """The whole-frame fallback: nothing recognisable is left anywhere in the picture."""
    h, w = frame.shape[:2]
    if mode == "pixelate":
        # 24 blocks across: scenes and shapes remain, faces do not.
        bw = max(1, w // 24)
        small = cv2.resize(frame, (max(1, w // bw), max(1, h // bw)), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    if mode == "blur":
        small = cv2.resize(frame, (max(1, w // 16), max(1, h // 16)), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), 2.5)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if mode == "silhouette":
        # Two flat tones from a blurred brightness map: outlines of people, no features.
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        gray = cv2.GaussianBlur(gray, (0, 0), max(2.0, w / 200))
        _, fg = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        out = np.empty_like(frame)
        out[:] = ALT_COLOR
        out[fg == 0] = DEFAULT_COLOR
        return out
    raise ValueError(f"Unknown whole-frame mode '{mode}'. Choose one of: {', '.join(WHOLE_FRAME)}.")


def draw_masks(frame: np.ndarray, boxes, mask: str, mask_scale: float, color, ref: np.ndarray | None = None) -> None:
    for b in boxes:
        draw_mask(frame, b, mask, mask_scale, color, ref=ref)
