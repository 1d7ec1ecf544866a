"""The story laid out in time: title card, scenes, end card, crossfades, and "auto" scene
lengths shared out so the video ends with the narration (pure; see story.py for the rules)."""

from __future__ import annotations

from dataclasses import dataclass

from storyteller.pipeline.render.story import Story
from storyteller.pipeline.speech.subtitles import Cue

SIZES = {"16:9": (1280, 720), "16:9-hd": (1920, 1080), "9:16": (720, 1280), "1:1": (1080, 1080)}
PREVIEW_SHORT_SIDE = 360
MIN_AUTO_SECONDS = 2.0
DEFAULT_AUTO_SECONDS = 5.0


@dataclass(frozen=True)
class Segment:
    """One piece of the timeline: the title card, a scene, or the end card."""

    kind: str  # "title", "scene" or "end"
    index: int  # scene number for scenes, else -1
    start: float
    duration: float
    overlap: float  # seconds of crossfade with the previous segment

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Timeline:
    segments: tuple[Segment, ...]
    duration: float


def output_size(aspect: str, hd: bool, quality: str) -> tuple[int, int]:
    """Pixel size for an aspect preset; preview is 360 pixels on the short side."""
    w, h = SIZES["16:9-hd" if aspect == "16:9" and hd else aspect]
    if quality == "preview":
        s = PREVIEW_SHORT_SIDE / min(w, h)
        w, h = round(w * s / 2) * 2, round(h * s / 2) * 2
    return w, h


def plan_timeline(story: Story, narration_seconds: float = 0.0, clip_seconds: dict[int, float] | None = None) -> Timeline:
    """Lay out the segments in time (pure; see story.py for the rules)."""
    clip_seconds = clip_seconds or {}
    items: list[tuple[str, int, float | None, str]] = []
    if story.title:
        items.append(("title", -1, story.title.duration, "cut"))
    for i, s in enumerate(story.scenes):
        d = s.duration
        if d is None and s.kind == "video" and clip_seconds.get(i):
            d = clip_seconds[i]
        items.append(("scene", i, d, s.transition))
    if story.end_card:
        items.append(("end", -1, story.end_card.duration, "crossfade"))
    target = story.narration.start + narration_seconds if story.narration and narration_seconds > 0 else 0.0

    def layout(durs: list[float]) -> tuple[list[float], float]:
        overlaps = [0.0]
        for k in range(1, len(items)):
            want = story.transition_seconds if items[k][3] == "crossfade" else 0.0
            overlaps.append(min(want, 0.4 * durs[k - 1], 0.4 * durs[k]))
        return overlaps, sum(durs) - sum(overlaps)

    auto = [k for k, it in enumerate(items) if it[2] is None]
    durs = [it[2] if it[2] is not None else DEFAULT_AUTO_SECONDS for it in items]
    if auto and target > 0:
        # Share the narration out over the auto scenes; two passes settle the overlaps.
        for _ in range(3):
            overlaps, total = layout(durs)
            each = max(MIN_AUTO_SECONDS, durs[auto[0]] + (target - total) / len(auto))
            for k in auto:
                durs[k] = each
    overlaps, total = layout(durs)
    if target > total + 1e-6:
        # Never cut the voice off: hold the last scene longer.
        last_scene = max(k for k, it in enumerate(items) if it[0] == "scene")
        durs[last_scene] += target - total
        overlaps, total = layout(durs)
    segments, t = [], 0.0
    for k, (kind, idx, _, _) in enumerate(items):
        t -= overlaps[k]
        segments.append(Segment(kind, idx, t, durs[k], overlaps[k]))
        t += durs[k]
    return Timeline(tuple(segments), t)


def video_cues(story: Story, total: float) -> tuple[Cue, ...]:
    """Subtitle cues on the video's clock (shifted by the narration start), clipped to the video."""
    shift = story.narration.start if story.narration else 0.0
    out = []
    for c in story.subtitles:
        start, end = c.start + shift, min(c.end + shift, total)
        if end - start > 0.05 and c.text.strip():
            out.append(Cue(round(start, 3), round(end, 3), c.text))
    return tuple(out)
