"""One image loader for the render, the face pass and the metadata strip: one pixel limit, one flattening rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from storyteller.pipeline.faces import anonymize as faces
from storyteller.pipeline.media.images import ImageError, load_photo
from storyteller.pipeline.media.metadata import strip_image_metadata
from tests.render_helpers import bomb_png


def transparent_png(path: Path) -> Path:
    """Left half see-through, right half opaque blue (a drawing or a cut-out on no background)."""
    rgba = np.zeros((120, 240, 4), np.uint8)
    rgba[:, 120:] = (30, 60, 200, 255)
    Image.fromarray(rgba).save(path)  # four channels: RGBA
    return path


def test_transparency_is_flattened_the_same_everywhere(tmp_path):
    src = transparent_png(tmp_path / "cutout.png")
    rendered = load_photo(src)
    faces.anonymize(src, tmp_path / "masked.png")
    masked = np.asarray(Image.open(tmp_path / "masked.png").convert("RGB"))
    strip_image_metadata(src, tmp_path / "stripped.png")
    stripped = np.asarray(Image.open(tmp_path / "stripped.png").convert("RGB"))
    for rgb in (rendered, masked, stripped):
        assert tuple(rgb[60, 20]) == (255, 255, 255)  # see-through lies on white: dark strokes stay visible
        assert tuple(rgb[60, 200]) == (30, 60, 200)


def test_one_pixel_limit_for_render_and_faces(tmp_path):
    # 9000 x 9000 = 81 megapixels: between the face pass's old limit (80) and the render's (about 89).
    big = bomb_png(tmp_path / "big.png", side=9000)
    with pytest.raises(ImageError, match="too large"):
        load_photo(big)
    with pytest.raises(faces.FaceError, match="too large"):
        faces.anonymize(big, tmp_path / "o.png")
    assert not (tmp_path / "o.png").exists()
