"""The export and wipe buttons. What they do belongs to the privacy work (``storyteller export`` and
``storyteller wipe``); until those functions are on this laptop the buttons say so plainly."""

from __future__ import annotations

import importlib

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from storyteller.errors import N_
from storyteller.store import stories
from storyteller.web.context import get_db
from storyteller.web.desk.access import desk_required
from storyteller.web.desk.blueprint import bp
from storyteller.web.desk.workshops import workshop_or_404

NOT_YET = N_("This is not available yet in this version of Storyteller. Nothing was changed.")


def _function(module: str, name: str):
    """The privacy work's function, or None while it is not part of this version."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


@bp.post("/stories/<int:story_id>/export")
@desk_required
def export(story_id: int):
    story = stories.get_story(get_db(), story_id)
    if story is None:
        abort(404)
    workshop_id = get_db().execute("SELECT workshop_id FROM participants WHERE id = ?", (story.participant_id,)).fetchone()[0]
    export_story = _function("storyteller.jobs.export", "export_story")
    if export_story is None:
        flash(_(NOT_YET))
    else:
        try:
            export_story(get_db(), current_app.config["DATA_DIR"], story.id)
        except ValueError as exc:  # a UserError: its sentence is for the facilitator
            flash(_(str(exc)))
        else:
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
            wipe_workshop = _function("storyteller.store.wipe", "wipe_workshop")
            if wipe_workshop is None:
                flash(_(NOT_YET))
                return redirect(url_for("desk.workshop", workshop_id=workshop.id))
            wipe_workshop(get_db(), current_app.config["DATA_DIR"], workshop.id)
            flash(_("The workshop “%(name)s” is wiped from this laptop.", name=workshop.name))
            return redirect(url_for("desk.workshops"))
    return render_template("desk/wipe.html", workshop=workshop, error=error)
