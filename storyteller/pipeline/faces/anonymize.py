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
  tracked by :mod:`track`, masked by :mod:`masks`, and piped as raw frames to
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

from pathlib import Path

from storyteller.errors import CancelFn, ProgressFn
from storyteller.pipeline.faces import masks as M
from storyteller.pipeline.faces.edits import load_edits
from storyteller.pipeline.faces.photo import anonymize_photo
from storyteller.pipeline.faces.result import (
    BLUR_WARNING,
    Edits,
    FaceError,
    FaceResult,
    FacesRemainError,
    ManualBox,
)
from storyteller.pipeline.faces.video import anonymize_video

PHOTO_EXT = (".jpg", ".jpeg", ".png")
VIDEO_EXT = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".gif", ".m4v")
VIDEO_OUT_EXT = (".mp4", ".mov", ".webm")


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
    ``reviewed``), and :class:`~storyteller.errors.Cancelled` when ``cancel()`` returns True.
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
    opts = dict(
        mask=mask,
        mask_scale=mask_scale,
        color=tuple(int(c) for c in color),
        edits=edits,
        reviewed=reviewed,
        whole_frame=whole_frame,
        progress=progress,
        cancel=cancel,
    )
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


# The one entry point and what its callers pass in and catch.
__all__ = [
    "anonymize",
    "load_edits",
    "Edits",
    "ManualBox",
    "FaceResult",
    "FaceError",
    "FacesRemainError",
    "BLUR_WARNING",
    "PHOTO_EXT",
    "VIDEO_EXT",
    "VIDEO_OUT_EXT",
]
