"""From her story in the database to a story folder that ``storyteller render`` reads.

The web only gathers choices (``stories.plan``, see ``store/plans.py``); this
module, run inside a job, turns them into media: the masked pictures in
storyboard order, her narration joined from its parts and protected with the
voice her audience needs, the hidden words covered with a tone, the music, the
cards and the subtitles, all written as the typed ``story.json``
(``pipeline/story.py``) in the job's private work folder.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np

from storyteller.config import PROJECT_ROOT
from storyteller.errors import N_, UserError
from storyteller.pipeline.media.audio import WavWriter, iter_audio_blocks
from storyteller.pipeline.render.story import LANGUAGES, Card, Motion, Scene, Story, Track, save_story
from storyteller.pipeline.speech.subtitles import Cue
from storyteller.store import plans, stories
from storyteller.store.vault import Vault

MUSIC_DIR = PROJECT_ROOT / "media" / "music"
JOIN_RATE = 48000
PARAGRAPH_GAP = 0.4  # seconds of quiet between two recorded paragraphs
TITLE_SECONDS = 3.0
END_SECONDS = 4.0
HIDDEN_MARK = "▇▇▇"
# None of the bundled subtitle fonts (Noto Sans, Nastaliq, Naskh) draws a block character, so a
# hidden word written into the picture would vanish without a trace; every one of them has the dash.
DRAWN_MARK = "———"

Progress = Callable[[float], None]
Cancel = Callable[[], bool]


class BuildError(UserError):
    """The story is not ready to become a video; the message says what is missing."""


def music_tracks() -> tuple[str, ...]:
    """Names of the bundled tracks (``media/music/NAME.ogg``)."""
    return tuple(sorted(p.stem for p in MUSIC_DIR.glob("*.ogg") if p.stem.isidentifier()))


def audience(conn: sqlite3.Connection, story_id: int, workshop_key: bytes) -> str:
    """Her consent level; with none recorded, the widest audience (the strongest protection)."""
    consent = stories.current_consent(conn, story_id, workshop_key)
    return consent.level if consent is not None else "public"


# ----------------------------------------------------------------- narration
def narration_parts(conn: sqlite3.Connection, story_id: int) -> list[stories.Asset]:
    """The takes that make her narration, in order: one whole take, or her paragraphs."""
    takes = stories.narration_takes(conn, story_id)
    if "whole" in takes:
        return [takes["whole"]]
    return [takes[k] for k in sorted(k for k in takes if isinstance(k, int))]


def narration_key(parts: list[stories.Asset]) -> str:
    """Names one version of her narration: cues made from another version no longer fit."""
    return ",".join(str(a.id) for a in parts)


def join_narration(vault: Vault, parts: list[stories.Asset], out: Path, cancel: Cancel | None = None, tail: float = 0.0) -> Path:
    """Her parts one after another, with a short quiet between paragraphs, as one mono WAV (streamed).

    ``tail`` seconds of quiet at the end give the end card its own time: the
    renderer ends the video with the narration.
    """
    if not parts:
        raise BuildError(N_("There is no recording yet. Record your story first."))
    gap = np.zeros(int(PARAGRAPH_GAP * JOIN_RATE), np.float32)
    with WavWriter(out, JOIN_RATE) as writer:
        for k, take in enumerate(parts):
            if k:
                writer.write(gap)
            # Each take is decrypted beside ``out`` (the job's plaintext folder) and gone once read.
            plain = vault.decrypt_to(take.vault_name, out.parent / f"take-{take.vault_name}")
            try:
                for block in iter_audio_blocks(plain, JOIN_RATE, 1, 20.0):
                    if cancel and cancel():
                        raise BuildError(N_("Stopped."))
                    writer.write(block)
            finally:
                plain.unlink(missing_ok=True)
        writer.write(np.zeros(int(tail * JOIN_RATE), np.float32))
    return out


def protect_voice(
    joined: Path,
    out: Path,
    method: str,
    secret: str,
    *,
    script: str,
    language: str,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> Path:
    """Her narration with the chosen protection (``own`` leaves it as she recorded it)."""
    if method == "own":
        shutil.copyfile(joined, out)
        return out
    from storyteller.pipeline.voice import methods as voice

    return voice.anonymize(joined, out, method, secret, script=script or None, language=language, progress=progress, cancel=cancel).path


def hide_words_in_text(text: str, words: tuple[str, ...]) -> str:
    """Black out the hidden words in a line she typed herself (the transcript is masked already)."""
    for word in words:
        text = re.sub(re.escape(word), HIDDEN_MARK, text, flags=re.IGNORECASE)
    return text


# ----------------------------------------------------------------- the whole folder
def build_story_folder(
    conn: sqlite3.Connection,
    vault: Vault,
    story_id: int,
    folder: Path,
    *,
    workshop_key: bytes,
    aspect: str | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> Story:
    """Write ``folder/story.json`` and its media for her story; return the typed story."""
    progress = progress or (lambda f: None)
    record = stories.get_story(conn, story_id, workshop_key)
    if record is None:
        raise BuildError(N_("This story no longer exists."))
    plan = plans.plan_or_new(record.plan)
    folder.mkdir(parents=True, exist_ok=True)
    language = record.language if record.language in LANGUAGES else "en"

    scenes = []
    for n, pic in enumerate(plan.pictures, start=1):
        asset = stories.story_asset(conn, story_id, pic.asset_id)
        masked = asset.meta.get("masked") if asset is not None else None
        if not masked or not vault.exists(masked):
            raise BuildError(N_("A picture is still being checked for faces. Wait a moment and try again."))
        name = f"picture-{n:02d}{Path(masked).suffix}"
        vault.decrypt_to(masked, folder / name)
        scenes.append(Scene(media=name, motion=Motion(pic.motion)))
    if not scenes:
        raise BuildError(N_("The story has no pictures yet. Add at least one picture."))

    parts = narration_parts(conn, story_id)
    cues_fit = bool(parts) and plan.cues_for == narration_key(parts)
    narration = None
    title = Card(plan.title, duration=TITLE_SECONDS) if plan.title else None
    if parts:
        joined = join_narration(vault, parts, folder / "joined.wav", cancel, tail=END_SECONDS if plan.end_card else 0.0)
        voiced = folder / "voice.wav"
        method = plans.voice_for_render(plan, audience(conn, story_id, workshop_key))
        # A synthetic voice reads her script: it must never say a word she asked to hide.
        unspoken = hide_words_in_text(record.script, plan.hidden_words).replace(HIDDEN_MARK, " ")
        protect_voice(
            joined, voiced, method, record.voice_secret, script=unspoken, language=record.language, progress=progress, cancel=cancel
        )
        joined.unlink()  # her own voice must not stay beside the protected one
        if cues_fit and plan.hidden_spans:
            from storyteller.pipeline.speech.redact import redact_audio

            redact_audio(voiced, folder / "narration.wav", plan.hidden_spans, cancel=cancel)
            voiced.unlink()
        else:
            voiced.rename(folder / "narration.wav")
        narration = Track("narration.wav", start=title.duration if title else 0.0)
    progress(1.0)

    cues: tuple[Cue, ...] = ()
    if cues_fit:
        chosen = plan.english if plan.burn == "english" and plan.english else plan.cues
        cues = tuple(
            Cue(c.start, c.end, hide_words_in_text(c.text, plan.hidden_words).replace(HIDDEN_MARK, DRAWN_MARK))
            for c in chosen
            if c.text.strip()
        )
    music = None
    if plan.music and plan.music in music_tracks() and plan.music_volume > 0:
        shutil.copyfile(MUSIC_DIR / f"{plan.music}.ogg", folder / "music.ogg")
        music = Track("music.ogg", volume=plan.music_volume)
    story = Story(
        scenes=tuple(scenes),
        title=title,
        end_card=Card(plan.end_card, duration=END_SECONDS) if plan.end_card else None,
        narration=narration,
        music=music,
        subtitles=cues,
        aspect=aspect or plan.aspect,
        language="en" if plan.burn == "english" and plan.english and cues_fit else language,
        folder=folder.resolve(),
    )
    save_story(story)
    return story
