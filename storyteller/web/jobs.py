"""Background work as the browser sees it: start, watch progress (JSON), cancel, play the result."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, send_file, url_for

from storyteller.jobs import state
from storyteller.jobs.queue import enqueue
from storyteller.store.vault import VaultError
from storyteller.web.context import get_db, get_huey, get_vault

bp = Blueprint("jobs", __name__)


def _open_to_this_session(story_id: int | None) -> bool:
    """The facilitator's sample has no story and is open; a story's work is only for the one signed in to it."""
    from storyteller.web.journey.access import current_participant, current_story

    return story_id is None or (current_participant() is not None and current_story().id == story_id)


def _job_or_404(job_id: int) -> state.Job:
    job = state.get_job(get_db(), job_id)
    if job is None or not _open_to_this_session(job.story_id):
        abort(404)
    return job


@bp.post("/demo")
def start_demo():
    job_id = state.create_job(get_db(), "demo", {"quality": "preview"})
    enqueue(get_huey(), job_id, current_app.config["DATA_DIR"])
    return redirect(url_for("jobs.show", job_id=job_id))


@bp.get("/jobs/<int:job_id>")
def show(job_id: int):
    return render_template("jobs/show.html", job=_job_or_404(job_id))


@bp.get("/jobs/<int:job_id>.json")
def progress(job_id: int):
    job = _job_or_404(job_id)
    data = job.as_public_dict()
    if job.state == "done" and isinstance(job.result.get("asset"), str):  # her story's videos are asset ids: /story/media
        data["video_url"] = url_for("jobs.media", name=job.result["asset"])
    return jsonify(data)


@bp.post("/jobs/<int:job_id>/cancel")
def cancel(job_id: int):
    """Called by the page with the CSRF token in the X-CSRFToken header."""
    _job_or_404(job_id)
    job = state.request_cancel(get_db(), job_id)
    return jsonify(job.as_public_dict())


@bp.get("/media/<name>")
def media(name: str):
    """Serve a finished export (never a raw recording) from the vault."""
    row = get_db().execute("SELECT media_type, story_id FROM assets WHERE vault_name = ? AND kind = 'export'", (name,)).fetchone()
    if row is None or not _open_to_this_session(row["story_id"]):
        abort(404)
    try:
        path = get_vault().path(name)
    except VaultError:
        abort(404)
    return send_file(path, mimetype=row["media_type"], conditional=True, download_name="story.mp4")
