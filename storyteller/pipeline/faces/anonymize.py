"""Mask every face in a photo or a video, check the result, and keep the boxes as data.

``anonymize(inp, out, ...)`` is the one entry point. It never touches ``inp``;
``out`` appears whole or not at all (``atomic_output``). It returns a
:class:`FaceResult`: per-frame boxes (for the review strip in the web UI, frames
that need a look first), the post-check's findings, and warnings.

- **Photos**: EXIF orientation is applied, then pixels only are written: no EXIF,
  GPS, XMP, ICC profile or comment survives. Faces are searched at full resolution
  (and scaled down for very large pictures), with a 2x look around the small faces
  of a group photo.
- **Video**: decoded with PyAV (rotation flag applied, so the output is upright),
  tracked by :mod:`facetrack`, masked by :mod:`masks`, and piped as raw frames to
  x264 (or VP9 for .webm) through the project's one ffmpeg runner. Container and
  stream metadata are dropped. Sound is dropped unless asked for; kept sound must
  go through the voice disguise.
- **Post-check**: the detector runs again on the *masked* output at a lower
  threshold (photos: around every mask, since the first pass already used that
  threshold everywhere else; video: every 4th frame, whole). A face
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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from storyteller.fsutil import atomic_output
from storyteller.pipeline.faces import masks as M
from storyteller.pipeline.faces.detect import FaceDetector, detector, nms
from storyteller.pipeline.faces.track import Cancelled, FaceTracker, TrackerSettings, grow

ProgressFn = Callable[[float], None]
CancelFn = Callable[[], bool]

PHOTO_EXT = (".jpg", ".jpeg", ".png")
VIDEO_EXT = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".gif", ".m4v")
VIDEO_OUT_EXT = (".mp4", ".mov", ".webm")
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


def _draw(frame: np.ndarray, boxes, mask: str, mask_scale: float, color, ref: np.ndarray | None = None) -> None:
    for b in boxes:
        M.draw_mask(frame, b, mask, mask_scale, color, ref=ref)


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
        # At the check's threshold: the post-check then only needs to look where masks changed the picture.
        found = detect_photo(det, rgb, CHECK_THRESHOLD)
        progress(0.5)
        if cancel():
            raise FacesCancelled("Stopped on request.")
        boxes = [FaceBox(*map(float, b[:5]), i + 1, "detected") for i, b in enumerate(found) if not _removed(b, 0, edits)]
        boxes += [FaceBox(*m.box, 1.0, 1000 + i, "manual") for i, m in enumerate(edits.add)]
        masked = rgb.copy()
        _draw(masked, [(b.x1, b.y1, b.x2, b.y2) for b in boxes], mask, mask_scale, color, ref=rgb)
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
        if _removed(h, 0, edits):
            hits.append(CheckHit(0, box, float(h[4]), "left: removed by hand"))
            continue
        M.draw_mask(masked, h, "solid", mask_scale, color)
        boxes.append(FaceBox(*box, float(h[4]), 2000 + len(hits), "post-check"))
        hits.append(CheckHit(0, box, float(h[4]), "covered"))
    return hits


# ----------------------------------------------------------------- video
def _video_facts(inp: Path):
    """Probe the input and turn every way it can be unusable into one plain sentence."""
    from storyteller.pipeline.media.probe import ProbeError, probe

    try:
        info = probe(inp)
    except ProbeError as exc:
        raise FaceError(str(exc)) from exc
    v = info.video
    if v is None:
        raise FaceError(f"The file {inp.name} has no picture (no video stream), so there are no faces to mask.")
    if not v.width or not v.height:
        raise FaceError(f"The video {inp.name} is damaged: its picture size is unknown.")
    return info, v


def _decode(inp: Path, rotation: int, vfr: list) -> Iterator[np.ndarray]:
    """Upright RGB frames (``rotation``: counter-clockwise degrees if frames carry none). ``vfr`` gets one True appended if frame spacing varies."""
    import av

    # PyAV's frame.rotation is the display matrix angle, counter-clockwise, as ffmpeg's own
    # auto-rotation applies it (checked against ffmpeg in the tests); the probe's is only a hint.
    ccw = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}
    gaps: set[int] = set()
    last = None
    try:
        with av.open(str(inp), metadata_errors="ignore") as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            for frame in c.decode(s):
                if frame.pts is not None:
                    if last is not None and len(gaps) < 64:
                        gaps.add(int(frame.pts - last))
                    last = frame.pts
                img = frame.to_ndarray(format="rgb24")
                rot = ccw.get(int(getattr(frame, "rotation", 0) or rotation) % 360)
                yield cv2.rotate(img, rot) if rot is not None else img
    except av.error.FFmpegError as exc:
        raise FaceError(f"The video {inp.name} is damaged and could not be read to the end.") from exc
    pos = [g for g in gaps if g > 0]
    if pos and max(pos) > 1.5 * min(pos):
        vfr.append(True)


def _encode_args(w: int, h: int, fps: float, fmt: str, audio: Path | None) -> list[str]:
    from storyteller.pipeline.media.metadata import H264_STRIP_SEI, STRIP_ARGS

    args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:.6g}", "-i", "pipe:0"]
    if audio is not None:
        args += ["-i", str(audio)]
    args += ["-map", "0:v"] + (["-map", "1:a"] if audio is not None else [])
    if w % 2 or h % 2:  # 4:2:0 needs even sides: add one black column/row rather than scaling
        args += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
    if fmt == "webm":
        args += ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-b:v", "0", "-crf", "33"]
        args += ["-c:a", "libopus", "-b:a", "96k"] if audio is not None else []
    else:
        args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-threads", "2", *H264_STRIP_SEI]
        args += ["-c:a", "aac", "-b:a", "128k"] if audio is not None else []
        args += ["-movflags", "+faststart"]
    return args + ["-pix_fmt", "yuv420p", *STRIP_ARGS, "-f", fmt]


def _disguised_audio(inp: Path, workdir: Path, progress, cancel) -> Path:
    """The video's sound through the voice pipeline (a fresh secret each time), as a WAV."""
    import secrets

    try:
        from storyteller.pipeline.voice import methods as voice
    except ImportError as exc:  # pragma: no cover - voice ships with the app
        raise FaceError("Keeping the sound needs the voice disguise, which is not installed; run without keeping the sound.") from exc
    wav = workdir / f".voice-{secrets.token_hex(6)}.wav"
    voice.anonymize(inp, wav, "disguise", secrets.token_hex(16), progress=progress, cancel=cancel)
    return wav


