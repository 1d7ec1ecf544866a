"""The story model: a typed timeline saved as ``story.json`` beside its media.

A story folder holds ``story.json`` plus the pictures, clips and sound files it
names (paths in the JSON are relative to the folder, so the folder can be moved
or copied whole). Everything here is a frozen dataclass; ``load_story`` validates
the JSON and every error names the field that is wrong, e.g.
``scenes[2].duration: must be a number of seconds or "auto"``.

Timing rules (the renderer applies them, see ``render.plan_timeline``):
the title card, the scenes and the end card play in that order; a crossfade
overlaps two neighbours by ``transition_seconds``. Scenes whose duration is
``"auto"`` share out the narration so the video ends with the voice. Subtitle
cue times count from the start of the narration (that is what transcription
produces), and the narration starts ``narration.start`` seconds into the video.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from storyteller.errors import UserError
from storyteller.fsutil import atomic_write_text
from storyteller.pipeline.speech.subtitles import Cue

STORY_FILE = "story.json"
SCHEMA_VERSION = 1

ASPECTS = ("16:9", "9:16", "1:1")
TRANSITIONS = ("crossfade", "cut")
FITS = ("auto", "blur", "letterbox", "crop")
# Languages whose subtitles are written right to left in Arabic script.
RTL_LANGUAGES = ("ur", "pa", "ps", "sd", "fa", "prs", "ar")
LANGUAGES = ("en",) + RTL_LANGUAGES
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".3gp")


class StoryError(UserError):
    """The story is not valid; the message starts with the field that is wrong."""


class RenderError(UserError):
    """The story could not be rendered; the message says what to fix."""


@dataclass(frozen=True)
class Rect:
    """A crop rectangle as fractions (0..1) of the framed picture: left, top, width, height."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Motion:
    """Pan and zoom: ``kind`` is "auto", "none" or "custom" (then ``start`` and ``end`` are set)."""

    kind: str = "auto"
    start: Rect | None = None
    end: Rect | None = None


@dataclass(frozen=True)
class Scene:
    """One picture (``image``) or clip (``video``), a file name inside the story folder."""

    media: str
    kind: str = "image"  # "image" or "video"
    duration: float | None = None  # None means "auto": follow the narration
    motion: Motion = field(default_factory=Motion)
    transition: str = "crossfade"  # how this scene joins the one before it
    fit: str = "auto"  # how a picture of another shape is framed: blurred fill, letterbox or crop


@dataclass(frozen=True)
class Card:
    """A title or end card: a main line, optional smaller lines, and how long it shows."""

    text: str
    lines: tuple[str, ...] = ()
    duration: float = 3.0


@dataclass(frozen=True)
class Track:
    """A sound file in the story folder. ``start`` is when it begins in the video (seconds)."""

    file: str
    start: float = 0.0
    volume: float = 1.0


@dataclass(frozen=True)
class Story:
    """A whole story. ``folder`` is where its files live (not saved in the JSON)."""

    scenes: tuple[Scene, ...]
    title: Card | None = None
    end_card: Card | None = None
    narration: Track | None = None
    music: Track | None = None
    subtitles: tuple[Cue, ...] = ()
    aspect: str = "16:9"
    hd: bool = False  # 16:9 only: 1920x1080 instead of 1280x720
    language: str = "en"
    transition_seconds: float = 0.8
    fps: int = 25
    folder: Path | None = None

    def path(self, name: str) -> Path:
        """Absolute path of a file named in the story."""
        if self.folder is None:
            return Path(name).resolve()
        return (self.folder / name).resolve()

    @property
    def rtl(self) -> bool:
        return self.language in RTL_LANGUAGES


# ------------------------------------------------------------------ validation
def _need(cond: bool, where: str, message: str) -> None:
    if not cond:
        raise StoryError(f"{where}: {message}")


def _number(value: Any, where: str, *, low: float | None = None, high: float | None = None) -> float:
    _need(isinstance(value, (int, float)) and not isinstance(value, bool), where, "must be a number")
    value = float(value)
    _need(math.isfinite(value), where, "must be a finite number")
    if low is not None:
        _need(value >= low, where, f"must be at least {low:g}")
    if high is not None:
        _need(value <= high, where, f"must be at most {high:g}")
    return value


def _text(value: Any, where: str, *, allow_empty: bool = False) -> str:
    _need(isinstance(value, str), where, "must be text")
    _need(allow_empty or value.strip() != "", where, "must not be empty")
    return value


