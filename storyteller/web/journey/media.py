"""Steps 5-10 of her journey: pictures, voice, subtitles, music and titles, the video, the screening.

Views only validate, save her choices in the plan (``store/plans.py``) and start
jobs (``jobs/tasks.py``); every picture, sound and video is made by a job.
Every asset and job URL answers 404 unless it belongs to her story.
"""

from __future__ import annotations

from pathlib import Path

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from storyteller.jobs import intake, state
from storyteller.jobs.queue import enqueue
from storyteller.jobs.story_build import MUSIC_DIR, music_tracks, narration_key, narration_parts
from storyteller.store import plans, stories
from storyteller.web.context import get_db, get_huey, get_vault, get_workshop_key, unlocked_key
from storyteller.web.journey.access import current_story, is_fetch, participant_required, story_asset_or_404
from storyteller.web.journey.blueprint import bp
from storyteller.web.journey.words import her_kit
from storyteller.web.vault_media import send_from_vault

VOICE_CHOICES = {
    "synthetic": (_l("A computer voice reads your words"), _l("Nothing of your voice remains. It can sound a little like a machine.")),
    "disguise": (_l("Your voice, disguised"), _l("Keeps the feel of your voice; people who know you may still recognise it.")),
    "pitch": (_l("Your voice, higher or lower"), _l("Changes the sound, does not hide who you are.")),
    "own": (_l("Your own voice"), _l("People who know you will recognise your voice.")),
}
AUDIENCE_WORDS = {
    "workshop": _l("only the workshop screening"),
    "organisation": _l("inside the organisation"),
    "public": _l("a public campaign"),
}
ASPECT_CHOICES = (
    ("16:9", _l("Wide (16:9)"), _l("For YouTube, a laptop or a projector")),
    ("9:16", _l("Tall (9:16)"), _l("For WhatsApp status, Reels and TikTok")),
    ("1:1", _l("Square (1:1)"), _l("For Facebook")),
)
JOB_STAGES = {
    "faces": _l("Looking for faces…"),
    "voice": _l("Protecting your voice…"),
    "subtitles": _l("Listening to your recording…"),
    "rendering": _l("Making the video…"),
    "done": _l("Done."),
    "cancelled": _l("Stopped."),
    "interrupted": _l("Starting again after an interruption…"),
    "locked": _l("Waiting for the facilitator to unlock the workshop…"),
    "": _l("Waiting to start…"),
}


# ----------------------------------------------------------------- shared helpers
def _plan(story: stories.Story | None = None) -> plans.Plan:
    story = story or current_story()
    kit = her_kit()
    if not story.plan and kit is not None:  # nothing chosen yet: her workshop's kit gives the video shape
        return plans.plan_or_new({"aspect": kit.shape})
    return plans.plan_or_new(story.plan)


def _save(plan: plans.Plan) -> None:
    stories.save_plan(get_db(), current_story().id, plan.to_dict(), unlocked_key())


def _start(kind: str, **params) -> int:
    job_id = state.create_job(get_db(), kind, params, story_id=current_story().id)
    enqueue(get_huey(), job_id, current_app.config["DATA_DIR"])
    return job_id


def _her_job_or_404(job_id: int) -> state.Job:
    job = state.get_job(get_db(), job_id)
    if job is None or job.story_id != current_story().id:
        abort(404)
    return job


def _latest_job(kind: str) -> state.Job | None:
    row = (
        get_db()
        .execute("SELECT id FROM jobs WHERE story_id = ? AND kind = ? ORDER BY id DESC LIMIT 1", (current_story().id, kind))
        .fetchone()
    )
    return state.get_job(get_db(), row["id"]) if row else None


def _reply(message: str, endpoint: str, status: int = 200, **data):
    """Answer a script with JSON, a form with a flash message and the page again."""
    if is_fetch():
        return jsonify(message=message, **data), status
    if message:
        flash(message)
    return redirect(url_for(endpoint))


def _plan_error(exc: plans.PlanError, endpoint: str):
    return _reply(_(str(exc)), endpoint, 400)


def _enter(step: str) -> stories.Story:
    story = current_story()
    stories.set_step(get_db(), story.id, step)
    return story


