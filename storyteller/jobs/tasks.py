"""What background jobs can do: one handler per kind of work.

Each handler takes a :class:`~storyteller.jobs.runner.JobContext` and the job's
parameters, calls the Flask-free pipeline with progress and cancel callbacks,
stores its output in the vault and returns a small JSON-able result.
"""

from __future__ import annotations

from storyteller.config import PROJECT_ROOT
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
    name = ctx.vault.adopt(path, suffix)
    ctx.conn.execute(
        "INSERT INTO assets (story_id, kind, vault_name, original_name, media_type, size_bytes) VALUES (?, ?, ?, ?, ?, ?)",
        (ctx.story_id, kind, name, original_name, media_type, ctx.vault.path(name).stat().st_size),
    )
    return name


def disguise_voice(ctx: JobContext, asset: str, method: str = "disguise", denoise: bool = False) -> dict:
    """Anonymize a narration from the vault with the story's own secret.

    The secret never leaves the stories table, so every take of one story gets
    the same new voice. ``synthetic`` speaks the story's script when it has one.
    The original recording stays in the vault untouched.
    """
    from storyteller.pipeline.voice import methods as voice

    if ctx.story_id is None:
        raise ValueError("A voice job needs a story: its secret keeps her voice the same in every take.")
    story = ctx.conn.execute("SELECT voice_secret, script, language FROM stories WHERE id = ?", (ctx.story_id,)).fetchone()
    if story is None:
        raise ValueError("This story no longer exists.")
    out = ctx.workdir / "voice.wav"
    result = voice.anonymize(
        ctx.vault.path(asset), out, method, story["voice_secret"], denoise=denoise,
        script=story["script"] or None, language=story["language"],
        progress=ctx.stage_progress("voice", 0.0, 1.0), cancel=ctx.cancelled,
    )
    name = _store(ctx, result.path, ".wav", "narration", f"narration-{method}.wav", "audio/wav")
    return {"asset": name, "method": method, "label": result.label, "duration": result.duration,
            "warnings": list(result.warnings)}


def mask_faces(ctx: JobContext, asset: str, mask: str = "solid", reviewed: bool = False) -> dict:
    """Mask the faces in a photo or video from the vault; the boxes come back for review."""
    from storyteller.pipeline.faces import anonymize as faces

    src = ctx.vault.path(asset)
    ext = src.suffix.lower()
    suffix, media_type = (".png", "image/png") if ext == ".png" else \
        (".jpg", "image/jpeg") if ext in faces.PHOTO_EXT else (".mp4", "video/mp4")
    out = ctx.workdir / f"masked{suffix}"
    result = faces.anonymize(src, out, mask=mask, reviewed=reviewed,
                             progress=ctx.stage_progress("faces", 0.0, 1.0), cancel=ctx.cancelled)
    name = _store(ctx, out, suffix, result.kind, f"masked{suffix}", media_type)
    return {"asset": name, "faces": result.face_count, "review_order": list(result.review_order[:50]),
            "warnings": list(result.warnings)}


HANDLERS = {
    "demo": render_demo,
    "voice": disguise_voice,
    "faces": mask_faces,
}
