"""Workshops at the desk: the list, a new one from a kit, and each workshop's dashboard.

The dashboard shows where each participant is and how her jobs are going, never
her words, pictures or recordings. Its figures come from ``status.json``, which
desk.js asks for every few seconds.
"""

from __future__ import annotations

import secrets
import shutil

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from storyteller.jobs import state
from storyteller.store import participants as people
from storyteller.store import plans, stories
from storyteller.store import workshops as store
from storyteller.store.kits import kit_of, list_kits
from storyteller.web.context import get_db, unlocked_key
from storyteller.web.desk.access import desk_required, desk_signed_in
from storyteller.web.desk.blueprint import bp
from storyteller.web.desk.forms import ManyParticipantsForm, ParticipantForm, WorkshopForm
from storyteller.web.journey.media import JOB_STAGES

# Below this much free space in the data folder the dashboard warns: a final video and its
# working files take a few hundred megabytes, and a full disk can lose a recording.
LOW_DISK_BYTES = 2 * 1024**3
STEP_WORDS = {
    "consent": _l("Consent"),
    "story": _l("Story"),
    "record": _l("Record"),
    "pictures": _l("Pictures"),
    "voice": _l("Voice"),
    "subtitles": _l("Subtitles"),
    "music": _l("Music and titles"),
    "render": _l("Make the video"),
    "screening": _l("Watch"),
}
STATUS_WORDS = {"draft": _l("Working on it"), "ready": _l("Ready to screen"), "none": _l("Not signed in yet")}
JOB_KIND_WORDS = {
    "photo_faces": _l("Covering faces in a picture"),
    "voice_preview": _l("Voice sample"),
    "subtitles": _l("Subtitles"),
    "render_story": _l("Video"),
    "demo": _l("Sample video"),
}
JOB_STATE_WORDS = {
    "queued": _l("Waiting to start…"),
    "running": _l("Working…"),
    "done": _l("Finished."),
    "failed": _l("It did not work."),
    "interrupted": _l("Interrupted; starting again…"),
    "cancelled": _l("Stopped."),
}


def ui_language() -> str:
    return str(get_locale())


def workshop_or_404(workshop_id: int) -> store.Workshop:
    workshop = store.get_workshop(get_db(), workshop_id)
    if workshop is None:
        abort(404)
    return workshop


def new_pin() -> str:
    return f"{secrets.randbelow(10_000):04d}"


@bp.get("/workshops")
@desk_required
def workshops():
    return render_template("desk/workshops.html", workshops=store.list_workshops(get_db()), broken=list_kits().broken)


@bp.route("/workshops/new", methods=["GET", "POST"])
@desk_required
def new_workshop():
    shelf = list_kits()
    form = WorkshopForm()
    form.offer_kits(shelf.kits, ui_language())
    if request.method == "GET":
        form.language.data = "ur" if ui_language() == "ur" else form.language.data
    if form.validate_on_submit():
        try:
            workshop_id = store.create_workshop(get_db(), form.name.data, form.language.data, form.place.data or "", kit=form.kit.data)
        except ValueError as exc:
            form.name.errors.append(_(str(exc)))
        else:
            flash(_("Workshop “%(name)s” created.", name=form.name.data.strip()))
            return redirect(url_for("desk.workshop", workshop_id=workshop_id))
    kits = {kit.id: kit for kit in shelf.kits}
    return render_template("desk/new_workshop.html", form=form, kits=kits, broken=shelf.broken, languages=store.LANGUAGES)


def _kit_summary(workshop: store.Workshop):
    kit = kit_of(workshop)
    if kit is None:
        return None, []
    return kit, list(kit.public_gaps(workshop.language))


@bp.route("/workshops/<int:workshop_id>", methods=["GET", "POST"])
@desk_required
def workshop(workshop_id: int):
    """One workshop: its dashboard, and adding a participant (her PIN is shown once, here)."""
    db = get_db()
    workshop = workshop_or_404(workshop_id)
    form = ParticipantForm()
    added = None
    if form.validate_on_submit():
        pin = (form.pin.data or "").strip() or new_pin()
        try:
            people.add_participant(db, workshop.id, form.alias.data, pin)
        except people.ParticipantError as exc:
            (form.pin if "PIN" in str(exc) else form.alias).errors.append(_(str(exc)))
        else:
            added = [{"alias": " ".join(form.alias.data.split()), "pin": pin}]
            form = ParticipantForm(formdata=None)
    kit, gaps = _kit_summary(workshop)
    return render_template(
        "desk/workshop.html",
        workshop=workshop,
        kit=kit,
        kit_gaps=gaps,
        rows=dashboard_rows(workshop.id),
        warnings=dashboard_warnings(workshop.id),
        form=form,
        added=added,
    )