def _asset_url(asset_id: int | None) -> str | None:
    return url_for("journey.media", asset_id=asset_id) if asset_id else None


def _audience(story: stories.Story) -> str:
    consent = stories.current_consent(get_db(), story.id, unlocked_key())
    return consent.level if consent else "public"


# ----------------------------------------------------------------- jobs and media of her story
@bp.get("/work/<int:job_id>")
@participant_required
def job_status(job_id: int):
    job = _her_job_or_404(job_id)
    data = job.as_public_dict()
    if not job.finished and get_workshop_key() is None:
        data["stage"] = "locked"  # it waits for the facilitator, and says so
    data["stage_words"] = str(JOB_STAGES.get(data["stage"], JOB_STAGES[""]))
    if job.kind == "render_story":
        data["quality"] = job.params.get("quality")
    if job.state == "failed":
        data["error"] = _(job.error) if job.error else _("The work could not be finished.")
    if job.state in ("running", "done"):  # while it runs, its result is what it has published (a first sentence)
        for key in ("asset", "before", "after", "first"):
            if isinstance(job.result.get(key), int) and job.kind != "photo_faces":
                data[f"{key}_url"] = _asset_url(job.result[key])
    if job.state == "done":
        data["result"] = {k: v for k, v in job.result.items() if k in ("asset", "before", "after", "masked", "faces", "boxes", "stale")}
        data["warnings"] = [_(w) for w in job.result.get("warnings", [])]
    return jsonify(data)


@bp.post("/work/<int:job_id>/stop")
@participant_required
def job_stop(job_id: int):
    _her_job_or_404(job_id)
    return jsonify(state.request_cancel(get_db(), job_id).as_public_dict())


@bp.get("/media/<int:asset_id>")
@participant_required
def media(asset_id: int):
    """One of her pictures, sounds or videos (a recording still arriving is not served)."""
    asset = story_asset_or_404(asset_id)
    if asset.meta.get("growing"):
        abort(404)
    name = (asset.meta.get("masked") if request.args.get("masked") else asset.vault_name) or ""
    suffix = Path(name).suffix
    media_type = "image/png" if suffix == ".png" else "image/jpeg" if suffix == ".jpg" else asset.media_type
    return send_from_vault(get_vault(asset.story_id), name, media_type, download_name=f"story{suffix}")


# ----------------------------------------------------------------- 5. pictures
def _pictures(story: stories.Story, plan: plans.Plan) -> list[dict]:
    by_id = {a.id: a for a in stories.story_assets(get_db(), story.id) if a.kind in ("photo", "drawing")}
    jobs = {}
    for row in get_db().execute(
        "SELECT id, params FROM jobs WHERE story_id = ? AND kind = 'photo_faces' "
        "AND state IN ('queued', 'running', 'interrupted') ORDER BY id",
        (story.id,),
    ):
        jobs[state.get_job(get_db(), row["id"]).params.get("asset")] = row["id"]
    out = []
    for pic in plan.pictures:
        asset = by_id.get(pic.asset_id)
        if asset is None:
            continue
        out.append(
            {
                "asset": asset,
                "motion": pic.motion,
                "boxes": asset.meta.get("boxes", []),
                "removed": asset.meta.get("remove", []),
                "job": jobs.get(asset.id),
                "masked_url": url_for("journey.media", asset_id=asset.id, masked=1, v=asset.meta.get("masked_asset", 0))
                if asset.meta.get("masked")
                else None,
            }
        )
    return out


@bp.get("/pictures")
@participant_required
def pictures():
    story = _enter("pictures")
    return render_template("journey/pictures.html", story=story, pictures=_pictures(story, _plan(story)))


