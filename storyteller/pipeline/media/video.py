"""The one video reader: frames decoded in order and turned upright, the way a player shows them.

A phone stores a portrait clip as landscape pixels plus a display matrix. PyAV's
``frame.rotation`` is that matrix's angle, counter-clockwise, and ffmpeg's own
auto-rotation turns the picture by it; so do we, here and nowhere else (the tests
compare with ffmpeg on a clip flagged 90 and 270 degrees).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from storyteller.errors import UserError
from storyteller.pipeline.media.probe import open_safely

# Counter-clockwise display rotation -> the turn that shows the picture upright.
_TURN = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


class VideoError(UserError):
    """The video could not be read; the message names the file and says why."""


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: its time in seconds as stored (None when the file gives none) and upright RGB pixels."""

    time: float | None
    rgb: np.ndarray


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """``rgb`` turned by the display rotation ``rotation`` (degrees counter-clockwise)."""
    turn = _TURN.get(int(rotation) % 360)
    return cv2.rotate(rgb, turn) if turn is not None else rgb


def read_frames(path: str | Path, rotation: int = 0) -> Iterator[VideoFrame]:
    """Every frame of the first video stream of ``path``, upright.

    ``rotation`` (from the probe) is used only for frames that carry none of their own.
    Raises :class:`VideoError` when the file cannot be opened or breaks off partway.
    """
    path = Path(path)
    unusable = f"The video {path.name} is damaged or has no picture."
    try:
        container = open_safely(path)
    except av.error.FFmpegError as exc:
        raise VideoError(unusable) from exc
    with container:
        if not container.streams.video:
            raise VideoError(unusable)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                turn = int(getattr(frame, "rotation", 0) or rotation)
                yield VideoFrame(frame.time, upright(frame.to_ndarray(format="rgb24"), turn))
        except av.error.FFmpegError as exc:
            raise VideoError(f"The video {path.name} is damaged and could not be read to the end.") from exc