def _choice(value: Any, where: str, options: tuple[str, ...]) -> str:
    _need(value in options, where, "must be one of " + ", ".join(f'"{o}"' for o in options))
    return value


def _keys(obj: Any, where: str, allowed: set[str]) -> dict:
    _need(isinstance(obj, dict), where, "must be an object")
    extra = sorted(set(obj) - allowed)
    _need(not extra, f"{where}.{extra[0]}" if extra else where, "is not a known field")
    return obj


def _file_name(value: Any, where: str) -> str:
    name = _text(value, where)
    p = Path(name)
    # Keep every file inside the story folder: a story must not read the rest of the disk.
    _need(not p.is_absolute() and ".." not in p.parts, where, "must be a file name inside the story folder")
    return name


def _rect(value: Any, where: str) -> Rect:
    _need(isinstance(value, (list, tuple)) and len(value) == 4, where, "must be [x, y, width, height] fractions")
    x, y, w, h = (_number(v, f"{where}[{i}]", low=0.0, high=1.0) for i, v in enumerate(value))
    _need(w > 0.05 and h > 0.05, where, "width and height must be more than 0.05")
    _need(x + w <= 1.0001 and y + h <= 1.0001, where, "must lie inside the picture")
    return Rect(x, y, w, h)


def _motion(value: Any, where: str) -> Motion:
    if value is None or value == "auto":
        return Motion("auto")
    if value == "none":
        return Motion("none")
    obj = _keys(value, where, {"start", "end"})
    _need("start" in obj and "end" in obj, where, 'must be "auto", "none" or {"start": [...], "end": [...]}')
    return Motion("custom", _rect(obj["start"], f"{where}.start"), _rect(obj["end"], f"{where}.end"))


def _duration(value: Any, where: str) -> float | None:
    if value is None or value == "auto":
        return None
    _need(isinstance(value, (int, float)) and not isinstance(value, bool), where, 'must be a number of seconds or "auto"')
    return _number(value, where, low=0.5, high=600.0)


def _scene(obj: Any, where: str) -> Scene:
    obj = _keys(obj, where, {"image", "video", "duration", "motion", "transition", "fit"})
    has_image, has_video = "image" in obj, "video" in obj
    _need(has_image != has_video, where, 'needs exactly one of "image" or "video"')
    kind = "image" if has_image else "video"
    media = _file_name(obj[kind], f"{where}.{kind}")
    suffixes = IMAGE_SUFFIXES if kind == "image" else VIDEO_SUFFIXES
    _need(Path(media).suffix.lower() in suffixes, f"{where}.{kind}", "has a file type that is not supported")
    return Scene(
        media=media,
        kind=kind,
        duration=_duration(obj.get("duration"), f"{where}.duration"),
        motion=_motion(obj.get("motion"), f"{where}.motion"),
        transition=_choice(obj.get("transition", "crossfade"), f"{where}.transition", TRANSITIONS),
        fit=_choice(obj.get("fit", "auto"), f"{where}.fit", FITS),
    )


def _card(obj: Any, where: str, default_duration: float) -> Card | None:
    if obj is None:
        return None
    if isinstance(obj, str):
        obj = {"text": obj}
    obj = _keys(obj, where, {"text", "lines", "duration"})
    lines = obj.get("lines", [])
    _need(isinstance(lines, list), f"{where}.lines", "must be a list of text lines")
    return Card(
        text=_text(obj.get("text"), f"{where}.text"),
        lines=tuple(_text(s, f"{where}.lines[{i}]", allow_empty=True) for i, s in enumerate(lines)),
        duration=_number(obj.get("duration", default_duration), f"{where}.duration", low=0.5, high=60.0),
    )


def _track(obj: Any, where: str, default_volume: float) -> Track | None:
    if obj is None:
        return None
    if isinstance(obj, str):
        obj = {"file": obj}
    obj = _keys(obj, where, {"file", "start", "volume"})
    return Track(
        file=_file_name(obj.get("file"), f"{where}.file"),
        start=_number(obj.get("start", 0.0), f"{where}.start", low=0.0, high=3600.0),
        volume=_number(obj.get("volume", default_volume), f"{where}.volume", low=0.0, high=4.0),
    )


def _cue(obj: Any, where: str) -> Cue:
    obj = _keys(obj, where, {"start", "end", "text"})
    start = _number(obj.get("start"), f"{where}.start", low=0.0)
    end = _number(obj.get("end"), f"{where}.end", low=0.0)
    _need(end > start, f"{where}.end", "must be after start")
    return Cue(start, end, _text(obj.get("text"), f"{where}.text", allow_empty=True))


