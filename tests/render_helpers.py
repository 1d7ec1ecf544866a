"""Small real story folders for the render tests (pictures drawn here, sound synthesised)."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from storyteller.pipeline.media.audio import write_wav

CORPUS = Path(__file__).resolve().parent / "data" / "render"


def picture(path: Path, size=(640, 480), color=(200, 120, 60), seed: int = 0) -> Path:
    img = Image.new("RGB", size, color)
    d = ImageDraw.Draw(img)
    rng = np.random.default_rng(seed)
    for _ in range(6):
        x, y = int(rng.integers(0, size[0])), int(rng.integers(0, size[1]))
        d.ellipse((x - 40, y - 40, x + 40, y + 40), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    img.save(path)
    return path


def tone(path: Path, seconds: float, freq: float, rate: int = 16000, amp: float = 0.3, on: tuple[float, float] | None = None) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    x = amp * np.sin(2 * np.pi * freq * t).astype(np.float32)
    if on is not None:
        x[(t < on[0]) | (t >= on[1])] = 0.0
    return write_wav(path, x.astype(np.float32), rate)


def make_story(
    folder: Path,
    scenes: int = 2,
    seconds: float | str = 1.5,
    narration: float | None = None,
    music: bool = False,
    subtitles: list[dict] | None = None,
    **extra,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data: dict = {"scenes": []}
    for i in range(scenes):
        picture(folder / f"p{i}.png", seed=i, color=(60 * i % 255, 120, 200 - 40 * i))
        data["scenes"].append({"image": f"p{i}.png", "duration": seconds})
    if narration:
        tone(folder / "voice.wav", narration, 440.0)
        data["narration"] = {"file": "voice.wav"}
    if music:
        tone(folder / "music.wav", 2.0, 220.0)
        data["music"] = {"file": "music.wav", "volume": 0.5}
    if subtitles:
        data["subtitles"] = subtitles
    data.update(extra)
    (folder / "story.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return folder


def corpus(name: str, folder: Path) -> str:
    shutil.copy(CORPUS / name, folder / name)
    return name


def bomb_png(path: Path, side: int = 20000) -> Path:
    """A valid 1-bit greyscale PNG of side x side pixels that compresses to a few dozen KB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\x00" * (side // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
    path.write_bytes(png + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path
