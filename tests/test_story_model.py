"""The story model: validation names the field, JSON round-trips, saves are atomic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storyteller.pipeline.render.story import (
    Motion,
    Rect,
    Scene,
    Story,
    StoryError,
    load_story,
    save_story,
    story_from_dict,
    story_to_dict,
)

ROOT = Path(__file__).resolve().parent.parent


def minimal(**extra) -> dict:
    d = {"scenes": [{"image": "a.jpg"}]}
    d.update(extra)
    return d


def test_sample_story_loads_and_round_trips(tmp_path: Path) -> None:
    story = load_story(ROOT / "media" / "sample")
    assert len(story.scenes) == 5 and story.narration and story.title and story.end_card
    assert all(s.duration is None for s in story.scenes)  # "auto": follow the narration
    again = story_from_dict(json.loads(json.dumps(story_to_dict(story))), story.folder)
    assert again == story


def test_defaults_are_sensible() -> None:
    s = story_from_dict(minimal())
    assert s.scenes == (Scene(media="a.jpg"),)
    assert s.aspect == "16:9" and s.fps == 25 and s.language == "en" and not s.rtl
    assert s.scenes[0].motion == Motion("auto") and s.scenes[0].transition == "crossfade"


def test_custom_motion_and_cards_round_trip(tmp_path: Path) -> None:
    data = minimal(
        title="Meri kahani",
        end_card={"text": "#Hashtag", "lines": ["Helpline 1234"], "duration": 5},
        language="ur",
        subtitles=[{"start": 2, "end": 3, "text": "b"}, {"start": 0, "end": 1.5, "text": "a: 'x' \\ 100% 🙂"}],
    )
    data["scenes"][0].update(duration=4.5, motion={"start": [0, 0, 1, 1], "end": [0.1, 0.1, 0.5, 0.5]}, fit="letterbox")
    s = story_from_dict(data, tmp_path)
    assert s.rtl and s.title.text == "Meri kahani" and s.end_card.lines == ("Helpline 1234",)
    assert s.scenes[0].motion.end == Rect(0.1, 0.1, 0.5, 0.5)
    assert [c.text for c in s.subtitles][0].startswith("a:")  # sorted by start
    path = save_story(s)
    assert path == tmp_path / "story.json" and not list(tmp_path.glob(".*.part*"))
    assert load_story(tmp_path) == s


@pytest.mark.parametrize(
    "data, field",
    [
        ({"scenes": []}, "scenes"),
        ({}, "scenes"),
        (minimal(aspect="4:3"), "aspect"),
        (minimal(colour="red"), "story.colour"),
        ({"scenes": [{"image": "a.jpg", "duration": "long"}]}, "scenes[0].duration"),
        ({"scenes": [{"image": "a.jpg", "duration": -1}]}, "scenes[0].duration"),
        ({"scenes": [{"image": "a.jpg"}, {"image": "../../etc/passwd.jpg"}]}, "scenes[1].image"),
        ({"scenes": [{"image": "/abs/a.jpg"}]}, "scenes[0].image"),
        ({"scenes": [{"image": "notes.txt"}]}, "scenes[0].image"),
        ({"scenes": [{"image": "a.jpg", "video": "b.mp4"}]}, "scenes[0]"),
        ({"scenes": [{"image": "a.jpg", "motion": {"start": [0, 0, 1, 1], "end": [0.8, 0.8, 0.5, 0.5]}}]}, "scenes[0].motion.end"),
        ({"scenes": [{"image": "a.jpg", "transition": "wipe"}]}, "scenes[0].transition"),
        (minimal(narration={"file": "n.ogg", "volume": "loud"}), "narration.volume"),
        (minimal(subtitles=[{"start": 2, "end": 1, "text": "x"}]), "subtitles[0].end"),
        (minimal(title={"text": ""}), "title.text"),
        (minimal(version=7), "version"),
        (minimal(fps=60), "fps"),
        ([1, 2], "story"),
    ],
)
def test_errors_name_the_field(data, field: str) -> None:
    with pytest.raises(StoryError) as err:
        story_from_dict(data)
    assert str(err.value).startswith(field + ":"), str(err.value)


def test_load_errors_are_plain(tmp_path: Path) -> None:
    with pytest.raises(StoryError, match="no story.json"):
        load_story(tmp_path)
    (tmp_path / "story.json").write_text('{"scenes": [', encoding="utf-8")
    with pytest.raises(StoryError, match="not valid JSON"):
        load_story(tmp_path)


def test_story_is_frozen() -> None:
    s = story_from_dict(minimal())
    with pytest.raises(AttributeError):
        s.aspect = "1:1"  # type: ignore[misc]
    assert isinstance(s, Story)
