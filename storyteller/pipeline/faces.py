"""Mask every face in a photo or a video, check the result, and keep the boxes as data.

``anonymize(inp, out, ...)`` is the one entry point. It never touches ``inp``;
``out`` appears whole or not at all (``atomic_output``). It returns a
:class:`FaceResult`: per-frame boxes (for the review strip in the web UI, frames
that need a look first), the post-check's findings, and warnings.

- **Photos**: EXIF orientation is applied, then pixels only are written: no EXIF,
  GPS, XMP, ICC profile or comment survives. Faces are searched at several scales,
  with 2x tiles for group photos of small faces.
- **Video**: decoded with PyAV (rotation flag applied, so the output is upright),
  tracked by :mod:`facetrack`, masked by :mod:`masks`, and piped as raw frames to
  x264 (or VP9 for .webm) through the project's one ffmpeg runner. Container and
  stream metadata are dropped. Sound is dropped unless asked for; kept sound must
  go through the voice disguise.
- **Post-check**: the detector runs again on the *masked* output at a lower
  threshold (every photo; sampled video frames, see ``anonymize_video``). A face
  it still finds is covered with a solid fill, tracked on, and reported (those
  frames come first for review). A face it finds where a person removed a box by hand
  makes the job fail with "faces may remain" unless ``reviewed=True``.
- **Manual corrections** (``edits``): boxes added by hand (tracked forward on
  video) and regions where detections are removed. They are part of the result,
  so passing the saved result back in (``--boxes``) keeps them on a re-run.
"""

from __future__ import annotations

import json
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from storyteller.fsutil import atomic_output
from storyteller.pipeline import masks as M
from storyteller.pipeline.facedetect import FaceDetector, detector, nms
from storyteller.pipeline.facetrack import Cancelled, FaceTracker, TrackBox, TrackerSettings, grow, iou_matrix

ProgressFn = Callable[[float], None]
CancelFn = Callable[[], bool]

PHOTO_EXT = (".jpg", ".jpeg", ".png")
VIDEO_EXT = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".gif", ".m4v")
VIDEO_OUT_EXT = (".mp4", ".mov", ".webm")
DETECT_THRESHOLD = 0.25
CHECK_THRESHOLD = 0.2
BLUR_WARNING = "Blur can be partly reversed; use a solid or mosaic mask for anything shared."
MAX_PHOTO_PIXELS = 80_000_000


class FaceError(ValueError):
    """The input or the options cannot be used; the message says why in plain words."""


class FacesRemainError(RuntimeError):
    """The post-check still sees faces in the output; a person must review it."""


class FacesCancelled(RuntimeError):
    """Stopped on request; nothing was written."""


