"""Frames as NV12 (YUV 4:2:0, BT.709, TV range): a Y plane, then U and V interleaved.

Why the renderer works in YUV instead of RGB: the encoder wants 4:2:0. Sending
RGB would make ffmpeg convert every frame (swscale) and would move twice the bytes
through the pipe; warping three full-size RGB channels also costs twice the work of
one full-size Y plane and a quarter-size two-channel chroma plane. So each picture is
converted once per scene (``Planes.from_rgb``) and every per-frame operation
(warp, crossfade, subtitle blend, fade) runs on the planes directly.

Why NV12 rather than I420 (yuv420p): x264 keeps its chroma interleaved, so it takes
NV12 as it is (I420 it interleaves first), and here the two chroma channels are
warped, faded and blended in one OpenCV call instead of two.

We also get the colours right: ffmpeg's default RGB->YUV uses the BT.601 matrix
but leaves HD video untagged, which players read as BT.709 (shifted colours).
Here the matrix is BT.709 and the output is tagged as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

# BT.709, limited ("TV") range: Y in 16..235, Cb/Cr in 16..240 around 128.
_KR, _KB = 0.2126, 0.0722
_KG = 1 - _KR - _KB
_RGB_TO_YUV = np.array(
    [
        [219 / 255 * _KR, 219 / 255 * _KG, 219 / 255 * _KB, 16.0],
        [224 / 255 * -_KR / (2 * (1 - _KB)), 224 / 255 * -_KG / (2 * (1 - _KB)), 224 / 255 * 0.5, 128.0],
        [224 / 255 * 0.5, 224 / 255 * -_KG / (2 * (1 - _KR)), 224 / 255 * -_KB / (2 * (1 - _KR)), 128.0],
    ],
    dtype=np.float32,
)
COLOR_ARGS: tuple[str, ...] = (
    "-colorspace",
    "bt709",
    "-color_primaries",
    "bt709",
    "-color_trc",
    "bt709",
    "-color_range",
    "tv",
)
BLACK = (16, 128, 128)


def rgb_to_yuv444(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 HxWx3 -> YUV uint8 HxWx3 (BT.709 TV range)."""
    return cv2.transform(rgb, _RGB_TO_YUV)


