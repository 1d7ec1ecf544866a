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
    from storyteller.pipeline.render import render_story

    report = ctx.stage_progress("rendering", 0.0, 1.0)
    result = render_story(SAMPLE_STORY, ctx.workdir / "sample.mp4", quality=quality, progress=report, cancel=ctx.cancelled)
    name = ctx.vault.adopt(result.path, ".mp4")
    ctx.conn.execute(
        "INSERT INTO assets (kind, vault_name, original_name, media_type, size_bytes) VALUES ('export', ?, 'sample.mp4', 'video/mp4', ?)",
        (name, ctx.vault.path(name).stat().st_size),
    )
    return {"asset": name, "duration": result.duration}


HANDLERS = {
    "demo": render_demo,
}