# ----------------------------------------------------------------- data
@dataclass(frozen=True)
class FaceBox:
    """One mask on one frame, in output pixels. ``source`` says how it was found."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    track: int
    source: str


@dataclass(frozen=True)
class FrameFaces:
    """Everything masked on one frame; ``review`` names why a person should look, if so."""

    index: int
    time: float
    boxes: tuple[FaceBox, ...]
    review: str | None = None


@dataclass(frozen=True)
class CheckHit:
    """A face the post-check found in the masked output."""

    index: int
    box: tuple[float, float, float, float]
    score: float
    action: str  # "covered" (solid fill added) or "left: removed by hand"


@dataclass(frozen=True)
class ManualBox:
    """A region drawn by a person: ``frame`` (0 for photos) to ``until`` (None = as long as it can be tracked)."""

    box: tuple[float, float, float, float]
    frame: int = 0
    until: int | None = None


@dataclass(frozen=True)
class Edits:
    """Corrections by hand. ``add`` boxes are always masked; ``remove`` regions drop detections inside them."""

    add: tuple[ManualBox, ...] = ()
    remove: tuple[ManualBox, ...] = ()


@dataclass(frozen=True)
class FaceResult:
    input_name: str
    output: str
    kind: str  # "photo" or "video"
    width: int
    height: int
    fps: float | None
    mask: str
    frames: tuple[FrameFaces, ...]
    review_order: tuple[int, ...]  # frame indices a person should look at, most doubtful first
    check_hits: tuple[CheckHit, ...]
    edits: Edits
    reviewed: bool
    whole_frame: str | None
    audio: str  # "none", "dropped", "disguised"
    warnings: tuple[str, ...]
    seconds: float
    stats: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def face_count(self) -> int:
        return len({(f.index if self.kind == "photo" else 0, b.track) for f in self.frames for b in f.boxes})

    def to_dict(self) -> dict:
        d = asdict(self)
        d["edits"] = edits_to_dict(self.edits)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


def edits_to_dict(e: Edits) -> dict:
    f = lambda m: {k: v for k, v in {"box": list(m.box), "frame": m.frame, "until": m.until}.items() if v is not None}  # noqa: E731
    return {"add": [f(m) for m in e.add], "remove": [f(m) for m in e.remove]}


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
                raise FaceError(
                    f"A box in {p.name} ('{what}') is not [x1, y1, x2, y2] with x2 > x1 and y2 > y1."
                ) from exc
        return tuple(out)

    return Edits(parse(data.get("add"), "add"), parse(data.get("remove"), "remove"))


# ----------------------------------------------------------------- helpers
def _removed(box, idx: int, edits: Edits) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for r in edits.remove:
        if r.frame <= idx and (r.until is None or idx <= r.until) or (r.frame == 0 and r.until is None):
            if r.box[0] <= cx <= r.box[2] and r.box[1] <= cy <= r.box[3]:
                return True
    return False


def _draw(frame: np.ndarray, boxes, mask: str, mask_scale: float, color) -> None:
    for b in boxes:
        M.draw_mask(frame, b, mask, mask_scale, color)


def _validate(mask: str, mask_scale: float, whole_frame: str | None) -> None:
    if mask not in M.MASKS:
        raise FaceError(f"Unknown mask '{mask}'. Choose one of: {', '.join(M.MASKS)}.")
    if not 0.5 <= mask_scale <= 4.0:
        raise FaceError("The mask scale must be between 0.5 and 4.")
    if whole_frame is not None and whole_frame not in M.WHOLE_FRAME:
        raise FaceError(f"Unknown whole-frame mode '{whole_frame}'. Choose one of: {', '.join(M.WHOLE_FRAME)}.")


# ----------------------------------------------------------------- entry point
def anonymize(
    inp: str | Path,
    out: str | Path,
    *,
    mask: str = "solid",
    mask_scale: float = 1.0,
    color: tuple[int, int, int] = M.DEFAULT_COLOR,
    edits: Edits = Edits(),
    reviewed: bool = False,
    whole_frame: str | None = None,
    keep_audio: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> FaceResult:
    """Mask every face in the photo or video ``inp`` and write it to ``out``.

    Raises :class:`FaceError` for unusable input or options, :class:`FacesRemainError`
    when the post-check finds faces that a person removed by hand (unless
    ``reviewed``), and :class:`FacesCancelled` when ``cancel()`` returns True.
    """
    inp, out = Path(inp), Path(out)
    _validate(mask, mask_scale, whole_frame)
    if not inp.is_file():
        raise FaceError(f"File not found: {inp.name}")
    if inp.stat().st_size == 0:
        raise FaceError(f"The file {inp.name} is empty.")
    if out.exists() and out.resolve() == inp.resolve():
        raise FaceError("The output must be a new file: the original is never overwritten.")
    ext, oext = inp.suffix.lower(), out.suffix.lower()
    progress = progress or (lambda f: None)
    cancel = cancel or (lambda: False)
    opts = dict(mask=mask, mask_scale=mask_scale, color=tuple(int(c) for c in color), edits=edits,
                reviewed=reviewed, whole_frame=whole_frame, progress=progress, cancel=cancel)
    if ext in PHOTO_EXT:
        if oext not in PHOTO_EXT:
            raise FaceError(f"A photo must be saved as .jpg or .png, not '{oext or 'no extension'}'.")
        if keep_audio:
            raise FaceError("A photo has no sound to keep.")
        return anonymize_photo(inp, out, **opts)
    if ext in VIDEO_EXT:
        if oext not in VIDEO_OUT_EXT:
            raise FaceError(f"A video must be saved as .mp4, .mov or .webm, not '{oext or 'no extension'}'.")
        return anonymize_video(inp, out, keep_audio=keep_audio, **opts)
    raise FaceError(f"'{inp.name}' is not a supported photo or video (use .jpg, .png, .mp4, .mov or .webm).")


# ----------------------------------------------------------------- photos
def load_upright(path: Path) -> np.ndarray:
    """Decode a photo as upright 8-bit RGB (EXIF orientation applied, alpha flattened on white)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PHOTO_PIXELS:
                raise FaceError(f"The photo {path.name} is too large ({im.width}x{im.height}).")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                im = ImageOps.exif_transpose(im)
                im.load()
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, im)
            return np.ascontiguousarray(np.asarray(im.convert("RGB")))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, FaceError):
            raise
        raise FaceError(f"The file {path.name} is damaged or is not a photo.") from exc


