"""One participant at the desk: a new PIN when she forgot hers, or removing her and her story.

Neither page shows anything of her story: the facilitator helps without reading.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from storyteller.store import participants as people
from storyteller.store import workshops as store
from storyteller.store.vault import vault_for
from storyteller.web.context import get_db
from storyteller.web.desk.access import desk_required
from storyteller.web.desk.blueprint import bp
from storyteller.web.desk.forms import ResetPinForm
from storyteller.web.desk.workshops import new_pin


def participant_or_404(participant_id: int) -> tuple[people.Participant, store.Workshop]:
    participant = people.get_participant(get_db(), participant_id)
    if participant is None:
        abort(404)
    return participant, store.get_workshop(get_db(), participant.workshop_id)


@bp.route("/participants/<int:participant_id>/pin", methods=["GET", "POST"])
@desk_required
def reset_pin(participant_id: int):
    participant, workshop = participant_or_404(participant_id)
    form = ResetPinForm()
    added = None
    if form.validate_on_submit():
        pin = (form.pin.data or "").strip() or new_pin()
        try:
            people.reset_pin(get_db(), participant.id, pin)
        except people.ParticipantError as exc:
            form.pin.errors.append(_(str(exc)))
        else:
            added = [{"alias": participant.alias, "pin": pin}]
    return render_template("desk/reset_pin.html", participant=participant, workshop=workshop, form=form, added=added)


@bp.route("/participants/<int:participant_id>/remove", methods=["GET", "POST"])
@desk_required
def remove(participant_id: int):
    """One confirmation, then she is gone with her story, its files and its jobs."""
    participant, workshop = participant_or_404(participant_id)
    if request.method == "POST":
        people.remove_participant(get_db(), vault_for(current_app.config["DATA_DIR"]), participant.id)  # removing needs no key
        flash(_("%(alias)s and her story are removed from this laptop.", alias=participant.alias))
        return redirect(url_for("desk.workshop", workshop_id=workshop.id))
    return render_template("desk/remove.html", participant=participant, workshop=workshop)
