"""The sample still looks as it did: frames of a fresh render against stored references.

The references (tests/data/render/look, made by tests/render_look.py) were rendered before
the composition was made faster; any speed-up must keep these frames within a small PSNR
tolerance on a 256x144 downscale: a shifted Ken Burns path, other colours, a moved
subtitle or a different crossfade all fall far below it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from storyteller.pipeline.render.encode import render_story
from tests.render_look import FRAMES, SAMPLE, psnr, reference_path, sample_frames

MIN_PSNR = 40.0  # dB; the same frames moved one pixel at 720p score 33-40, three pixels 24-31


def _reference(n: int):
    return cv2.cvtColor(cv2.imread(str(reference_path(n))), cv2.COLOR_BGR2RGB)


def test_the_references_tell_frames_apart() -> None:
    """The tolerance is tight enough to notice a change: neighbouring reference frames fail it."""
    refs = [_reference(n) for n in FRAMES]
    for a, b in zip(refs, refs[1:]):
        assert psnr(a, b) < MIN_PSNR - 10
    for n in FRAMES:
        assert reference_path(n).stat().st_size < 50_000


@pytest.mark.slow
def test_sample_render_matches_the_reference_look(tmp_path: Path) -> None:
    out = render_story(SAMPLE, tmp_path / "sample.mp4", quality="final").path
    frames = sample_frames(out)
    assert sorted(frames) == sorted(FRAMES)
    scores = {n: round(psnr(frames[n], _reference(n)), 1) for n in FRAMES}
    assert min(scores.values()) >= MIN_PSNR, scores
