"""Check this laptop: free disk, the speech models, the fonts, the microphone and camera, and render speed.

The microphone and camera are asked about in the browser (desk.js), since only the
browser can reach them; the render is timed here, on the sample story, and scaled
to a three-minute story.
"""

from __future__ import annotations

import math
import shutil
from datetime import datetime

from flask import abort, current_app, jsonify, render_template
from flask_babel import gettext as _

from storyteller import config
from storyteller.jobs import state
from storyteller.jobs.queue import enqueue
from storyteller.pipeline.speech import models as speech_models
from storyteller.web.context import get_db, get_huey
from storyteller.web.desk.access import desk_required
from storyteller.web.desk.blueprint import bp
from storyteller.web.desk.workshops import LOW_DISK_BYTES, disk_size_words
from storyteller.web.home import BUNDLED_FONTS

STORY_SECONDS = 180  # what the estimate is for: a three-minute story


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


@bp.get("/laptop")
@desk_required
def laptop():
    free = shutil.disk_usage(current_app.config["DATA_DIR"]).free
    fonts = {name: (config.PROJECT_ROOT / "media" / "fonts" / name).is_file() for name in BUNDLED_FONTS}
    return render_template(
        "desk/laptop.html",
        free=disk_size_words(free),
        disk_low=free < current_app.config.get("LOW_DISK_BYTES", LOW_DISK_BYTES),
        models=speech_models.installed(config.models_dir()),
        fonts=fonts,
    )


@bp.post("/laptop/timing")
@desk_required
def start_timing():
    """Render the sample story at final quality, as a participant's video is made."""
    job_id = state.create_job(get_db(), "demo", {"quality": "final"})
    enqueue(get_huey(), job_id, current_app.config["DATA_DIR"])
    return jsonify(job=job_id)


@bp.get("/laptop/timing/<int:job_id>.json")
@desk_required
def timing(job_id: int):
    job = state.get_job(get_db(), job_id)
    if job is None or job.kind != "demo":
        abort(404)
    data = {"state": job.state, "progress": round(job.progress, 3)}
    if job.state == "failed":
        data["message"] = _(job.error) if job.error else _("The work could not be finished.")
    if job.state == "done" and job.result.get("duration"):
        row = get_db().execute("SELECT created_at, updated_at FROM jobs WHERE id = ?", (job.id,)).fetchone()
        seconds = max(1.0, (_when(row["updated_at"]) - _when(row["created_at"])).total_seconds())
        minutes = max(1, math.ceil(seconds / job.result["duration"] * STORY_SECONDS / 60))
        data["seconds"] = seconds
        data["message"] = _(
            "The %(sample)d-second sample took %(seconds)d seconds here. A 3-minute story takes about %(minutes)d minutes to make.",
            sample=round(job.result["duration"]),
            seconds=round(seconds),
            minutes=minutes,
        )
    return jsonify(data)
