"""What background jobs can do: one handler per kind of work.

Each handler takes a :class:`~storyteller.jobs.runner.JobContext` and the job's
parameters, calls the Flask-free pipeline with progress and cancel callbacks,
stores its output in the vault and returns a small JSON-able result.
"""

from __future__ import annotations

from pathlib import Path

from storyteller.config import PROJECT_ROOT
from storyteller.errors import N_, UserError
from storyteller.jobs.runner import JobContext

SAMPLE_STORY = PROJECT_ROOT / "media" / "sample"


def render_demo(ctx: JobContext, quality: str = "preview") -> dict:
    """Render the bundled sample story: the facilitator's "does it work?" check."""
    from storyteller.pipeline.render.encode import render_story

    report = ctx.stage_progress("rendering", 0.0, 1.0)
    result = render_story(SAMPLE_STORY, ctx.workdir / "sample.mp4", quality=quality, progress=report, cancel=ctx.cancelled)
    name = _store(ctx, result.path, ".mp4", "export", "sample.mp4", "video/mp4")
    return {"asset": name, "duration": result.duration}


def _store(ctx: JobContext, path, suffix: str, kind: str, original_name: str, media_type: str) -> str:
    """Move a finished output into the vault and record it as an asset of the job's story."""
    size = Path(path).stat().st_size
    name = ctx.vault.adopt(path, suffix)
    ctx.conn.execute(
        "INSERT INTO assets (story_id, kind, vault_name, original_name, media_type, size_bytes) VALUES (?, ?, ?, ?, ?, ?)",
        (ctx.story_id, kind, name, original_name, media_type, size),
    )
    return name


def disguise_voice(ctx: JobContext, asset: str, method: str = "disguise", denoise: bool = False) -> dict:
    """Anonymize a narration from the vault with the story's own secret.

    The secret never leaves the stories table, so every take of one story gets
    the same new voice. ``synthetic`` speaks the story's script when it has one.
    The original recording stays in the vault untouched.
    """
    from storyteller.pipeline.voice import methods as voice
    from storyteller.store import stories

    if ctx.story_id is None:
        raise UserError("A voice job needs a story: its secret keeps her voice the same in every take.")
    story = stories.get_story(ctx.conn, ctx.story_id, ctx.workshop_key)
    if story is None:
        raise UserError("This story no longer exists.")
    out = ctx.workdir / "voice.wav"
    result = voice.anonymize(
        ctx.plain(asset),
        out,
        method,
        story.voice_secret,
        denoise=denoise,
        script=story.script or None,
        language=story.language,
        progress=ctx.stage_progress("voice", 0.0, 1.0),
        cancel=ctx.cancelled,
    )
    name = _store(ctx, result.path, ".wav", "narration", f"narration-{method}.wav", "audio/wav")
    return {"asset": name, "method": method, "label": result.label, "duration": result.duration, "warnings": list(result.warnings)}


def mask_faces(ctx: JobContext, asset: str, mask: str = "solid", reviewed: bool = False) -> dict:
    """Mask the faces in a photo or video from the vault; the boxes come back for review."""
    from storyteller.pipeline.faces import anonymize as faces

    src = ctx.plain(asset)
    ext = src.suffix.lower()
    suffix, media_type = (
        (".png", "image/png") if ext == ".png" else (".jpg", "image/jpeg") if ext in faces.PHOTO_EXT else (".mp4", "video/mp4")
    )
    out = ctx.workdir / f"masked{suffix}"
    result = faces.anonymize(src, out, mask=mask, reviewed=reviewed, progress=ctx.stage_progress("faces", 0.0, 1.0), cancel=ctx.cancelled)
    name = _store(ctx, out, suffix, result.kind, f"masked{suffix}", media_type)
    return {"asset": name, "faces": result.face_count, "review_order": list(result.review_order[:50]), "warnings": list(result.warnings)}


HANDLERS = {
    "demo": render_demo,
    "voice": disguise_voice,
    "faces": mask_faces,
}


# ----------------------------------------------------------------- the participant's journey
def _her_asset(ctx: JobContext, asset_id: int):
    from storyteller.store import stories

    asset = stories.story_asset(ctx.conn, ctx.story_id, asset_id) if ctx.story_id is not None else None
    if asset is None:
        raise UserError(N_("This picture is no longer part of the story."))
    return asset


def _keep(ctx: JobContext, path, suffix: str, kind: str, media_type: str, meta: dict) -> tuple[int, str]:
    """Move a finished output into the vault as an asset of her story; return its id and vault name."""
    from storyteller.store import stories

    size = Path(path).stat().st_size
    name = ctx.vault.adopt(path, suffix)
    asset_id = stories.add_asset(ctx.conn, ctx.story_id, kind, name, media_type=media_type, size_bytes=size, meta=meta)
    return asset_id, name


