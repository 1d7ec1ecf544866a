"""A phone clip stored sideways (a display matrix, no turned pixels) comes out the way a player shows it.

The reference is ffmpeg's own auto-rotation. Probe, the one video reader, the face pass and
the render must all agree with it: a clip placed in a story once came out upside down.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from storyteller.pipeline.faces import anonymize as faces
from storyteller.pipeline.media.ffmpeg import run_ffmpeg
from storyteller.pipeline.media.probe import probe
from storyteller.pipeline.media.video import read_frames
from storyteller.pipeline.render.encode import render_story

W, H = 128, 64  # stored landscape; shown portrait once turned


def first_frame(path: Path) -> np.ndarray:
    """The first frame as stored (PyAV applies no rotation)."""
    with av.open(str(path)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


def red_centre(rgb: np.ndarray) -> tuple[float, float]:
    """Where the red block is, as fractions of the height and width."""
    r, g, b = (rgb[..., k].astype(int) for k in range(3))
    ys, xs = np.nonzero((r > 150) & (g < 100) & (b < 100))
    assert len(ys), "no red block in the picture"
    return ys.mean() / rgb.shape[0], xs.mean() / rgb.shape[1]


@pytest.fixture(scope="module", params=[90, 270])
def sideways(request, tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A clip with a red block top-left and a green block bottom-right, flagged as turned by
    ``param`` degrees, and ffmpeg's auto-rotated first frame of it."""
    d = tmp_path_factory.mktemp(f"rot{request.param}")
    img = np.full((H, W, 3), 60, np.uint8)
    img[:24, :32] = (255, 0, 0)
    img[-24:, -32:] = (0, 255, 0)
    Image.fromarray(img).save(d / "still.png")
    plain, flagged, auto = d / "plain.mp4", d / "flagged.mp4", d / "auto.mp4"
    run_ffmpeg(
        [
            "-loop",
            "1",
            "-i",
            str(d / "still.png"),
            "-t",
            "1",
            "-r",
            "10",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            str(plain),
        ]
    )
    run_ffmpeg(["-display_rotation", str(request.param), "-i", str(plain), "-c", "copy", str(flagged)])
    run_ffmpeg(["-i", str(flagged), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(auto)])
    reference = first_frame(auto)
    assert reference.shape[:2] == (W, H)  # ffmpeg shows it portrait
    return flagged, reference


def near(a: tuple[float, float], b: tuple[float, float], tol: float = 0.15) -> bool:
    return abs(a[0] - b[0]) < tol and abs(a[1] - b[1]) < tol


def test_probe_gives_the_size_a_player_shows(sideways):
    flagged, reference = sideways
    v = probe(flagged).video
    assert v.rotation in (90, 270)
    assert v.display_size == (reference.shape[1], reference.shape[0])


def test_reader_turns_frames_like_ffmpeg(sideways):
    flagged, reference = sideways
    frame = next(read_frames(flagged))
    assert frame.rgb.shape == reference.shape
    assert near(red_centre(frame.rgb), red_centre(reference))


def test_face_pass_output_is_upright_like_ffmpeg(sideways, tmp_path):
    flagged, reference = sideways
    faces.anonymize(flagged, tmp_path / "out.mp4")
    ours = first_frame(tmp_path / "out.mp4")
    assert ours.shape == reference.shape
    assert near(red_centre(ours), red_centre(reference))


def test_render_places_the_clip_upright_like_ffmpeg(sideways, tmp_path):
    flagged, reference = sideways
    folder = tmp_path / "story"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(flagged.read_bytes())
    story = {"aspect": "9:16", "scenes": [{"video": "clip.mp4", "fit": "crop", "duration": 1.0}]}
    (folder / "story.json").write_text(json.dumps(story), encoding="utf-8")
    result = render_story(folder, tmp_path / "story.mp4", quality="preview")
    with av.open(str(result.path)) as c:  # a frame from the middle, past the fade-in
        ours = next(f for f in c.decode(video=0) if f.time >= 0.5).to_ndarray(format="rgb24")
    assert near(red_centre(ours), red_centre(reference))