@dataclass
class Planes:
    """A picture as a Y plane (full size) and an interleaved U, V plane (half size, 2 channels)."""

    y: np.ndarray
    uv: np.ndarray
    pad: int = 0  # luma pixels of replicated border around the picture (even)
    _uv4: np.ndarray | None = field(default=None, repr=False, compare=False)

    def uv4(self) -> np.ndarray:
        """The chroma plane as four channels (U, V, U, V), made once, for warpAffine.

        OpenCV's bilinear remap has vector code for 1, 3 and 4 channels only: a two-channel
        warp took 2.1 ms at 640x360, the same warp on four channels 0.7 ms (plus 0.2 ms to
        take two of them back), for the same U and V samples.
        """
        if self._uv4 is None:
            self._uv4 = np.concatenate((self.uv, self.uv), axis=2)
        return self._uv4

    @property
    def width(self) -> int:
        return self.y.shape[1] - 2 * self.pad

    @property
    def height(self) -> int:
        return self.y.shape[0] - 2 * self.pad

    @classmethod
    def from_rgb(cls, rgb: np.ndarray, pad: int = 0) -> Planes:
        """Convert once; ``pad`` adds a replicated border so fast warps never run off the edge."""
        h, w = rgb.shape[:2]
        w2, h2 = w - w % 2, h - h % 2
        pad -= pad % 2
        yuv = rgb_to_yuv444(rgb[:h2, :w2])
        # Halved as all three channels, Y's half thrown away: OpenCV's exact-2x INTER_AREA
        # path (a rounded mean of 2x2) covers 1, 3 and 4 channels, and a two-channel view
        # took its generic path, 25 ms for a 1080p canvas against 1.2 ms (within one level).
        uv = cv2.resize(yuv, (w2 // 2, h2 // 2), interpolation=cv2.INTER_AREA)[:, :, 1:]
        planes = [yuv[:, :, 0], uv]
        if pad:
            planes = [cv2.copyMakeBorder(p, b, b, b, b, cv2.BORDER_REPLICATE) for p, b in zip(planes, (pad, pad // 2))]
        return cls(*(np.ascontiguousarray(p) for p in planes), pad=pad)


class Frame:
    """One NV12 frame in a single buffer, laid out as ffmpeg's rawvideo nv12 expects."""

    __slots__ = ("w", "h", "buf", "y", "uv")

    def __init__(self, w: int, h: int, buf: np.ndarray | None = None):
        self.w, self.h = w, h
        self.buf = np.empty(w * h * 3 // 2, np.uint8) if buf is None else buf
        n = w * h
        self.y = self.buf[:n].reshape(h, w)
        self.uv = self.buf[n:].reshape(h // 2, w // 2, 2)

    @classmethod
    def from_planes(cls, p: Planes) -> Frame:
        f = cls(p.y.shape[1], p.y.shape[0])
        f.y[:], f.uv[:] = p.y, p.uv
        return f

    def copy(self) -> Frame:
        return Frame(self.w, self.h, self.buf.copy())

    def blend(self, other: Frame, mix: float) -> Frame:
        """(1 - mix) * self + mix * other, as a new frame (a crossfade step)."""
        return Frame(self.w, self.h, cv2.addWeighted(self.buf, 1.0 - mix, other.buf, mix, 0.0).reshape(-1))

    def fade(self, k: float) -> None:
        """Fade toward black by factor k (1 = unchanged, 0 = black), in place."""
        k = max(0.0, min(1.0, k))
        cv2.convertScaleAbs(self.y, dst=self.y, alpha=k, beta=16 * (1 - k))
        cv2.convertScaleAbs(self.uv, dst=self.uv, alpha=k, beta=128 * (1 - k))


_K = np.arange(48, dtype=np.float64)


def _align(s: float, t: float, limit: int) -> tuple[int, int, float] | None:
    """Integers (k, a) with a + k*s as close as possible to t (0 <= a <= limit): (k, a, error)."""
    a = np.rint(t - _K * s)
    err = np.abs(t - _K * s - a)
    err[(a < 0) | (a > limit)] = np.inf
    k = int(err.argmin())
    return None if err[k] == np.inf else (k, int(a[k]), float(err[k]))


def _resize_into(plane: np.ndarray, out: np.ndarray, sx: float, sy: float, cx: float, cy: float) -> bool:
    """Fast path: out[Y, X] = plane at (sx*X + cx, sy*Y + cy) through one cv2.resize.

    cv2.resize with an explicit factor samples the source at a + (X' + 0.5)*s - 0.5, with
    a the integer start of the crop. A sub-pixel offset is reached by resizing k extra
    pixels and dropping them: a + k*s lands within 1/100 pixel of the wanted offset for
    some k < 48. Linear resizing is separable and about 3x cheaper than warpAffine; it
    gives the same bilinear samples. Returns False (use warpAffine) when it cannot align.
    """
    h, w = out.shape[:2]
    ph, pw = plane.shape[:2]
    ax = _align(sx, cx - 0.5 * sx + 0.5, pw - 1)
    ay = _align(sy, cy - 0.5 * sy + 0.5, ph - 1)
    if ax is None or ay is None or max(ax[2], ay[2]) > 1 / 32:  # warpAffine itself rounds to 1/32 pixel
        return False
    (kx, x0, _), (ky, y0, _) = ax, ay
    nx, ny = int(np.ceil((kx + w + 1) * sx)) + 1, int(np.ceil((ky + h + 1) * sy)) + 1
    if x0 + nx > pw or y0 + ny > ph:
        return False
    tmp = cv2.resize(plane[y0 : y0 + ny, x0 : x0 + nx], None, fx=1.0 / sx, fy=1.0 / sy, interpolation=cv2.INTER_LINEAR)
    if tmp.shape[0] < ky + h or tmp.shape[1] < kx + w:
        return False
    out[:] = tmp[ky : ky + h, kx : kx + w]
    return True


def warp_planes(src: Planes, dst: Frame, scale_x: float, scale_y: float, x0: float, y0: float) -> None:
    """Sample ``src`` into ``dst``: output pixel (X, Y) shows source point (x0 + sx*X, y0 + sy*Y).

    Coordinates are continuous (pixel centres at k + 0.5) in luma units; chroma uses
    the same mapping at half resolution, so colour stays aligned with brightness.
    """
    for plane, out, div in ((src.y, dst.y, 1.0), (src.uv, dst.uv, 2.0)):
        cx = (x0 + src.pad) / div + 0.5 * scale_x - 0.5
        cy = (y0 + src.pad) / div + 0.5 * scale_y - 0.5
        if scale_x >= 1.0 and scale_y >= 1.0 and _resize_into(plane, out, scale_x, scale_y, cx, cy):
            continue
        m = np.array([[scale_x, 0.0, cx], [0.0, scale_y, cy]], dtype=np.float64)
        flags, size = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, (out.shape[1], out.shape[0])
        if plane.ndim == 3:
            four = cv2.warpAffine(src.uv4(), m, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
            cv2.mixChannels([four], [out], [0, 0, 1, 1])
        else:
            cv2.warpAffine(plane, m, size, dst=out, flags=flags, borderMode=cv2.BORDER_REPLICATE)


def _premultiply(plane: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """round(plane * alpha / 255) as uint8: the overlay's share of each blended pixel."""
    return ((plane.astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)


@dataclass(frozen=True)
class Overlay:
    """An RGBA picture (a subtitle) pre-converted for blending onto NV12 frames.

    Kept as uint8 so that a frame's blend is two OpenCV calls a plane on the band's
    rectangle (frame * (255 - alpha) / 255, then + the premultiplied picture): about a
    tenth of the numpy uint16 arithmetic it replaces, within one level of it (two roundings).
    """

    x: int  # even
    y: int  # even
    y_pre: np.ndarray  # uint8, round(Y * alpha / 255)
    y_inv: np.ndarray  # uint8, 255 - alpha
    uv_pre: np.ndarray  # uint8 (h/2, w/2, 2), (U, V) * alpha / 255 at half size, interleaved as in NV12
    uv_inv: np.ndarray  # uint8 (h/2, w/2, 2), 255 - alpha, twice (cv2.multiply wants matching channels)

    @classmethod
    def from_rgba(cls, rgba: np.ndarray, x: int, y: int) -> Overlay:
        x, y = x - x % 2, y - y % 2
        h, w = rgba.shape[:2]
        h2, w2 = h - h % 2, w - w % 2
        rgba = rgba[:h2, :w2]
        yuv = rgb_to_yuv444(np.ascontiguousarray(rgba[:, :, :3]))
        a = rgba[:, :, 3]
        small = cv2.resize(np.dstack([yuv[:, :, 1:], rgba[:, :, 3:4]]), (w2 // 2, h2 // 2), interpolation=cv2.INTER_AREA)
        a2 = small[:, :, 2:3]
        return cls(
            x,
            y,
            _premultiply(yuv[:, :, 0], a),
            np.ascontiguousarray(255 - a),
            _premultiply(small[:, :, :2], a2),
            np.ascontiguousarray(np.repeat(255 - a2, 2, axis=2)),
        )

    def blend_onto(self, f: Frame) -> None:
        """Alpha-blend in place onto the frame (only inside the overlay's rectangle)."""
        h, w = self.y_pre.shape
        x0, y0 = max(0, self.x), max(0, self.y)
        x1, y1 = min(f.w, self.x + w), min(f.h, self.y + h)
        if x0 >= x1 or y0 >= y1:
            return
        sx, sy = x0 - self.x, y0 - self.y
        cx0, cy0, cx1, cy1, csx, csy = x0 // 2, y0 // 2, x1 // 2, y1 // 2, sx // 2, sy // 2
        for roi, inv, pre in (
            (f.y[y0:y1, x0:x1], self.y_inv[sy : sy + y1 - y0, sx : sx + x1 - x0], self.y_pre[sy : sy + y1 - y0, sx : sx + x1 - x0]),
            (
                f.uv[cy0:cy1, cx0:cx1],
                self.uv_inv[csy : csy + cy1 - cy0, csx : csx + cx1 - cx0],
                self.uv_pre[csy : csy + cy1 - cy0, csx : csx + cx1 - cx0],
            ),
        ):
            # In place on the frame's views (OpenCV writes through their strides).
            cv2.multiply(roi, inv, dst=roi, scale=1 / 255)
            cv2.add(roi, pre, dst=roi)