def _drop(ctx: JobContext, kind: str, role: str, keep: int | None = None, of: int | None = None) -> None:
    """Destroy her older outputs of one role (a new preview replaces the last one), only those
    made from asset ``of`` when it is given."""
    from storyteller.store import stories

    for asset in stories.story_assets(ctx.conn, ctx.story_id, kind):
        if asset.meta.get("role") == role and asset.id != keep and (of is None or asset.meta.get("of") == of):
            stories.remove_asset(ctx.conn, ctx.vault, asset)


def photo_faces(ctx: JobContext, asset: int) -> dict:
    """Find the faces on one of her pictures and make the masked copy the video will use.

    Her edits live in the picture's meta: ``add`` boxes are always masked; a
    ``remove`` box is a person's decision to show that face, so the post-check
    does not refuse the picture for it. The masked copy is its own asset
    (kind 'other', role 'masked'); the picture's meta names it.
    """
    from storyteller.pipeline.faces import anonymize as faces
    from storyteller.store import stories

    picture = _her_asset(ctx, asset)
    add = tuple(faces.ManualBox(tuple(map(float, b))) for b in picture.meta.get("add", []))
    remove = tuple(faces.ManualBox(tuple(map(float, b))) for b in picture.meta.get("remove", []))
    src = ctx.plain(picture.vault_name)
    out = ctx.workdir / f"masked{src.suffix}"
    result = faces.anonymize(
        src,
        out,
        edits=faces.Edits(add, remove),
        reviewed=bool(remove),
        progress=ctx.stage_progress("faces", 0.0, 0.95),
        cancel=ctx.cancelled,
    )
    boxes = [[round(b.x1), round(b.y1), round(b.x2), round(b.y2), b.source] for b in result.frames[0].boxes]
    edits = {"add": picture.meta.get("add", []), "remove": picture.meta.get("remove", [])}
    now = stories.story_asset(ctx.conn, ctx.story_id, asset)
    if now is None or not stories.meta_holds(now.meta, edits):
        return {"stale": True}  # she changed the boxes meanwhile (or deleted it): the job that follows writes it
    masked, masked_name = _keep(ctx, out, src.suffix, "other", picture.media_type, {"role": "masked", "of": asset})
    found = {"masked": masked_name, "masked_asset": masked, "boxes": boxes, "width": result.width, "height": result.height}
    # The check above saves keeping a copy in vain; this one, in the same write, is what decides.
    if stories.merge_asset_meta(ctx.conn, asset, found, unchanged=edits) is None:
        stories.remove_asset(ctx.conn, ctx.vault, stories.story_asset(ctx.conn, ctx.story_id, masked))
        return {"stale": True}
    _drop(ctx, "other", "masked", keep=masked, of=asset)
    return {"asset": asset, "masked": masked, "faces": len(boxes), "boxes": boxes, "warnings": list(result.warnings)}


def voice_preview(ctx: JobContext, method: str) -> dict:
    """Ten seconds of her narration as recorded and as it will sound, for listening before she chooses."""
    import numpy as np

    from storyteller.jobs import story_build
    from storyteller.pipeline.media.audio import decode_audio, iter_audio_blocks, write_wav
    from storyteller.pipeline.voice import methods as voice
    from storyteller.store import plans, stories

    if method not in plans.VOICE_METHODS:
        raise UserError(N_("Choose one of the voice options."))
    story = stories.get_story(ctx.conn, ctx.story_id, ctx.workshop_key)
    parts = story_build.narration_parts(ctx.conn, ctx.story_id)
    joined = story_build.join_narration(ctx.vault, parts, ctx.workdir / "joined.wav", ctx.cancelled)
    ctx.progress(0.2, "voice")
    if method == "synthetic":  # the opening (the voice reads the whole take itself, to lay her script on it)
        y, start = next(iter_audio_blocks(joined, voice.SAMPLE_RATE, 1, voice.PREVIEW_SECONDS), np.zeros(0, np.float32)), 0
    else:
        y = decode_audio(joined, voice.SAMPLE_RATE)
        start = voice.loudest_start(y, voice.SAMPLE_RATE, voice.PREVIEW_SECONDS)
    before = y[start : start + int(voice.PREVIEW_SECONDS * voice.SAMPLE_RATE)]
    if len(before) < voice.MIN_SECONDS * voice.SAMPLE_RATE:
        raise UserError(N_("The recording is too short to preview."))
    # the last preview goes now: the first sentence of this one may be shown before the job ends
    for role in ("voice-before", "voice-after", "voice-after-first"):
        _drop(ctx, "other", role)
    before_id, _ = _keep(
        ctx,
        write_wav(ctx.workdir / "before.wav", before, voice.SAMPLE_RATE),
        ".wav",
        "other",
        "audio/wav",
        {"role": "voice-before", "method": method},
    )
    if method == "own":
        return {"method": method, "before": before_id, "after": before_id}
    if method == "synthetic":
        # her script, as the render reads it: no Whisper runs (the first sentence is made first and shown
        # at once), and never a word she hid (without a script, Whisper's words of the opening, the hidden
        # ones dropped)
        def first_sentence(audio) -> None:
            path = write_wav(ctx.workdir / "after-first.wav", audio, voice.SAMPLE_RATE)
            first, _ = _keep(ctx, path, ".wav", "other", "audio/wav", {"role": "voice-after-first", "method": method})
            ctx.publish({"before": before_id, "first": first})

        hidden = plans.plan_or_new(story.plan).hidden_words
        heard = voice.preview(
            joined,
            method,
            story.voice_secret,
            script=story.script.strip() or None,
            language=story.language,
            hidden=hidden,
            on_first=first_sentence,
        )
    else:
        heard = voice.preview(joined, method, story.voice_secret, start=start / voice.SAMPLE_RATE)
    ctx.progress(0.9)
    after = write_wav(ctx.workdir / "after.wav", heard.after, heard.sample_rate)
    after_id, _ = _keep(ctx, after, ".wav", "other", "audio/wav", {"role": "voice-after", "method": method})
    _drop(ctx, "other", "voice-after-first")
    return {"method": method, "before": before_id, "after": after_id}


