"""The export and wipe buttons: the same work as ``storyteller export`` and ``storyteller wipe``.

An export is a job (it may render a shape), so the dashboard shows its progress;
consent is checked when the package is made. A wipe asks for the workshop's name.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from storyteller.jobs import state
from storyteller.jobs.export import EXPORT_NEEDS
from storyteller.jobs.export import REFUSED as EXPORT_REFUSED
from storyteller.jobs.queue import enqueue
from storyteller.store import stories
from storyteller.store.wipe import SSD_WARNING, wipe_workshop
from storyteller.web.context import get_db, get_huey, unlocked_key
from storyteller.web.desk.access import desk_required
from storyteller.web.desk.blueprint import bp
from storyteller.web.desk.workshops import workshop_or_404


@bp.post("/stories/<int:story_id>/export")
@desk_required
def export(story_id: int):
    story = stories.get_story(get_db(), story_id, unlocked_key())
    if story is None:
        abort(404)
    workshop_id = get_db().execute("SELECT workshop_id FROM participants WHERE id = ?", (story.participant_id,)).fetchone()[0]
    if not stories.consent_allows(get_db(), story.id, EXPORT_NEEDS, unlocked_key()):
        flash(_(EXPORT_REFUSED))
    else:
        job_id = state.create_job(get_db(), "export", {}, story_id=story.id)
        enqueue(get_huey(), job_id, current_app.config["DATA_DIR"])
        flash(_("The export is being made. It will be in the exports folder."))
    return redirect(url_for("desk.workshop", workshop_id=workshop_id))


@bp.route("/workshops/<int:workshop_id>/wipe", methods=["GET", "POST"])
@desk_required
def wipe(workshop_id: int):
    """Wiping asks for the workshop's name, typed: a wipe cannot be undone."""
    workshop = workshop_or_404(workshop_id)
    error = None
    if request.method == "POST":
        if " ".join(request.form.get("confirm", "").split()) != " ".join(workshop.name.split()):
            error = _("The name is not the same. Nothing was wiped.")
        else:
            wipe_workshop(get_db(), current_app.config["DATA_DIR"], workshop.id)
            flash(_("The workshop “%(name)s” is wiped from this laptop.", name=workshop.name))
            return redirect(url_for("desk.workshops"))
    return render_template("desk/wipe.html", workshop=workshop, error=error, ssd_warning=_(SSD_WARNING))
