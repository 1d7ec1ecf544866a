"""Nothing identifying leaves with an export: picture EXIF/GPS, and ffmpeg's strip flags."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from storyteller.pipeline.media.metadata import (
    H264_STRIP_SEI,
    STRIP_ARGS,
    strip_image_metadata,
)

CORPUS = Path(__file__).resolve().parent / "data" / "render"


def test_strip_image_metadata_drops_exif_and_gps_but_keeps_it_upright(tmp_path: Path) -> None:
    src = tmp_path / "phone.jpg"
    img = Image.new("RGB", (64, 32), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 32, 32))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise
    exif[0x010F] = "PhoneMaker"  # camera make
    gps = exif.get_ifd(0x8825)
    gps[2] = (33.0, 41.0, 0.0)  # latitude
    img.save(src, exif=exif, quality=90)
    before = src.read_bytes()
    out = strip_image_metadata(src, tmp_path / "clean.jpg")
    assert src.read_bytes() == before  # the original is never touched
    with Image.open(out) as clean:
        assert not clean.getexif() and "exif" not in clean.info and "icc_profile" not in clean.info
        assert clean.size == (32, 64)  # the turn was applied to the pixels
    assert b"PhoneMaker" not in out.read_bytes()


def test_ffmpeg_strip_flags_cover_container_streams_and_encoder() -> None:
    args = " ".join(STRIP_ARGS)
    for needed in ("-map_metadata -1", "-fflags +bitexact", "-flags:v +bitexact", "-flags:a +bitexact", "encoder="):
        assert needed in args
    assert "remove_types=6" in " ".join(H264_STRIP_SEI)