def story_from_dict(data: Any, folder: str | Path | None = None) -> Story:
    """Build and validate a Story from parsed JSON. Raises StoryError naming the field."""
    data = _keys(
        data,
        "story",
        {
            "version",
            "scenes",
            "title",
            "end_card",
            "narration",
            "music",
            "subtitles",
            "aspect",
            "hd",
            "language",
            "transition_seconds",
            "fps",
        },
    )
    version = data.get("version", SCHEMA_VERSION)
    _need(version == SCHEMA_VERSION, "version", f"must be {SCHEMA_VERSION} (this file is from another version)")
    scenes = data.get("scenes")
    _need(isinstance(scenes, list), "scenes", "must be a list")
    _need(len(scenes) > 0, "scenes", "the story has no pictures yet; add at least one")
    _need(len(scenes) <= 500, "scenes", "has too many scenes (500 at most)")
    subs = data.get("subtitles", [])
    _need(isinstance(subs, list), "subtitles", "must be a list of cues")
    hd = data.get("hd", False)
    _need(isinstance(hd, bool), "hd", "must be true or false")
    fps = data.get("fps", 25)
    _need(fps in (24, 25, 30), "fps", "must be 24, 25 or 30")
    return Story(
        scenes=tuple(_scene(s, f"scenes[{i}]") for i, s in enumerate(scenes)),
        title=_card(data.get("title"), "title", 3.0),
        end_card=_card(data.get("end_card"), "end_card", 4.0),
        narration=_track(data.get("narration"), "narration", 1.0),
        music=_track(data.get("music"), "music", 0.3),
        subtitles=tuple(sorted((_cue(c, f"subtitles[{i}]") for i, c in enumerate(subs)), key=lambda c: c.start)),
        aspect=_choice(data.get("aspect", "16:9"), "aspect", ASPECTS),
        hd=hd,
        language=_choice(data.get("language", "en"), "language", LANGUAGES),
        transition_seconds=_number(data.get("transition_seconds", 0.8), "transition_seconds", low=0.0, high=3.0),
        fps=fps,
        folder=Path(folder).resolve() if folder is not None else None,
    )


def load_story(folder: str | Path) -> Story:
    """Read and validate ``folder/story.json``."""
    p = Path(folder)
    f = p if p.suffix == ".json" else p / STORY_FILE
    folder = f.parent
    if not f.exists():
        raise StoryError(f"story: no {STORY_FILE} found in {folder}")
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise StoryError(f"story: {f.name} is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise StoryError(f"story: {f.name} is not valid JSON (line {exc.lineno}).") from exc
    return story_from_dict(data, folder)


def _rect_list(r: Rect) -> list[float]:
    return [round(r.x, 6), round(r.y, 6), round(r.w, 6), round(r.h, 6)]


def story_to_dict(story: Story) -> dict:
    """The JSON form of a story (the inverse of ``story_from_dict``)."""

    def scene(s: Scene) -> dict:
        d: dict[str, Any] = {s.kind: s.media, "duration": "auto" if s.duration is None else s.duration}
        if s.motion.kind == "custom":
            d["motion"] = {"start": _rect_list(s.motion.start), "end": _rect_list(s.motion.end)}
        else:
            d["motion"] = s.motion.kind
        d["transition"] = s.transition
        d["fit"] = s.fit
        return d

    def card(c: Card | None) -> dict | None:
        return None if c is None else {"text": c.text, "lines": list(c.lines), "duration": c.duration}

    def track(t: Track | None) -> dict | None:
        return None if t is None else asdict(t)

    return {
        "version": SCHEMA_VERSION,
        "aspect": story.aspect,
        "hd": story.hd,
        "language": story.language,
        "fps": story.fps,
        "transition_seconds": story.transition_seconds,
        "title": card(story.title),
        "scenes": [scene(s) for s in story.scenes],
        "end_card": card(story.end_card),
        "narration": track(story.narration),
        "music": track(story.music),
        "subtitles": [{"start": c.start, "end": c.end, "text": c.text} for c in story.subtitles],
    }


def save_story(story: Story, folder: str | Path | None = None) -> Path:
    """Write ``story.json`` atomically into ``folder`` (default: the story's own folder)."""
    folder = Path(folder) if folder is not None else story.folder
    if folder is None:
        raise StoryError("story: no folder to save into")
    text = json.dumps(story_to_dict(story), ensure_ascii=False, indent=2) + "\n"
    return atomic_write_text(Path(folder) / STORY_FILE, text)