def detect_photo(det: FaceDetector, rgb: np.ndarray, threshold: float) -> np.ndarray:
    """All faces in a still: a whole-picture pass (big faces), full resolution in
    tiles for large pictures, and 2x tiles when a group photo has small faces (any
    face under 48 px) or none were found at all."""
    h, w = rgb.shape[:2]
    long = max(h, w)
    passes = [det.run(rgb, threshold, min(1.0, 1280 / long))]
    if long > 1280:
        passes.append(det.tiled(rgb, threshold, 1.0, tile=1280))
    boxes = np.concatenate([p[:, :5] for p in passes])
    sizes = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    if long <= 1600 and (not len(boxes) or sizes.min() < 48):
        boxes = np.concatenate([boxes, det.tiled(rgb, threshold, 2.0, tile=1280)[:, :5]])
    return nms(boxes) if len(boxes) else boxes


def _save_photo(rgb: np.ndarray, out: Path) -> None:
    from PIL import Image

    # A fresh image from pixels carries no EXIF, GPS, XMP, ICC profile or comment.
    img = Image.fromarray(rgb, "RGB")
    with atomic_output(out) as tmp:
        if out.suffix.lower() == ".png":
            img.save(tmp, format="PNG", optimize=False)
        else:
            img.save(tmp, format="JPEG", quality=92, subsampling=0)


def anonymize_photo(inp: Path, out: Path, *, mask, mask_scale, color, edits, reviewed, whole_frame, progress, cancel) -> FaceResult:
    """Photo path of :func:`anonymize`."""
    t0 = time.monotonic()
    rgb = load_upright(inp)
    h, w = rgb.shape[:2]
    det = detector()
    warn = [BLUR_WARNING] if mask == "blur" and whole_frame is None else []
    progress(0.05)
    if whole_frame:
        masked = M.whole_frame(rgb, whole_frame)
        boxes: list[FaceBox] = []
        hits: list[CheckHit] = []
    else:
        found = detect_photo(det, rgb, DETECT_THRESHOLD)
        progress(0.5)
        if cancel():
            raise FacesCancelled("Stopped on request.")
        boxes = [FaceBox(*map(float, b[:5]), i + 1, "detected") for i, b in enumerate(found) if not _removed(b, 0, edits)]
        boxes += [FaceBox(*m.box, 1.0, 1000 + i, "manual") for i, m in enumerate(edits.add)]
        masked = rgb.copy()
        _draw(masked, [(b.x1, b.y1, b.x2, b.y2) for b in boxes], mask, mask_scale, color)
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
    return FaceResult(inp.name, str(out), "photo", w, h, None, mask, (frame,), (0,) if review else (), tuple(hits),
                      edits, reviewed, whole_frame, "none", tuple(warn), time.monotonic() - t0,
                      {"faces": len(boxes)})


def _post_check_photo(det, masked, boxes, edits, mask_scale, color) -> list[CheckHit]:
    """Search the masked photo again, cover what is still found (solid, whatever the
    mask: a blur the detector still sees through is not enough), and say what was done."""
    hits: list[CheckHit] = []
    long = max(masked.shape[:2])
    found = det.tiled(masked, CHECK_THRESHOLD, 1.0, tile=1280) if long > 1280 else det.run(masked, CHECK_THRESHOLD)
    for h in found:
        box = tuple(float(v) for v in h[:4])
        if _removed(h, 0, edits):
            hits.append(CheckHit(0, box, float(h[4]), "left: removed by hand"))
            continue
        M.draw_mask(masked, h, "solid", mask_scale, color)
        boxes.append(FaceBox(*box, float(h[4]), 2000 + len(hits), "post-check"))
        hits.append(CheckHit(0, box, float(h[4]), "covered"))
    return hits
