"""Regenerate the tiny bad-input corpus for the render tests (files are committed; each < 40 KB).

.venv/bin/python tests/data/render/make_corpus.py
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent


def main() -> None:
    # A picture whose bytes are not a picture at all, and one cut off half way.
    (HERE / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg " * 20)
    buf = HERE / "truncated.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf)
    buf.write_bytes(buf.read_bytes()[:2000])
    # One pixel, orange.
    Image.new("RGB", (1, 1), (255, 128, 0)).save(HERE / "one_pixel.png")
    # CMYK JPEG: pure cyan (C=255) must come out cyan-ish, not inverted red.
    Image.new("CMYK", (64, 48), (255, 0, 0, 0)).save(HERE / "cmyk.jpg", quality=90)
    # 16-bit greyscale PNG at half scale (32768 of 65535): must come out mid grey, not white.
    Image.fromarray(np.full((48, 64), 32768, dtype=np.uint16)).save(HERE / "gray16.png")
    # A 64x32 picture stored sideways with EXIF orientation 6 (turn 90 degrees clockwise to view).
    img = Image.new("RGB", (64, 32), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 32, 32))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(HERE / "exif_rotated.jpg", exif=exif, quality=90)
    # Sound: an empty file, a WAV with no samples, one second of silence.
    (HERE / "empty.ogg").write_bytes(b"")
    for name, seconds in (("zero_samples.wav", 0.0), ("silence.wav", 1.0)):
        with wave.open(str(HERE / name), "wb") as wf:
            wf.setnchannels(1)
            wf.setsampwidth(2)
            wf.setframerate(8000)
            wf.writeframes(b"\x00\x00" * int(8000 * seconds))


if __name__ == "__main__":
    main()
