"""Pan and zoom (Ken Burns) as a pure function of time: one sub-pixel affine warp per frame.

The photo was framed once onto a canvas with the video's aspect ratio (see
media/images.py). Each frame crops a rectangle of that canvas and scales it to the
output with a single ``cv2.warpAffine``: the crop position and size are floats, so
slow moves glide instead of stepping a pixel at a time (the jitter of ffmpeg's
``zoompan`` and of moviepy's ``resized(lambda t)``). Zoom is interpolated in log
space so it feels steady, and eased at both ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from storyteller.pipeline.render.story import Motion, Rect
from storyteller.pipeline.render.yuv import Frame, Planes, warp_planes

FULL = Rect(0.0, 0.0, 1.0, 1.0)


@dataclass(frozen=True)
class View:
    """A crop of the canvas with the output's shape: centre (cx, cy) and size s, as fractions."""

    cx: float
    cy: float
    s: float


def view_of(rect: Rect) -> View:
    """The smallest output-shaped view containing ``rect``, kept inside the canvas."""
    s = min(1.0, max(rect.w, rect.h))
    cx = min(max(rect.x + rect.w / 2, s / 2), 1 - s / 2)
    cy = min(max(rect.y + rect.h / 2, s / 2), 1 - s / 2)
    return View(cx, cy, s)


# Gentle moves, varied from scene to scene: zoom in, pan, zoom out, drift up.
_AUTO = (
    (Rect(0.0, 0.0, 1.0, 1.0), Rect(0.08, 0.06, 0.84, 0.84)),
    (Rect(0.0, 0.06, 0.88, 0.88), Rect(0.12, 0.06, 0.88, 0.88)),
    (Rect(0.07, 0.05, 0.86, 0.86), Rect(0.0, 0.0, 1.0, 1.0)),
    (Rect(0.12, 0.1, 0.88, 0.88), Rect(0.0, 0.04, 0.88, 0.88)),
    (Rect(0.04, 0.12, 0.88, 0.88), Rect(0.06, 0.0, 0.86, 0.86)),
)


def resolve_motion(motion: Motion, index: int) -> tuple[View, View]:
    """Start and end views for a scene's motion setting (``index`` varies the automatic ones)."""
    if motion.kind == "none":
        return view_of(FULL), view_of(FULL)
    if motion.kind == "custom" and motion.start and motion.end:
        return view_of(motion.start), view_of(motion.end)
    a, b = _AUTO[index % len(_AUTO)]
    return view_of(a), view_of(b)


def ease(u: float) -> float:
    """Smooth start and stop (cosine ease-in-out) on 0..1."""
    u = min(1.0, max(0.0, u))
    return 0.5 - 0.5 * math.cos(math.pi * u)


def view_at(start: View, end: View, u: float) -> View:
    """The view a fraction ``u`` (0..1) of the way through the move."""
    e = ease(u)
    s = math.exp(math.log(start.s) * (1 - e) + math.log(end.s) * e)
    return View(start.cx + (end.cx - start.cx) * e, start.cy + (end.cy - start.cy) * e, s)


def prepare_canvas(framed_rgb, downscale: float) -> Planes:
    """The canvas as YUV planes, pre-filtered for sampling down by about ``downscale``.

    A bilinear warp that shrinks by more than 1x skips source pixels, so a hard edge
    would stall and then jump as the view glides (visible jitter). A light Gaussian
    blur first (sigma 0.6 x the shrink factor) band-limits the picture so every
    sub-pixel move shows.
    """
    import cv2

    sigma = 0.6 * max(1.0, downscale)
    # The border gives the fast resize path in yuv.warp_planes room to align sub-pixel offsets.
    return Planes.from_rgb(cv2.GaussianBlur(framed_rgb, (0, 0), sigmaX=sigma), pad=96)


def warp(canvas: Planes, view: View, out: Frame) -> None:
    """Crop ``view`` from the canvas and scale it into ``out`` in one sub-pixel warp per plane."""
    ch, cw = canvas.height, canvas.width
    x0 = (view.cx - view.s / 2) * cw
    y0 = (view.cy - view.s / 2) * ch
    warp_planes(canvas, out, view.s * cw / out.w, view.s * ch / out.h, x0, y0)