def anonymize_video(
    inp: Path, out: Path, *, mask, mask_scale, color, edits, reviewed, whole_frame, keep_audio, progress, cancel,
    settings: TrackerSettings = TrackerSettings(), check_every: int = 4,
) -> FaceResult:
    """Video path of :func:`anonymize`.

    The post-check runs on every ``check_every``-th masked frame (whole frame, at the
    detection scale, lower threshold) before the frame is encoded. Every 4th: most of its
    finds on phone-style clips are hands and bags, but in a rolled crowd it also caught a
    face the tracker had swapped for a neighbour; checking every 8th frame let that face
    through (measured with the outside judge). A face it finds is
    covered on that frame, on the frames still waiting to be written (``_DELAY``) and on
    the frames up to the next check, and reported.
    """
    from storyteller.pipeline.media.ffmpeg import FFmpegCancelled, FFmpegError, open_ffmpeg

    t0 = time.monotonic()
    info, v = _video_facts(inp)
    rotation = v.rotation % 360
    w, h = (v.height, v.width) if rotation in (90, 270) else (v.width, v.height)
    fps = v.fps or 25.0
    if not 1 <= fps <= 240:
        fps = 25.0
    total = v.frames or int(round((v.duration or info.duration or 0) * fps)) or 0
    fmt = {".mp4": "mp4", ".mov": "mov", ".webm": "webm"}[out.suffix.lower()]
    warn: list[str] = []
    if mask == "blur" and whole_frame is None:
        warn.append(BLUR_WARNING)
    if rotation:
        warn.append(f"The video was stored turned by {rotation} degrees; the output is upright.")
    audio = "none"
    if info.has_audio:
        audio = "disguised" if keep_audio else "dropped"
        if not keep_audio:
            warn.append("The sound was dropped (keep it with the keep-audio option: it is then disguised).")
    elif keep_audio:
        warn.append("The video has no sound to keep.")
    det = detector()
    tracker = FaceTracker(det, settings, cancel)
    records: list[FrameFaces] = []
    hits: list[CheckHit] = []
    # track_back decodes only when a box was drawn after the first frame.
    manual = _ManualBoxes(edits.add, None if whole_frame else track_back(_decode(inp, rotation, []), edits.add, fps, cancel))
    vfr: list = []
    pending: deque = deque()  # (idx, original, masked, boxes) waiting to be written
    repairs: list[list] = []  # [box, last index seen] of faces the post-check found

    def finish(item, pipe):
        idx, _orig, masked, boxes, review = item
        pipe.write(masked.tobytes())
        records.append(FrameFaces(idx, idx / fps, tuple(boxes), review))

    wav = None
    try:
        if audio == "disguised":
            wav = _disguised_audio(inp, out.parent, lambda f: progress(0.1 * f), cancel)
        base = 0.1 if wav else 0.0
        with atomic_output(out) as tmp, open_ffmpeg(_encode_args(w, h, fps, fmt, wav) + [str(tmp)]) as pipe:
            frames = _decode(inp, rotation, vfr)
            if whole_frame:
                for idx, f in enumerate(frames):
                    if idx % 8 == 0 and cancel():
                        raise FacesCancelled("Stopped on request.")
                    pipe.write(M.whole_frame(f, whole_frame).tobytes())
                    records.append(FrameFaces(idx, idx / fps, ()))
                    if total:
                        progress(min(0.99, base + (1 - base) * (idx + 1) / total))
            else:
                for idx, frame, tboxes in tracker.run(frames):
                    boxes = [FaceBox(b.x1, b.y1, b.x2, b.y2, b.score, b.track, b.source) for b in tboxes
                             if not _removed((b.x1, b.y1, b.x2, b.y2), idx, edits)]
                    boxes += manual.boxes(idx, frame)
                    for rep in repairs:  # keep covering what the post-check found, until the next check
                        boxes.append(FaceBox(*map(float, grow(rep[0], 1.2)), 0.5, -1, "post-check"))
                    repairs[:] = [r for r in repairs if idx - r[1] < check_every + 2]
                    masked = frame.copy()
                    _draw(masked, [(b.x1, b.y1, b.x2, b.y2) for b in boxes], mask, mask_scale, color, ref=frame)
                    lost = any(b.source in ("held", "lead") for b in boxes)
                    review = "lost-track" if lost else ("low-confidence" if any(b.score < 0.4 for b in boxes) else None)
                    found = []
                    if idx % check_every == check_every // 2:
                        found = det.run(masked, CHECK_THRESHOLD, tracker._scale)
                    if len(found):
                        for hbox in found:
                            hb = tuple(float(x) for x in hbox[:4])
                            if _removed(hb, idx, edits):
                                hits.append(CheckHit(idx, hb, float(hbox[4]), "left: removed by hand"))
                                continue
                            hits.append(CheckHit(idx, hb, float(hbox[4]), "covered"))
                            M.draw_mask(masked, hbox, "solid", mask_scale, color)
                            boxes.append(FaceBox(*hb, float(hbox[4]), -1, "post-check"))
                            repairs.append([hbox[:4].copy(), idx])
                            review = "post-check"
                            # Frames not yet written: look for the same face there too.
                            for item in pending:
                                pb = grow(hbox[:4], 1.2)
                                M.draw_mask(item[2], pb, "solid", mask_scale, color)
                                item[3].append(FaceBox(*map(float, pb), 0.5, -1, "post-check"))
                    pending.append((idx, frame, masked, boxes, review))
                    if len(pending) > _DELAY:
                        finish(pending.popleft(), pipe)
                    if total:
                        progress(min(0.99, base + (1 - base) * (idx + 1) / total))
                while pending:
                    finish(pending.popleft(), pipe)
            if not records:
                raise FaceError(f"The video {inp.name} has no frames that could be read.")
            failed = [x for x in hits if x.action.startswith("left")]
            if failed and not reviewed:
                raise FacesRemainError(
                    f"Faces may remain: the check still finds faces on {len({x.index for x in failed})} frame(s) where "
                    "boxes were removed by hand. Review those frames, then run again with the reviewed option."
                )
    except Cancelled as exc:
        raise FacesCancelled("Stopped on request.") from exc
    except FFmpegCancelled as exc:
        raise FacesCancelled("Stopped on request.") from exc
    except FFmpegError as exc:
        raise FaceError(f"The masked video could not be written: {exc}") from exc
    finally:
        if wav is not None:
            wav.unlink(missing_ok=True)
    if vfr:
        warn.append(f"The video has a variable frame rate; the output plays at a steady {fps:.3g} frames per second.")
    progress(1.0)
    order = sorted((f for f in records if f.review), key=lambda f: (_REVIEW_RANK[f.review], f.index))
    stats = dict(tracker.stats, frames=len(records), tracks=tracker.next_id - 1)
    return FaceResult(inp.name, str(out), "video", w, h, fps, mask, tuple(records), tuple(f.index for f in order),
                      tuple(hits), edits, reviewed, whole_frame, audio, tuple(warn), time.monotonic() - t0, stats)


_DELAY = 4
_REVIEW_RANK = {"post-check": 0, "lost-track": 1, "low-confidence": 2}


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


_LOST_AFTER = 12  # frames without a match before a hand-drawn region stops being followed
_BACK_SECONDS = 10.0  # how far back a hand-drawn region is followed


def track_back(frames: Iterable[np.ndarray], add: tuple[ManualBox, ...], fps: float,
               cancel: CancelFn = lambda: False) -> dict[int, dict[int, np.ndarray]]:
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
            raise FacesCancelled("Stopped on request.")
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
                if misses > _LOST_AFTER:
                    break
                cur = found if found is not None else cur
                path[idx - back] = cur
            out[n] = path
        if idx >= last:
            break
        recent.append(gray)
    return out


class _ManualBoxes:
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
            if m.until is None and misses > _LOST_AFTER:
                continue
            it[1:] = [cur, tpl, misses]
            out.append(FaceBox(*map(float, cur), 1.0, 10000 + n, "manual"))
        return out
