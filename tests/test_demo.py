"""`storyteller demo` end to end: the real CLI, the real ffmpeg, the bundled sample story."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from storyteller.pipeline.media.probe import probe, stream_tags

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "media" / "sample"


@pytest.mark.slow
def test_demo_renders_playable_mp4_matching_narration(tmp_path: Path) -> None:
    out = tmp_path / "demo.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "storyteller.cli", "demo", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(out.resolve())
    info = probe(out)
    assert info.has_video and info.has_audio
    assert (info.video.width, info.video.height) == (1280, 720)
    assert info.video.codec == "h264" and info.audio.codec == "aac"
    narration = probe(SAMPLE / "narration.ogg").duration
    assert abs(info.duration - narration) < 0.5, (info.duration, narration)
    # Soft subtitles and the sidecar files.
    assert any(s.codec == "mov_text" for s in info.subtitles)
    assert out.with_suffix(".srt").read_text(encoding="utf-8").startswith("1\n")
    assert out.with_suffix(".vtt").read_text(encoding="utf-8").startswith("WEBVTT")
    # No metadata that says what made it or when.
    tags = stream_tags(out)
    for where, values in tags.items():
        keys = {k.lower() for k in values}
        assert "encoder" not in keys, (where, values)
        assert "creation_time" not in keys, (where, values)
    assert b"x264" not in out.read_bytes()


def test_demo_default_output_goes_to_data_exports(tmp_path: Path) -> None:
    """Without -o the demo writes a random name under <data>/exports (preview keeps this quick)."""
    data = tmp_path / "data"
    proc = subprocess.run(
        [sys.executable, "-m", "storyteller.cli", "demo", "--data", str(data), "--quality", "preview"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path.parent == (data / "exports").resolve()
    assert path.suffix == ".mp4" and len(path.stem) == 16
    info = probe(path)
    assert info.video.height == 360
