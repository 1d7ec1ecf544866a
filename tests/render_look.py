"""The look of the shipped sample's render, kept as a few small reference frames.

    PYTHONPATH=. .venv/bin/python tests/render_look.py   # rewrite tests/data/render/look/*.png

Run it only when the look is meant to change (new motion, colours, subtitle style), and
say so in the commit. test_render_look.py renders the sample again and compares the same
frames with these references (PSNR on a 256x144 downscale, so the encoder's fine detail
does not count but a moved, recoloured or missing picture does).
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "media" / "sample"
REFERENCE = ROOT / "tests" / "data" / "render" / "look"
SIZE = (256, 144)
# Frame numbers at 25 fps: fade-in of the title card, the title card, the crossfade into
# the first photo, two Ken Burns moments with subtitles, a crossfade between photos, the end card.
FRAMES = (5, 40, 80, 150, 260, 330, 470)


def sample_frames(mp4: Path) -> dict[int, np.ndarray]:
    """The chosen frames of a render of the sample, downscaled, as RGB uint8."""
    want, out = set(FRAMES), {}
    with av.open(str(mp4)) as container:
        for n, frame in enumerate(container.decode(video=0)):
            if n in want:
                out[n] = cv2.resize(frame.to_ndarray(format="rgb24"), SIZE, interpolation=cv2.INTER_AREA)
            if n >= max(FRAMES):
                break
    return out


def reference_path(n: int) -> Path:
    return REFERENCE / f"frame{n:04d}.png"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main() -> None:
    import tempfile

    from storyteller.pipeline.render.encode import render_story

    REFERENCE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        mp4 = render_story(SAMPLE, Path(d) / "sample.mp4", quality="final").path
        for n, rgb in sample_frames(mp4).items():
            path = reference_path(n)
            cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
            print(f"{path.relative_to(ROOT)}  {path.stat().st_size // 1024} kB")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