def add_picture(stream, kind: str, **meta) -> tuple[int, int]:
    """Keep a picture in her story: its pixels only, on her storyboard, faces looked for at once.

    The one way a picture comes in, from the laptop's picture page and from her phone.
    Returns (asset, job). Raises a UserError she may read: not a picture, or a full storyboard.
    """
    story = current_story()
    if len(_plan(story).pictures) >= plans.MAX_PICTURES:  # before the work of reading it
        raise plans.PlanError(plans.TOO_MANY_PICTURES)
    db, vault = get_db(), get_vault(story.id)
    picture = intake.receive_picture(vault, stream)
    size = vault.size(picture.vault_name)
    try:
        # Her plan is read again under the write lock: two pictures that both started at 59 (two
        # phone uploads) cannot both take the last place, nor one overwrite the other's.
        with stories.write_transaction(db):
            asset_id = stories.add_asset(
                db,
                story.id,
                kind,
                picture.vault_name,
                media_type=picture.media_type,
                size_bytes=size,
                meta={"width": picture.width, "height": picture.height, **meta},
            )
            _save(plans.with_picture(_plan(stories.get_story(db, story.id, unlocked_key())), asset_id))
    except BaseException:
        vault.delete(picture.vault_name)
        raise
    return asset_id, _start("photo_faces", asset=asset_id)


@bp.post("/pictures/add")
@participant_required
def picture_add():
    """A photo, a drawing or a webcam picture: only its pixels are kept, then faces are looked for at once."""
    upload = request.files.get("picture")
    if upload is None or not upload.filename:
        return _reply(_("Choose a picture first."), "journey.pictures", 400)
    kind = "drawing" if request.form.get("kind") == "drawing" else "photo"
    try:
        asset_id, job_id = add_picture(upload.stream, kind, webcam=request.form.get("source") == "webcam")
    except (intake.PictureRefused, plans.PlanError) as exc:
        return _reply(_(str(exc)), "journey.pictures", 400)
    return _reply(_("Your picture is added. Faces are being covered."), "journey.pictures", asset=asset_id, job=job_id)


def _box_list(value, width: int, height: int) -> list[list[int]]:
    if not isinstance(value, list) or len(value) > 50:
        abort(400)
    boxes = []
    for box in value:
        if not (isinstance(box, list) and len(box) >= 4 and all(isinstance(v, (int, float)) for v in box[:4])):
            abort(400)
        x1, y1, x2, y2 = (round(v) for v in box[:4])
        x1, x2 = max(0, min(x1, x2)), min(width, max(x1, x2))
        y1, y2 = max(0, min(y1, y2)), min(height, max(y1, y2))
        if x2 - x1 >= 4 and y2 - y1 >= 4:
            boxes.append([x1, y1, x2, y2])
    return boxes


@bp.post("/pictures/<int:asset_id>/boxes")
@participant_required
def picture_boxes(asset_id: int):
    """Her corrections: boxes she added, and faces she chose to show (a person's decision)."""
    asset = story_asset_or_404(asset_id)
    if asset.kind not in ("photo", "drawing"):
        abort(404)
    data = request.get_json(silent=True) or {}
    w, h = asset.meta.get("width", 1), asset.meta.get("height", 1)
    edits = {"add": _box_list(data.get("add", []), w, h), "remove": _box_list(data.get("remove", []), w, h)}
    stories.merge_asset_meta(get_db(), asset.id, edits)
    return jsonify(job=_start("photo_faces", asset=asset.id))


@bp.post("/pictures/order")
@participant_required
def picture_order():
    data = request.get_json(silent=True) or {}
    order = data.get("order")
    if not isinstance(order, list) or not all(isinstance(i, int) for i in order):
        abort(400)
    try:
        _save(plans.reordered(_plan(), order))
    except plans.PlanError as exc:
        return _plan_error(exc, "journey.pictures")
    return jsonify(saved=True)


@bp.post("/pictures/<int:asset_id>/move")
@participant_required
def picture_move(asset_id: int):
    story_asset_or_404(asset_id)
    step = -1 if request.form.get("direction") == "up" else 1
    try:
        _save(plans.moved(_plan(), asset_id, step))
    except plans.PlanError as exc:
        return _plan_error(exc, "journey.pictures")
    return _reply("", "journey.pictures", saved=True)


@bp.post("/pictures/<int:asset_id>/motion")
@participant_required
def picture_motion(asset_id: int):
    story_asset_or_404(asset_id)
    try:
        _save(plans.with_motion(_plan(), asset_id, request.form.get("motion", "")))
    except plans.PlanError as exc:
        return _plan_error(exc, "journey.pictures")
    return _reply(_("Saved."), "journey.pictures", saved=True)


