"""Pictures on arrival: only the pixels are kept, so EXIF and GPS never reach the vault's picture.

The upload view calls this while the request is still open (it takes a fraction of
a second), so the picture that the rest of the app sees never carried a location.
Very large pictures are made smaller here: a video frame never needs more than
about 3000 pixels, and face detection on a smaller picture is faster.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from storyteller.errors import N_, UserError
from storyteller.store.vault import Vault

MAX_UPLOAD_BYTES = 40 << 20
MAX_PIXELS = 60_000_000  # a 20000 x 20000 picture is refused before decoding
LONG_SIDE = 3000
TOO_LARGE = N_("This picture is too large. Choose a smaller picture (at most 60 megapixels).")


class PictureRefused(UserError):
    """The upload is not a usable picture; the message is a plain sentence."""


@dataclass(frozen=True)
class Picture:
    vault_name: str
    width: int
    height: int
    media_type: str


def receive_picture(vault: Vault, stream: BinaryIO, work: Path | None = None) -> Picture:
    """Store the pixels of an uploaded picture (upright, no metadata) and return where they are."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    with tempfile.TemporaryDirectory(dir=work) as tmp:
        raw = Path(tmp) / "upload"
        with open(raw, "wb") as out:
            size = 0
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise PictureRefused(N_("This picture is too large (more than 40 MB)."))
                out.write(chunk)
        try:
            with Image.open(raw) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise PictureRefused(TOO_LARGE)
                im = ImageOps.exif_transpose(im)
                im.thumbnail((LONG_SIDE, LONG_SIDE))
                keep_png = im.format == "PNG" or im.mode in ("RGBA", "LA", "P")
                if im.mode in ("RGBA", "LA", "PA", "P"):
                    im = im.convert("RGBA")
                    flat = Image.new("RGB", im.size, (255, 255, 255))  # drawings on transparent paper: white paper
                    flat.paste(im, mask=im.getchannel("A"))
                    im = flat
                pixels = np.asarray(im.convert("RGB"))
        except PictureRefused:
            raise
        except Image.DecompressionBombError as exc:
            raise PictureRefused(TOO_LARGE) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise PictureRefused(N_("This file is not a picture we can use. Choose a photo or a drawing (JPEG or PNG).")) from exc
        # A fresh image from pixels alone carries no EXIF, GPS, XMP, ICC profile or comment.
        clean = Image.fromarray(np.ascontiguousarray(pixels))
        suffix, fmt, media_type = (".png", "PNG", "image/png") if keep_png else (".jpg", "JPEG", "image/jpeg")
        with vault.new_file(suffix) as (name, path):
            clean.save(path, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
        return Picture(name, clean.width, clean.height, media_type)