def _doubtful(track, cue) -> list[str]:
    """Words of one cue that she should check.

    Her own script's words are right by definition; only those the alignment had to
    place without hearing them may sit at the wrong time. Words Whisper wrote
    itself are doubtful when it was unsure of them. Hidden words are never listed.
    """
    from storyteller.pipeline.speech.redact import MARK

    if track.source == "script-spread":
        return []  # every time is a guess there; the warning says so once, not on every word

    def unsure(w) -> bool:
        if track.source == "script":
            return w.status in ("interpolated", "skipped")
        return w.probability < 0.5

    return [w.text for w in track.words if cue.start - 0.01 <= w.start < cue.end and MARK not in w.text and unsure(w)]


def make_story_subtitles(
    ctx: JobContext, translate: bool = False, model: str | None = None, share: tuple[float, float] = (0.05, 1.0)
) -> dict:
    """Her narration transcribed and aligned to her script, as editable cues kept in her plan."""
    from storyteller.jobs import story_build
    from storyteller.pipeline.speech.tracks import make_subtitles
    from storyteller.store import plans, stories

    story = stories.get_story(ctx.conn, ctx.story_id, ctx.workshop_key)
    plan = plans.plan_or_new(story.plan)
    parts = story_build.narration_parts(ctx.conn, ctx.story_id)
    joined = story_build.join_narration(ctx.vault, parts, ctx.workdir / "joined.wav", ctx.cancelled)
    script = story.script.strip() or None
    result = make_subtitles(
        joined,
        story.language,
        script=script,
        translate=translate,
        redact=plan.hidden_words,
        model=model,
        progress=ctx.stage_progress("subtitles", *share),
        cancel=ctx.cancelled,
    )
    own, spans, warnings = result.tracks[0], result.redaction.spans if result.redaction else (), list(result.warnings)
    if script is not None and own.source != "script":
        own, spans = _script_over_speech(joined, script, result, plan.hidden_words)
        # The alignment's own words ("the subtitles use what Whisper heard instead") are no longer true.
        stale = set(result.alignment.warnings) if result.alignment else set()
        warnings = [w for w in warnings if w not in stale]
        warnings.append(
            N_(
                "Whisper could not follow this recording well, so your own words are spread over your speech. Listen to each line and move it if it is early or late."
            )
        )

    def cues(track) -> list[dict]:
        return [{"start": c.start, "end": c.end, "text": c.text, "doubtful": _doubtful(track, c)} for c in track.cues]

    english = next((t for t in result.tracks if t.source == "translation"), None)
    # Read the plan again: she may have changed other choices while Whisper listened.
    latest = plans.plan_or_new(stories.get_story(ctx.conn, ctx.story_id, ctx.workshop_key).plan)
    changed = latest.with_changes(
        cues=cues(own),
        english=cues(english) if english else list(latest.to_dict()["english"]),
        want_english=translate or latest.want_english,
        hidden_spans=[list(s) for s in spans],
        cues_for=story_build.narration_key(parts),
    )
    stories.save_plan(ctx.conn, ctx.story_id, changed.to_dict(), ctx.workshop_key)
    # The recording the cues were timed on, so a click on a line plays exactly that moment.
    _drop(ctx, "other", "narration-listen")
    _keep(ctx, joined, ".wav", "other", "audio/wav", {"role": "narration-listen", "for": changed.cues_for})
    return {"cues": len(changed.cues), "english": len(changed.english), "warnings": list(dict.fromkeys(warnings))}