@bp.post("/pictures/<int:asset_id>/delete")
@participant_required
def picture_delete(asset_id: int):
    asset = story_asset_or_404(asset_id)
    if asset.kind not in ("photo", "drawing"):
        abort(404)
    db, vault = get_db(), get_vault(asset.story_id)
    _save(plans.without_picture(_plan(), asset_id))
    masked = stories.story_asset(db, asset.story_id, asset.meta.get("masked_asset") or 0)
    if masked is not None:
        stories.remove_asset(db, vault, masked)
    stories.remove_asset(db, vault, asset)
    return _reply(_("The picture is deleted."), "journey.pictures", deleted=True)


# ----------------------------------------------------------------- 6. voice
@bp.get("/voice")
@participant_required
def voice():
    story = _enter("voice")
    plan, audience = _plan(story), _audience(story)
    chosen = plans.chosen_voice(plan, audience)
    preview = _latest_job("voice_preview")
    return render_template(
        "journey/voice.html",
        story=story,
        choices=VOICE_CHOICES,
        chosen=chosen,
        audience=audience,
        audience_words=AUDIENCE_WORDS[audience],
        default=plans.default_voice(audience),
        weaker={m: plans.weaker_than_audience(m, audience) for m in VOICE_CHOICES},
        used=plans.voice_for_render(plan, audience),
        has_recording=bool(narration_parts(get_db(), story.id)),
        preview=preview if preview and not preview.finished else None,
    )


@bp.post("/voice")
@participant_required
def voice_save():
    method = request.form.get("method", "")
    try:
        _save(_plan().with_changes(voice=method, voice_confirmed=False))
    except plans.PlanError as exc:
        return _plan_error(exc, "journey.voice")
    return _reply(_("Your choice is saved."), "journey.voice", saved=True)


@bp.post("/voice/preview")
@participant_required
def voice_preview():
    method = request.form.get("method", "")
    if method not in VOICE_CHOICES:
        abort(400)
    if not narration_parts(get_db(), current_story().id):
        return _reply(_("There is no recording yet. Record your story first."), "journey.voice", 409)
    return _reply("", "journey.voice", job=_start("voice_preview", method=method))


# ----------------------------------------------------------------- 7. subtitles
@bp.get("/subtitles")
@participant_required
def subtitles():
    story = _enter("subtitles")
    plan = _plan(story)
    parts = narration_parts(get_db(), story.id)
    listen = next(
        (
            a
            for a in stories.story_assets(get_db(), story.id, "other")
            if a.meta.get("role") == "narration-listen" and a.meta.get("for") == plan.cues_for
        ),
        None,
    )
    running = _latest_job("subtitles")
    said = running.result.get("warnings", []) if running and running.state == "done" else []
    return render_template(
        "journey/subtitles.html",
        story=story,
        plan=plan,
        has_recording=bool(parts),
        warnings=[_(w) for w in said],
        cues_fit=bool(parts) and plan.cues_for == narration_key(parts),
        listen_url=_asset_url(listen.id if listen else None),
        job=running if running and running.state != "done" else None,
        rtl=story.language in ("ur", "pa", "ps", "sd", "fa", "prs"),
    )


@bp.post("/subtitles/make")
@participant_required
def subtitles_make():
    story = current_story()
    if not narration_parts(get_db(), story.id):
        return _reply(_("There is no recording yet. Record your story first."), "journey.subtitles", 409)
    words = [w for w in request.form.get("hidden", "").splitlines() if w.strip()]
    try:
        _save(_plan(story).with_changes(hidden_words=words))
    except plans.PlanError as exc:
        return _plan_error(exc, "journey.subtitles")
    return _reply(
        _("Listening to your recording…"), "journey.subtitles", job=_start("subtitles", translate=request.form.get("english") == "1")
    )


@bp.post("/subtitles/save")
@participant_required
def subtitles_save():
    """Her corrected lines (text and times); the hidden words stay blacked out whatever she typed."""
    data = request.get_json(silent=True) or {}
    changes = {k: data[k] for k in ("cues", "english", "burn") if k in data}
    try:
        _save(_plan().with_changes(**changes))
    except plans.PlanError as exc:
        return _plan_error(exc, "journey.subtitles")
    return jsonify(saved=True, message=_("Saved."))


