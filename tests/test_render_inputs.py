"""Bad input never ends in a traceback: a clear error naming the file, or a sensible video.

The corpus lives in tests/data/render (regenerate with make_corpus.py there); the
20000x20000 decompression bomb is built here, as a real 1-bit PNG (about 60 KB).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from storyteller.pipeline.media.images import ImageError, load_photo
from storyteller.pipeline.media.probe import probe
from storyteller.pipeline.render.encode import render_story
from storyteller.pipeline.render.story import RenderError, StoryError
from tests.render_helpers import CORPUS, bomb_png, corpus, make_story


def one_scene_story(tmp_path: Path, image: str, **extra) -> Path:
    folder = tmp_path / "s"
    folder.mkdir(exist_ok=True)
    data = {"scenes": [{"image": image, "duration": 1.0}]}
    data.update(extra)
    (folder / "story.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


# ----------------------------------------------------------------- pictures
def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = bomb_png(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ImageError, match=r"bomb.png is too large .*Make it smaller"):
        load_photo(bomb)
    folder = one_scene_story(tmp_path, "bomb.png")
    bomb.rename(folder / "bomb.png")
    with pytest.raises(ImageError, match=r"scenes\[0\]\.image: The picture bomb.png is too large"):
        render_story(folder, tmp_path / "o.mp4", quality="preview")
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize(
    "name, message",
    [
        ("corrupt.jpg", "damaged"),
        ("truncated.png", "damaged"),
    ],
)
def test_damaged_pictures_give_a_clear_error(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "s").mkdir()
    folder = one_scene_story(tmp_path, corpus(name, tmp_path / "s"))
    with pytest.raises(ImageError, match=message) as err:
        render_story(folder, tmp_path / "o.mp4", quality="preview")
    assert name in str(err.value) and "Traceback" not in str(err.value)


def test_missing_picture_names_the_field_and_file(tmp_path: Path) -> None:
    folder = one_scene_story(tmp_path, "gone.jpg")
    with pytest.raises(RenderError, match=r"scenes\[0\]\.image: the file gone.jpg is missing"):
        render_story(folder, tmp_path / "o.mp4", quality="preview")


def test_cmyk_16bit_tiny_and_rotated_pictures_load_sensibly() -> None:
    cyan = load_photo(CORPUS / "cmyk.jpg")
    assert cyan.shape == (48, 64, 3) and cyan[24, 32, 0] < 40 and cyan[24, 32, 1] > 200  # cyan, not inverted
    grey = load_photo(CORPUS / "gray16.png")
    assert abs(int(grey[10, 10, 0]) - 128) <= 2  # mid grey, not clipped to white
    dot = load_photo(CORPUS / "one_pixel.png")
    assert dot.shape == (1, 1, 3)
    upright = load_photo(CORPUS / "exif_rotated.jpg")
    assert upright.shape == (64, 32, 3)  # turned: taller than wide
    assert upright[5, 16, 0] > 200 and upright[60, 16, 2] > 200  # red on top, blue below


@pytest.mark.parametrize("name", ["one_pixel.png", "cmyk.jpg", "gray16.png", "exif_rotated.jpg"])
def test_odd_pictures_render(tmp_path: Path, name: str) -> None:
    (tmp_path / "s").mkdir()
    folder = one_scene_story(tmp_path, corpus(name, tmp_path / "s"))
    result = render_story(folder, tmp_path / "o.mp4", quality="preview")
    assert probe(result.path).video.height == 360


# ----------------------------------------------------------------- sound
def test_silent_narration_renders(tmp_path: Path) -> None:
    folder = make_story(tmp_path / "s", scenes=1, seconds="auto")
    corpus("silence.wav", folder)
    data = json.loads((folder / "story.json").read_text())
    data["narration"] = {"file": "silence.wav"}
    (folder / "story.json").write_text(json.dumps(data))
    result = render_story(folder, tmp_path / "o.mp4", quality="preview")
    info = probe(result.path)
    assert info.has_audio and info.duration == pytest.approx(2.0, abs=0.1)  # auto scenes last at least 2 s


def test_zero_length_narration_is_treated_as_none(tmp_path: Path) -> None:
    folder = make_story(tmp_path / "s", scenes=1, seconds="auto")
    corpus("zero_samples.wav", folder)
    data = json.loads((folder / "story.json").read_text())
    data["narration"] = {"file": "zero_samples.wav"}
    (folder / "story.json").write_text(json.dumps(data))
    result = render_story(folder, tmp_path / "o.mp4", quality="preview")
    assert probe(result.path).duration == pytest.approx(5.0, abs=0.1)  # the default scene length


def test_empty_narration_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = make_story(tmp_path / "s", scenes=1, seconds=1.0)
    corpus("empty.ogg", folder)
    data = json.loads((folder / "story.json").read_text())
    data["narration"] = {"file": "empty.ogg"}
    (folder / "story.json").write_text(json.dumps(data))
    with pytest.raises(RenderError, match="narration: The file empty.ogg is empty"):
        render_story(folder, tmp_path / "o.mp4", quality="preview")


def test_narration_longer_than_the_scenes_is_not_cut(tmp_path: Path) -> None:
    folder = make_story(tmp_path / "s", scenes=2, seconds=1.0, narration=4.0)
    result = render_story(folder, tmp_path / "o.mp4", quality="preview")
    assert probe(result.path).duration == pytest.approx(4.0, abs=0.1)


def test_empty_story_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "story.json").write_text('{"scenes": []}')
    with pytest.raises(StoryError, match="scenes: the story has no pictures yet"):
        render_story(folder, tmp_path / "o.mp4")


def test_subtitle_text_with_special_characters(tmp_path: Path) -> None:
    text = "a: b 'c' \\d 50% e 🙂 --> f\n\nsecond line"
    folder = make_story(tmp_path / "s", scenes=1, seconds=1.5, subtitles=[{"start": 0.1, "end": 1.2, "text": text}])
    result = render_story(folder, tmp_path / "o.mp4", quality="preview")
    srt = result.srt_path.read_text(encoding="utf-8")
    assert "a: b 'c' \\d 50% e 🙂 → f\nsecond line" in srt  # blank line removed, arrow neutralised
    assert [s.codec for s in probe(result.path).subtitles] == ["mov_text"]


# ----------------------------------------------------------------- the CLI
def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "storyteller.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_cli_render_bad_input_is_one_plain_line(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    folder = one_scene_story(tmp_path, corpus("corrupt.jpg", tmp_path / "s"))
    proc = _cli("render", str(folder), "-o", str(tmp_path / "o.mp4"), cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "corrupt.jpg is damaged" in proc.stderr.strip().splitlines()[-1]


def test_cli_render_writes_the_video(tmp_path: Path) -> None:
    folder = make_story(tmp_path / "s", scenes=1, seconds=1.0)
    out = tmp_path / "v.mp4"
    proc = _cli("render", str(folder), "-o", str(out), "--quality", "preview", "--aspect", "9:16", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    info = probe(out)
    assert (info.video.width, info.video.height) == (360, 640)
    assert np.isclose(info.duration, 1.0, atol=0.1)
