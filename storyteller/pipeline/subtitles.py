"""Subtitle cues: the timed text that the render burns in and writes beside the video."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cue:
    """One subtitle: ``text`` shown from ``start`` to ``end`` seconds (may hold one line break)."""

    start: float
    end: float
    text: str
