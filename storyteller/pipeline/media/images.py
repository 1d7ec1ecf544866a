"""Pictures in, one framed canvas out: read a photo safely and fit it to the video's shape.

The one image loader (render, face pass, metadata strip). A photo is decoded once
per scene, turned upright (EXIF orientation), made plain 8-bit RGB (CMYK, 16-bit,
palette and transparent pictures included) and framed
onto a canvas with the video's aspect ratio, about 1.5x the output size, so the
pan and zoom can crop it on every frame without ever resizing the full photo
again. Pictures of another shape are never stretched: they get a blurred fill
of themselves behind them, or black bars, or (when the shapes are close) a crop.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from storyteller.errors import UserError

# Bigger headers are refused before decoding (a phone photo is 12-50 MP; 80 MP of RGB is 240 MB),
# below Pillow's own decompression-bomb limit (about 89 MP) so our sentence is the one shown.
MAX_PIXELS = 80_000_000
# What see-through parts lie on: white, like paper, so the dark strokes of a drawing stay visible.
FLATTEN_ONTO = (255, 255, 255)
# Shapes this close to the video's are cropped to fill; others get the blurred fill.
CROP_TOLERANCE = 1.25


class ImageError(UserError):
    """A picture could not be used; the message names the file and says why."""


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit greyscale: Pillow's convert("L") would clip everything above 255 to white.
        a = np.asarray(img, dtype=np.uint32)
        a = (a >> 8) if a.max(initial=0) > 255 else a
        return Image.fromarray(a.astype(np.uint8)).convert("RGB")
    if img.mode == "F":
        a = np.asarray(img, dtype=np.float32)
        a = np.clip(a if a.max(initial=0) > 1.0 else a * 255.0, 0, 255)
        return Image.fromarray(a.astype(np.uint8)).convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, FLATTEN_ONTO)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img if img.mode == "RGB" else img.convert("RGB")


def _draft_size(img: Image.Image, fit_within: tuple[int, int], fit: str) -> tuple[int, int]:
    """The smallest stored size that still fills ``fit_within`` once the photo is turned upright."""
    w, h = img.size
    if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):
        w, h = h, w  # stored sideways
    cw, ch = fit_within
    if _fit_mode(w, h, cw, ch, fit) == "crop":
        s = min(1.0, max(cw / w, ch / h))
    else:  # contained inside a blurred fill or bars: the picture is drawn smaller
        s = min(1.0, min(cw / w, ch / h))
    need = (int(w * s) + 1, int(h * s) + 1)
    return (need[1], need[0]) if img.size != (w, h) else need


def _fit_mode(iw: int, ih: int, w: int, h: int, fit: str) -> str:
    if fit != "auto":
        return fit
    ratio = (iw / ih) / (w / h)
    return "crop" if 1 / CROP_TOLERANCE <= ratio <= CROP_TOLERANCE else "blur"


def load_photo(path: str | Path, fit_within: tuple[int, int] | None = None, fit: str = "crop") -> np.ndarray:
    """Decode ``path`` to an upright RGB uint8 array.

    ``fit_within`` (with the ``fit`` it will be framed by) lets JPEG decoding skip detail
    the video cannot show (draft mode), saving time and memory on 12-50 megapixel photos.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ImageError(f"The picture {name} is missing from the story folder.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise ImageError(
                        f"The picture {name} is too large ({w}x{h} pixels). "
                        f"Pictures up to {MAX_PIXELS // 1_000_000} megapixels can be used; make it smaller and add it again."
                    )
                if fit_within and img.format == "JPEG":
                    img.draft("RGB", _draft_size(img, fit_within, fit))
                img.load()
                img = ImageOps.exif_transpose(img) or img
                rgb = _to_rgb(img)
                return np.array(rgb, dtype=np.uint8)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(
            f"The picture {name} is too large to open safely (more than {MAX_PIXELS // 1_000_000} megapixels). "
            "Make it smaller and add it again."
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"The picture {name} is damaged or is not a picture.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"The picture {name} is damaged and could not be read.") from exc


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    w, h = max(1, w), max(1, h)
    shrinking = w < img.shape[1] and h < img.shape[0]
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def cover(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Scale to fill w x h exactly, cropping the overflow (centred)."""
    ih, iw = img.shape[:2]
    s = max(w / iw, h / ih)
    sw, sh = max(w, round(iw * s)), max(h, round(ih * s))
    scaled = _resize(img, sw, sh)
    x, y = (sw - w) // 2, (sh - h) // 2
    return np.ascontiguousarray(scaled[y : y + h, x : x + w])


def contain(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Scale to fit inside w x h, keeping the shape."""
    ih, iw = img.shape[:2]
    s = min(w / iw, h / ih)
    return _resize(img, min(w, round(iw * s)), min(h, round(ih * s)))


def blurred_fill(img: np.ndarray, w: int, h: int, darken: float = 0.55) -> np.ndarray:
    """A soft, darkened, cover-scaled copy of the picture to sit behind it."""
    small_w, small_h = max(8, w // 12), max(8, h // 12)
    bg = cover(img, small_w, small_h)
    bg = cv2.GaussianBlur(bg, (0, 0), sigmaX=max(1.0, small_w / 40))
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.convertScaleAbs(bg, alpha=darken)


def frame_photo(img: np.ndarray, w: int, h: int, fit: str = "auto") -> np.ndarray:
    """Place the picture on a w x h canvas without distortion (see module docstring)."""
    ih, iw = img.shape[:2]
    fit = _fit_mode(iw, ih, w, h, fit)
    if fit == "crop":
        return cover(img, w, h)
    fg = contain(img, w, h)
    canvas = blurred_fill(img, w, h) if fit == "blur" else np.zeros((h, w, 3), np.uint8)
    y, x = (h - fg.shape[0]) // 2, (w - fg.shape[1]) // 2
    canvas[y : y + fg.shape[0], x : x + fg.shape[1]] = fg
    return canvas