@bp.route("/workshops/<int:workshop_id>/cards", methods=["GET", "POST"])
@desk_required
def cards(workshop_id: int):
    """Several participants at once, each with a new PIN, on cards to print and cut (shown this once)."""
    db = get_db()
    workshop = workshop_or_404(workshop_id)
    form = ManyParticipantsForm()
    added, problems = [], []
    if form.validate_on_submit():
        for line in form.aliases.data.splitlines():
            if not line.strip():
                continue
            pin = new_pin()
            try:
                people.add_participant(db, workshop.id, line, pin)
            except people.ParticipantError as exc:
                problems.append(f"{' '.join(line.split())[:60]}: {_(str(exc))}")
            else:
                added.append({"alias": " ".join(line.split()), "pin": pin})
        if added:
            form = ManyParticipantsForm(formdata=None)
    return render_template("desk/cards.html", workshop=workshop, form=form, added=added, problems=problems)


# -- the dashboard ------------------------------------------------------------------
def _job_json(job: state.Job) -> dict:
    data = {
        "kind": str(JOB_KIND_WORDS.get(job.kind, job.kind)),
        "state": job.state,
        "state_words": str(JOB_STATE_WORDS.get(job.state, job.state)),
        "stage_words": str(JOB_STAGES.get(job.stage, "")) if job.state == "running" else "",
        "progress": round(job.progress, 3),
    }
    if job.state == "failed":
        data["error"] = _(job.error) if job.error else _("The work could not be finished.")
    return data


def _recent_jobs(story_id: int) -> list[state.Job]:
    """The newest job of each kind for one story: what is happening now, or how it last ended."""
    newest: dict[str, state.Job] = {}
    for row in get_db().execute("SELECT id FROM jobs WHERE story_id = ? ORDER BY id DESC LIMIT 30", (story_id,)):
        job = state.get_job(get_db(), row["id"])
        newest.setdefault(job.kind, job)
    return sorted(newest.values(), key=lambda j: j.id)


def dashboard_rows(workshop_id: int) -> list[dict]:
    """Each participant's step, status and jobs; nothing of what she wrote, recorded or chose.

    One exception she asks for herself: ``voice`` says whether a weaker voice than her
    audience needs waits for the facilitator ("asked") or has their yes ("agreed").
    """
    rows = get_db().execute(
        "SELECT p.id, p.alias, s.id AS story_id, s.step, s.status FROM participants p "
        "LEFT JOIN stories s ON s.participant_id = p.id WHERE p.workshop_id = ? ORDER BY p.alias COLLATE NOCASE, p.id",
        (workshop_id,),
    )
    result = []
    for row in rows:
        jobs = _recent_jobs(row["story_id"]) if row["story_id"] else []
        result.append(
            {
                "id": row["id"],
                "alias": row["alias"],
                "step": row["step"] or "",
                "step_words": str(STEP_WORDS.get(row["step"], "")) if row["step"] else "",
                "status": row["status"] or "none",
                "status_words": str(STATUS_WORDS[row["status"] or "none"]),
                "story_id": row["story_id"],
                "jobs": [_job_json(job) for job in jobs],
                "voice": _voice_request(row["story_id"]) if row["story_id"] else "",
            }
        )
    return result


def _voice_request(story_id: int) -> str:
    plan = plans.plan_or_new(stories.get_story(get_db(), story_id, unlocked_key()).plan)
    return plans.voice_request(plan, plans.audience_now(get_db(), story_id, unlocked_key()))


def dashboard_warnings(workshop_id: int) -> list[str]:
    """What needs the facilitator now: a nearly full disk, a failed job (with its plain reason)."""
    warnings = []
    free = shutil.disk_usage(current_app.config["DATA_DIR"]).free
    if free < current_app.config.get("LOW_DISK_BYTES", LOW_DISK_BYTES):
        warnings.append(
            _(
                "The disk is nearly full: %(free)s left. Move finished videos off this laptop before more recordings are made.",
                free=disk_size_words(free),
            )
        )
    workshop = store.get_workshop(get_db(), workshop_id)
    kit = kit_of(workshop)
    rows = dashboard_rows(workshop_id)
    if kit is not None and kit.public_gaps(workshop.language):
        for row in rows:
            consent = stories.current_consent(get_db(), row["story_id"], unlocked_key()) if row["story_id"] else None
            if consent is not None and consent.level == "public":
                warnings.append(
                    _(
                        "%(alias)s chose a public campaign, and the kit's end card has no helplines or organisation yet. Fill them in before her video is made.",
                        alias=row["alias"],
                    )
                )
    for row in rows:
        if row["voice"] == "asked":
            warnings.append(
                _(
                    "%(alias)s chose a voice that protects less than her audience needs. It waits for your answer: “Her voice” in her row.",
                    alias=row["alias"],
                )
            )
        for job in row["jobs"]:
            if job["state"] == "failed":
                warnings.append(
                    _("%(alias)s: %(work)s did not work: %(reason)s", alias=row["alias"], work=job["kind"], reason=job["error"])
                )
    return warnings


def disk_size_words(count: int) -> str:
    return _("%(gb).1f GB", gb=count / 1024**3) if count >= 1024**3 else _("%(mb)d MB", mb=count // 1024**2)


@bp.get("/workshops/<int:workshop_id>/status.json")
def status(workshop_id: int):
    """The dashboard's figures. Asking for them does not keep the desk open: only a person does."""
    if not desk_signed_in():
        abort(401)
    workshop_or_404(workshop_id)
    return jsonify(participants=dashboard_rows(workshop_id), warnings=dashboard_warnings(workshop_id))
