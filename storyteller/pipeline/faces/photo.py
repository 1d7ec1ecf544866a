"""The photo pass: EXIF orientation applied, faces searched at full resolution (and 2x around
the small faces of a group photo), masked, checked again around every mask, pixels only written."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from storyteller.errors import Cancelled
from storyteller.fsutil import atomic_output
from storyteller.pipeline.faces import masks as M
from storyteller.pipeline.faces.boxes import FaceBox
from storyteller.pipeline.faces.detect import FaceDetector, detector, nms
from storyteller.pipeline.faces.edits import removed
from storyteller.pipeline.faces.result import (
    BLUR_WARNING,
    CHECK_THRESHOLD,
    CheckHit,
    FaceError,
    FaceResult,
    FacesRemainError,
    FrameFaces,
)
from storyteller.pipeline.media.images import ImageError, load_photo


def detect_photo(det: FaceDetector, rgb: np.ndarray, threshold: float) -> np.ndarray:
    """All faces in a still: one full-resolution pass (in tiles past about 4 MP), a
    scaled-down whole-picture pass for very large pictures (very big faces), and a 2x
    look around the small faces of a group photo (more small faces stand beside them),
    or over the whole picture when nothing was found at all."""
    h, w = rgb.shape[:2]
    long = max(h, w)
    passes = [det.tiled(rgb, threshold, 1.0, tile=1280)]
    if long > 2048:  # very big faces in a very big picture: also a whole-picture look, scaled down
        passes.append(det.run(rgb, threshold, 1280 / long))
    boxes = np.concatenate([p[:, :5] for p in passes])
    if long <= 1600:
        sizes = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        small = boxes[sizes < 48]
        if not len(boxes):
            boxes = det.tiled(rgb, threshold, 2.0, tile=1280)[:, :5]
        elif len(small):
            # The band of the picture where the small faces are, with a margin of two face
            # sizes: a crowd's other small faces stand there, not in the sky or on the road.
            pad = 2 * float((small[:, 3] - small[:, 1]).max())
            x1, y1 = int(max(0, small[:, 0].min() - pad)), int(max(0, small[:, 1].min() - pad))
            x2, y2 = int(min(w, small[:, 2].max() + pad)), int(min(h, small[:, 3].max() + pad))
            more = det.run(rgb[y1:y2, x1:x2], threshold, 2.0)
            more[:, [0, 2]] += x1
            more[:, [1, 3]] += y1
            boxes = np.concatenate([boxes, more])
    return nms(boxes) if len(boxes) > 1 else boxes


def changed_regions(rects, shape_hw, margin: float = 0.5) -> list[tuple[int, int, int, int]]:
    """Rectangles (x1, y1, x2, y2) around the masked areas ``rects``, each grown by
    ``margin`` of its size so the detector sees a mask with its surroundings; touching
    ones are merged."""
    H, W = shape_hw
    canvas = np.zeros((H, W), np.uint8)
    for X1, Y1, X2, Y2 in rects:
        mx, my = int((X2 - X1) * margin) + 8, int((Y2 - Y1) * margin) + 8
        canvas[max(0, Y1 - my) : min(H, Y2 + my), max(0, X1 - mx) : min(W, X2 + mx)] = 1
    n, _lab, st, _c = cv2.connectedComponentsWithStats(canvas, connectivity=4)
    return [(int(x), int(y), int(x + bw), int(y + bh)) for x, y, bw, bh, _a in st[1:n]]


def _save_photo(rgb: np.ndarray, out: Path) -> None:
    from PIL import Image

    # A fresh image from pixels carries no EXIF, GPS, XMP, ICC profile or comment.
    img = Image.fromarray(np.ascontiguousarray(rgb))
    with atomic_output(out) as tmp:
        if out.suffix.lower() == ".png":
            img.save(tmp, format="PNG", optimize=False)
        else:
            img.save(tmp, format="JPEG", quality=92, subsampling=0)


def anonymize_photo(inp: Path, out: Path, *, mask, mask_scale, color, edits, reviewed, whole_frame, progress, cancel) -> FaceResult:
    """Photo path of :func:`anonymize`."""
    t0 = time.monotonic()
    try:
        rgb = load_photo(inp)
    except ImageError as exc:
        raise FaceError(str(exc)) from exc
    h, w = rgb.shape[:2]
    det = detector()
    warn = [BLUR_WARNING] if mask == "blur" and whole_frame is None else []
    progress(0.05)
    if whole_frame:
        masked = M.whole_frame(rgb, whole_frame)
        boxes: list[FaceBox] = []
        hits: list[CheckHit] = []
    else:
        # At the check's threshold: the post-check then only needs to look where masks changed the picture.
        found = detect_photo(det, rgb, CHECK_THRESHOLD)
        progress(0.5)
        if cancel():
            raise Cancelled("Stopped on request.")
        boxes = [FaceBox(*map(float, b[:5]), i + 1, "detected") for i, b in enumerate(found) if not removed(b, 0, edits)]
        boxes += [FaceBox(*m.box, 1.0, 1000 + i, "manual") for i, m in enumerate(edits.add)]
        masked = rgb.copy()
        M.draw_masks(masked, [(b.x1, b.y1, b.x2, b.y2) for b in boxes], mask, mask_scale, color, ref=rgb)
        hits = _post_check_photo(det, masked, boxes, edits, mask_scale, color)
    progress(0.9)
    review = "post-check" if hits else ("low-confidence" if any(b.score < 0.5 for b in boxes) else None)
    failed = [h for h in hits if h.action.startswith("left")]
    if failed and not reviewed:
        raise FacesRemainError(
            f"Faces may remain: the check still finds {len(failed)} face(s) where boxes were removed by hand. "
            "Look at the picture, then run again with the reviewed option."
        )
    _save_photo(masked, out)
    progress(1.0)
    frame = FrameFaces(0, 0.0, tuple(boxes), review)
    return FaceResult(
        inp.name,
        str(out),
        "photo",
        w,
        h,
        None,
        mask,
        (frame,),
        (0,) if review else (),
        tuple(hits),
        edits,
        reviewed,
        whole_frame,
        "none",
        tuple(warn),
        time.monotonic() - t0,
        {"faces": len(boxes)},
    )


def _post_check_photo(det, masked, boxes, edits, mask_scale, color) -> list[CheckHit]:
    """Search the masked photo again where the picture changed (around every mask:
    elsewhere the first pass already looked, at this same threshold), cover what is still
    found (solid, whatever the mask: a blur the detector still sees through is not
    enough), and say what was done."""
    hits: list[CheckHit] = []
    H, W = masked.shape[:2]
    rects = [M.mask_rect((b.x1, b.y1, b.x2, b.y2), (H, W), mask_scale)[:4] for b in boxes]
    rects += [tuple(int(v) for v in r.box) for r in edits.remove]  # a face left there by hand must be seen
    found = []
    for x1, y1, x2, y2 in changed_regions(rects, (H, W)):
        # A big face needs no full resolution to be seen: check its area scaled so the
        # smallest face there is about 80 px (the first pass looked at full resolution).
        inside = [b.y2 - b.y1 for b in boxes if x1 <= (b.x1 + b.x2) / 2 <= x2 and y1 <= (b.y1 + b.y2) / 2 <= y2]
        scale = min(1.0, 80 / max(1.0, min(inside, default=80)))
        f = det.tiled(masked[y1:y2, x1:x2], CHECK_THRESHOLD, scale, tile=1280)
        f[:, [0, 2]] += x1
        f[:, [1, 3]] += y1
        found.append(f)
    found = nms(np.concatenate(found)) if found else []
    for h in found:
        box = tuple(float(v) for v in h[:4])
        if removed(h, 0, edits):
            hits.append(CheckHit(0, box, float(h[4]), "left: removed by hand"))
            continue
        M.draw_mask(masked, h, "solid", mask_scale, color)
        boxes.append(FaceBox(*box, float(h[4]), 2000 + len(hits), "post-check"))
        hits.append(CheckHit(0, box, float(h[4]), "covered"))
    return hits
