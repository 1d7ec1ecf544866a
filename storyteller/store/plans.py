"""Her choices for the video, as kept in ``stories.plan`` (JSON text).

The web pages only gather choices; the render job turns a plan into the typed
``story.json`` that ``storyteller render`` reads (``jobs/story_build.py``). A
plan is a frozen dataclass so that a half-written form can never leave a
half-valid plan behind: ``plan_from_dict`` checks everything and raises
:class:`PlanError` with a plain sentence.

Voice protection follows her consent (issue 14) through the one rule in
``pipeline/voice/audience.py``: the audience sets a default and a floor. She
may always choose something stronger; a weaker choice shows its honest label,
and the render uses the audience's default until a facilitator confirms the
weaker one at the desk (:func:`confirm_weaker_voice`).
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import asdict, dataclass, replace
from typing import Any

from storyteller.errors import N_, UserError
from storyteller.pipeline.voice import audience as voice_rule
from storyteller.store import stories
from storyteller.textsafety import clean_label

ASPECTS = ("16:9", "9:16", "1:1")
MOTIONS = ("auto", "none")  # pan and zoom, or a still picture
VOICE_METHODS = ("own", "pitch", "disguise", "synthetic")  # the choices on her voice page
AUDIENCES = ("workshop", "organisation", "public")
BURN_TRACKS = ("story", "english")
MAX_PICTURES = 60
MAX_CUES = 2000
MAX_HIDDEN = 50
MAX_TEXT = 500


TOO_MANY_PICTURES = N_("A story can have at most 60 pictures.")


class PlanError(UserError):
    """A choice that cannot be kept; the message is a plain sentence."""


@dataclass(frozen=True)
class Picture:
    """One picture on the storyboard: an asset of her story, moving or still."""

    asset_id: int
    motion: str = "auto"


@dataclass(frozen=True)
class PlanCue:
    """One subtitle: seconds from the start of her narration, the text, and words Whisper was unsure of."""

    start: float
    end: float
    text: str
    doubtful: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    pictures: tuple[Picture, ...] = ()
    voice: str | None = None  # None: the default for her audience
    voice_confirmed: bool = False  # a facilitator agreed to a weaker voice than her audience's default
    voice_confirmed_for: str = ""  # the audience they agreed for: a wider consent needs a new agreement
    cues: tuple[PlanCue, ...] = ()
    english: tuple[PlanCue, ...] = ()
    want_english: bool = False
    burn: str = "story"  # which track is written into the picture
    hidden_words: tuple[str, ...] = ()
    hidden_spans: tuple[tuple[float, float], ...] = ()  # where the hidden words are spoken (narration seconds)
    cues_for: str = ""  # which recording the cues were made from (see story_build.narration_key)
    music: str | None = None
    music_volume: float = 0.3
    title: str = ""
    end_card: str = ""
    aspect: str = "16:9"

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def with_changes(self, **changes: Any) -> Plan:
        """A new plan with ``changes`` applied and checked again."""
        return plan_from_dict({**self.to_dict(), **changes})

    def picture_ids(self) -> tuple[int, ...]:
        return tuple(p.asset_id for p in self.pictures)


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise PlanError(message)


def _number(value: Any, message: str, low: float, high: float) -> float:
    _need(isinstance(value, (int, float)) and not isinstance(value, bool), message)
    value = float(value)
    _need(math.isfinite(value) and low <= value <= high, message)
    return value


def _text(value: Any, message: str, limit: int = MAX_TEXT) -> str:
    _need(isinstance(value, str), message)
    _need(len(value) <= limit, message)
    return value


def _cues(items: Any) -> tuple[PlanCue, ...]:
    unreadable = N_("A subtitle line is not readable.")
    _need(isinstance(items, (list, tuple)) and len(items) <= MAX_CUES, unreadable)
    out = []
    for item in items:
        _need(isinstance(item, dict), unreadable)
        start = _number(item.get("start"), N_("A subtitle line needs a start time in seconds."), 0, 36000)
        end = _number(item.get("end"), N_("A subtitle line needs an end time in seconds."), 0, 36000)
        _need(end > start, N_("A subtitle line ends before it starts."))
        doubtful = item.get("doubtful", ())
        _need(isinstance(doubtful, (list, tuple)) and all(isinstance(w, str) for w in doubtful), unreadable)
        out.append(PlanCue(start, end, _text(item.get("text", ""), N_("A subtitle line is too long.")), tuple(doubtful)))
    return tuple(sorted(out, key=lambda c: c.start))


def _audience_or_none(value: Any) -> str:
    _need(value == "" or value in AUDIENCES, N_("The saved choices are not readable."))
    return value


def plan_from_dict(data: Any) -> Plan:
    """Check a plan read from JSON or built from a form; unknown fields are dropped."""
    if data is None:
        return Plan()
    _need(isinstance(data, dict), N_("The saved choices are not readable."))
    pictures = data.get("pictures", [])
    _need(isinstance(pictures, (list, tuple)) and len(pictures) <= MAX_PICTURES, TOO_MANY_PICTURES)
    pics = []
    for p in pictures:
        _need(
            isinstance(p, dict) and isinstance(p.get("asset_id"), int) and not isinstance(p.get("asset_id"), bool),
            N_("A picture on the storyboard is not readable."),
        )
        motion = p.get("motion", "auto")
        _need(motion in MOTIONS, N_("A picture must move (pan and zoom) or stay still."))
        pics.append(Picture(p["asset_id"], motion))
    _need(len({p.asset_id for p in pics}) == len(pics), N_("A picture is on the storyboard twice."))
    voice = data.get("voice")
    _need(voice is None or voice in VOICE_METHODS, N_("Choose one of the voice options."))
    hidden = data.get("hidden_words", [])
    _need(isinstance(hidden, (list, tuple)) and len(hidden) <= MAX_HIDDEN, N_("At most 50 words can be hidden."))
    hidden_words = tuple(dict.fromkeys(w.strip() for w in hidden if isinstance(w, str) and w.strip()))
    _need(all(len(w) <= 80 for w in hidden_words), N_("A word to hide is too long."))
    spans = data.get("hidden_spans", [])
    _need(isinstance(spans, (list, tuple)), N_("The hidden places are not readable."))
    hidden_spans = tuple(
        (_number(a, N_("The hidden places are not readable."), 0, 36000), _number(b, N_("The hidden places are not readable."), 0, 36000))
        for a, b in (s for s in spans if isinstance(s, (list, tuple)) and len(s) == 2)
    )
    music = data.get("music")
    _need(music is None or (isinstance(music, str) and music.isidentifier()), N_("Choose one of the music tracks, or none."))
    aspect = data.get("aspect", "16:9")
    _need(aspect in ASPECTS, N_("Choose one of the video shapes."))
    burn = data.get("burn", "story")
    _need(burn in BURN_TRACKS, N_("Choose which subtitles show in the video."))
    return Plan(
        pictures=tuple(pics),
        voice=voice,
        voice_confirmed=bool(data.get("voice_confirmed", False)),
        voice_confirmed_for=_audience_or_none(data.get("voice_confirmed_for", "")),
        cues=_cues(data.get("cues", [])),
        english=_cues(data.get("english", [])),
        want_english=bool(data.get("want_english", False)),
        burn=burn,
        hidden_words=hidden_words,
        hidden_spans=hidden_spans,
        cues_for=_text(data.get("cues_for", ""), N_("The saved choices are not readable."), 200),
        music=music,
        music_volume=_number(data.get("music_volume", 0.3), N_("The music volume must be between 0 and 1."), 0.0, 1.0),
        title=clean_label(_text(data.get("title", ""), N_("The title is too long (200 letters at most)."), 200)),
        end_card=_text(data.get("end_card", ""), N_("The end card is too long (200 letters at most)."), 200).strip(),
        aspect=aspect,
    )


def plan_or_new(data: Any) -> Plan:
    """The plan kept in ``stories.plan``; a damaged value starts afresh rather than break her pages."""
    try:
        return plan_from_dict(data)
    except PlanError:
        return Plan()


# ----------------------------------------------------------------- voice follows consent
def _known(audience: str) -> str:
    return audience if audience in AUDIENCES else "public"  # an unknown level gets the strongest protection


def default_voice(audience: str) -> str:
    return voice_rule.default_method(_known(audience))


def weaker_than_audience(method: str, audience: str) -> bool:
    """True when ``method`` protects less than her audience needs (the honest label must show)."""
    return voice_rule.is_weaker(method, _known(audience))


def chosen_voice(plan: Plan, audience: str) -> str:
    """Her choice, or the default for her audience."""
    return plan.voice or default_voice(audience)


def voice_for_render(plan: Plan, audience: str) -> str:
    """What the render uses: her choice, unless it is weaker than her audience allows and not confirmed for it."""
    method = chosen_voice(plan, audience)
    if weaker_than_audience(method, audience) and not (plan.voice_confirmed and plan.voice_confirmed_for == _known(audience)):
        return default_voice(audience)
    return method


def voice_request(plan: Plan, audience: str) -> str:
    """For the desk: "asked" while her weaker choice waits for a facilitator, "agreed" once one agreed, else ""."""
    method = chosen_voice(plan, audience)
    if not weaker_than_audience(method, audience):
        return ""
    return "agreed" if voice_for_render(plan, audience) == method else "asked"


def audience_now(conn: sqlite3.Connection, story_id: int, workshop_key: bytes | None) -> str:
    """The audience her consent in force names; with none (or withdrawn) the strongest protection applies."""
    return _known(stories.consent_now(conn, story_id, workshop_key) or "public")


CHOICE_CHANGED = N_("Her voice choice or her audience has changed since this page was shown. Look at it again.")


def confirm_weaker_voice(
    conn: sqlite3.Connection, story_id: int, method: str, workshop_key: bytes | None, audience: str | None = None
) -> Plan:
    """The facilitator agrees, at the desk, that her weaker voice choice ``method`` goes into her video.

    ``method`` (and ``audience``, when the desk showed it) are what the desk put
    in front of them next to the honest label: if she has chosen again or
    changed her consent since, nothing is confirmed (they must see what they
    agree to). The agreement holds for the audience in force now; her choosing
    again clears it (the voice page saves ``voice_confirmed=False``), and a
    different consent level asks for a new one.
    """
    story = stories.get_story(conn, story_id, workshop_key)
    _need(story is not None, N_("This story was not found."))
    plan = plan_or_new(story.plan)
    now = audience_now(conn, story_id, workshop_key)
    _need(plan.voice == method and audience in (None, now), CHOICE_CHANGED)
    confirmed = replace(plan, voice_confirmed=True, voice_confirmed_for=now)
    stories.save_plan(conn, story_id, confirmed.to_dict(), workshop_key)
    return confirmed


def withdraw_voice_confirmation(conn: sqlite3.Connection, story_id: int, workshop_key: bytes | None) -> Plan:
    """The facilitator takes their agreement back: her video uses her audience's default voice again."""
    story = stories.get_story(conn, story_id, workshop_key)
    _need(story is not None, N_("This story was not found."))
    withdrawn = replace(plan_or_new(story.plan), voice_confirmed=False, voice_confirmed_for="")
    stories.save_plan(conn, story_id, withdrawn.to_dict(), workshop_key)
    return withdrawn


