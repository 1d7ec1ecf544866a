"""Leave nothing identifying in what we export: container tags, encoder strings, EXIF/GPS.

``STRIP_ARGS`` go on every ffmpeg command that writes an exported file. They drop
global and per-stream metadata and chapters, and make the muxer and encoders
write no "encoder" or "creation_time" tag. x264 also writes its version and
settings into the video stream itself (an SEI message); ``H264_STRIP_SEI`` removes it.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from storyteller.fsutil import atomic_output
from storyteller.pipeline.media.images import load_photo

STRIP_ARGS: tuple[str, ...] = (
    "-map_metadata",
    "-1",
    "-map_chapters",
    "-1",
    "-fflags",
    "+bitexact",
    "-flags:v",
    "+bitexact",
    "-flags:a",
    "+bitexact",
    # The mp4 muxer copies the stream's "encoder" tag into the video sample entry
    # ("Lavc libx264") even with bitexact; an empty value leaves that field blank.
    "-metadata:s:v",
    "encoder=",
    "-metadata:s:a",
    "encoder=",
)
# Drop every SEI NAL unit (type 6): x264's banner lives there.
H264_STRIP_SEI: tuple[str, ...] = ("-bsf:v", "filter_units=remove_types=6")


def strip_image_metadata(src: str | Path, dst: str | Path) -> Path:
    """Copy a picture's pixels only (no EXIF, GPS, XMP, ICC or comments) to ``dst``.

    The orientation is applied to the pixels first, so the copy still shows upright.
    """
    rgb = load_photo(src)
    dst = Path(dst)
    fmt = "PNG" if dst.suffix.lower() == ".png" else "JPEG"
    with atomic_output(dst) as tmp:
        Image.fromarray(rgb).save(tmp, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return dst