# ----------------------------------------------------------------- 8. music and titles
@bp.get("/music")
@participant_required
def music():
    story = _enter("music")
    plan = _plan(story)
    return render_template(
        "journey/music.html",
        story=story,
        plan=plan,
        tracks=music_tracks(),
        title=plan.title or story.title,
        end_card=plan.end_card or default_end_card(),
    )


def default_end_card() -> str:
    """Her kit's end card (organisation, hashtag, helplines, then tips while they fit), else a plain line."""
    kit = her_kit()
    if kit is None:
        return _("Made in a digital storytelling workshop.")
    card = kit.text(str(get_locale())).end_card
    lines = [line for line in (card.organisation, card.hashtag, *card.helplines, *card.tips) if line]
    while lines and len("\n".join(lines)) > 200:  # plans.py refuses a longer end card
        lines.pop()
    return "\n".join(lines) or _("Made in a digital storytelling workshop.")


@bp.post("/music")
@participant_required
def music_save():
    track = request.form.get("track") or None
    if track is not None and track not in music_tracks():
        return _reply(_("Choose one of the music tracks, or none."), "journey.music", 400)
    try:
        volume = float(request.form.get("volume", "30")) / 100.0
    except ValueError:
        return _reply(_("The music volume must be between 0 and 1."), "journey.music", 400)
    try:
        _save(
            _plan().with_changes(
                music=track, music_volume=volume, title=request.form.get("title", ""), end_card=request.form.get("end_card", "")
            )
        )
    except plans.PlanError as exc:  # its own sentence: a too-long title says so, not "volume"
        return _plan_error(exc, "journey.music")
    return _reply(_("Saved."), "journey.music", saved=True)


@bp.get("/music/track/<name>")
@participant_required
def music_track(name: str):
    if name not in music_tracks():
        abort(404)
    return send_file(MUSIC_DIR / f"{name}.ogg", mimetype="audio/ogg", conditional=True)


# ----------------------------------------------------------------- 9. preview and render
def _latest_export(quality: str) -> stories.Asset | None:
    found = [a for a in stories.story_assets(get_db(), current_story().id, "export") if a.meta.get("quality") == quality]
    return found[-1] if found else None


@bp.get("/render")
@participant_required
def render():
    story = _enter("render")
    job = _latest_job("render_story")
    preview = _latest_export("preview")
    return render_template(
        "journey/render.html",
        story=story,
        plan=_plan(story),
        aspects=ASPECT_CHOICES,
        job=job,
        preview_url=_asset_url(preview.id if preview else None),
        final=_latest_export("final"),
    )


@bp.post("/render")
@participant_required
def render_start():
    quality = request.form.get("quality", "preview")
    aspect = request.form.get("aspect", "")
    if quality not in ("preview", "final") or aspect not in plans.ASPECTS:
        abort(400)
    running = _latest_job("render_story")
    if running is not None and not running.finished:
        return _reply(_("A video is already being made. Wait for it, or stop it first."), "journey.render", 409, job=running.id)
    _save(_plan().with_changes(aspect=aspect))
    return _reply("", "journey.render", job=_start("render_story", quality=quality, aspect=aspect))


# ----------------------------------------------------------------- 10. screening
@bp.get("/screening")
@participant_required
def screening():
    story = _enter("screening")
    final = _latest_export("final")
    return render_template("journey/screening.html", story=story, final_url=_asset_url(final.id if final else None), final=final)


@bp.post("/screening/ready")
@participant_required
def screening_ready():
    story = current_story()
    if _latest_export("final") is None:
        return _reply(_("Make the final video first."), "journey.screening", 409)
    ready = request.form.get("ready") == "1"
    stories.set_status(get_db(), story.id, "ready" if ready else "draft")
    return _reply(
        _("Your video is marked ready for the facilitator.")
        if ready
        else _("Your video is no longer marked ready. Change anything you like."),
        "journey.screening",
    )