def _script_over_speech(audio, script: str, result, hidden: tuple[str, ...]):
    """Her script's words laid over the stretches where she speaks, when Whisper heard too little to align.

    She wrote these words, so they are right even where Whisper is wrong (Urdu
    with the base model): only their timing is a guess. Words to hide are covered
    where Whisper heard them and, with a wider margin, where the script puts them.
    """
    from storyteller.pipeline.media.audio import decode_audio, speech_regions
    from storyteller.pipeline.speech import align, redact
    from storyteller.pipeline.speech.subtitles import segment
    from storyteller.pipeline.speech.tracks import Track

    rate = 16000
    regions = [(a / rate, b / rate) for a, b in speech_regions(decode_audio(audio, rate), rate)]
    spread = align.spread(script, regions, result.duration)
    words = list(spread.words)
    spans = tuple(result.redaction.spans) if result.redaction else ()
    if hidden:
        placed = redact.plan(hidden, (), words, result.duration)
        spans = tuple(sorted(set(spans) | set(placed.spans)))
        words = redact.mask_words(words, hidden, spans)
    cues = tuple(segment(words, end_limit=result.duration))
    return Track(result.tracks[0].language, "script-spread", cues, tuple(words)), spans


def render_her_story(ctx: JobContext, quality: str = "preview", aspect: str | None = None) -> dict:
    """Her story as a video: build the story folder from her choices, render it, keep it as an export."""
    from storyteller.jobs import remote, story_build
    from storyteller.pipeline.render.encode import render_story

    if quality not in ("preview", "final"):
        raise UserError(N_("Choose a quick preview or the final video."))
    _subtitles_for_this_recording(ctx)
    folder = ctx.workdir / "story"
    story = story_build.build_story_folder(
        ctx.conn,
        ctx.vault,
        ctx.story_id,
        folder,
        workshop_key=ctx.workshop_key,
        aspect=aspect,
        progress=ctx.stage_progress("voice", 0.25, 0.4),
        cancel=ctx.cancelled,
    )
    ctx.check_cancel()
    render = remote.render_elsewhere if remote.enabled() else render_story  # a render machine, when the organisation has them
    result = render(
        story.folder, ctx.workdir / "story.mp4", quality=quality, progress=ctx.stage_progress("rendering", 0.4, 1.0), cancel=ctx.cancelled
    )
    role = f"render-{quality}"
    exported, _ = _keep(
        ctx, result.path, ".mp4", "export", "video/mp4", {"role": role, "quality": quality, "aspect": story.aspect, "job": ctx.job_id}
    )
    _drop(ctx, "export", role, keep=exported)
    return {"asset": exported, "duration": result.duration, "width": result.width, "height": result.height}


def _subtitles_for_this_recording(ctx: JobContext) -> None:
    """Make the subtitles first when there are none for the recording that will be heard.

    Besides the subtitles, this finds where the words she wants hidden are spoken: a
    video must never carry a name she asked to hide because she recorded again after
    making the subtitles. Without words to hide, a video without subtitles is still safe.
    """
    from storyteller.jobs import story_build
    from storyteller.store import plans, stories

    plan = plans.plan_or_new(stories.get_story(ctx.conn, ctx.story_id, ctx.workshop_key).plan)
    parts = story_build.narration_parts(ctx.conn, ctx.story_id)
    if not parts or plan.cues_for == story_build.narration_key(parts):
        return
    try:
        make_story_subtitles(ctx, translate=plan.want_english, share=(0.0, 0.25))
    except (ValueError, RuntimeError):
        if ctx.cancelled() or plan.hidden_words:
            raise UserError(
                N_("The words to hide could not be found in your recording, so the video was not made. Open Subtitles and make them again.")
            ) from None


def export_her_story(ctx: JobContext) -> dict:
    """The desk's Export button: her package in the data folder's ``exports/``, in her video's shape.

    Consent is read when the package is made (``export_story``), not when the button was pressed.
    """
    from storyteller.jobs.export import export_story
    from storyteller.store import plans, stories

    story = stories.get_story(ctx.conn, ctx.story_id, ctx.workshop_key)
    shape = plans.plan_or_new(story.plan).aspect if story else "16:9"
    result = export_story(
        ctx.conn,
        ctx.vault,
        ctx.story_id,
        ctx.data_dir / "exports",
        (shape,),
        workshop_key=ctx.workshop_key,
        progress=ctx.progress,
        cancel=ctx.cancelled,
    )
    return {"folder": result.folder.name, "rendered": list(result.rendered)}


HANDLERS.update(
    {
        "export": export_her_story,
        "photo_faces": photo_faces,
        "voice_preview": voice_preview,
        "subtitles": make_story_subtitles,
        "render_story": render_her_story,
    }
)