# ----------------------------------------------------------------- the storyboard
def with_picture(plan: Plan, asset_id: int) -> Plan:
    if asset_id in plan.picture_ids():
        return plan
    _need(len(plan.pictures) < MAX_PICTURES, TOO_MANY_PICTURES)
    return replace(plan, pictures=plan.pictures + (Picture(asset_id),))


def without_picture(plan: Plan, asset_id: int) -> Plan:
    return replace(plan, pictures=tuple(p for p in plan.pictures if p.asset_id != asset_id))


def reordered(plan: Plan, order: list[int]) -> Plan:
    """The storyboard in ``order`` (asset ids); it must name exactly the pictures already there."""
    _need(sorted(order) == sorted(plan.picture_ids()), N_("The new order does not match the pictures of this story."))
    by_id = {p.asset_id: p for p in plan.pictures}
    return replace(plan, pictures=tuple(by_id[i] for i in order))


def moved(plan: Plan, asset_id: int, step: int) -> Plan:
    """Move one picture up (-1) or down (+1) on the storyboard."""
    ids = list(plan.picture_ids())
    _need(asset_id in ids, N_("This picture is not on the storyboard."))
    i = ids.index(asset_id)
    j = min(len(ids) - 1, max(0, i + step))
    ids[i], ids[j] = ids[j], ids[i]
    return reordered(plan, ids)


def with_motion(plan: Plan, asset_id: int, motion: str) -> Plan:
    _need(motion in MOTIONS, N_("A picture must move (pan and zoom) or stay still."))
    return replace(plan, pictures=tuple(replace(p, motion=motion) if p.asset_id == asset_id else p for p in plan.pictures))
