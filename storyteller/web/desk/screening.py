"""The closing circle: the ready stories of a workshop, in the facilitator's order, played one after another.

A story plays only while her newest consent row allows a screening; it is checked
when the playlist page is drawn and again when each video is served, so a consent
withdrawn during the circle stops her video from being shown.
"""

from __future__ import annotations

from dataclasses import replace

from flask import abort, redirect, render_template, request, url_for

from storyteller.store import stories
from storyteller.store import workshops as store
from storyteller.web.context import get_db, get_vault, unlocked_key
from storyteller.web.desk.access import desk_required
from storyteller.web.desk.blueprint import bp
from storyteller.web.desk.workshops import workshop_or_404
from storyteller.web.vault_media import send_from_vault


def consent_allows_screening(story_id: int) -> bool:
    """Any current consent level includes the workshop's own screening; a withdrawn or absent one does not."""
    consent = stories.current_consent(get_db(), story_id, unlocked_key())
    return consent is not None and consent.level in stories.CONSENT_LEVELS


def _playlist(workshop_id: int) -> tuple[list[store.ScreeningEntry], list[store.ScreeningEntry]]:
    """(what may play, what may not because of consent), both in the facilitator's order."""
    # Titles are sealed with each story's key: the playlist's query cannot read them.
    entries = [
        replace(e, title=stories.get_story(get_db(), e.story_id, unlocked_key()).title)
        for e in store.screening_playlist(get_db(), workshop_id)
    ]
    allowed = [e for e in entries if consent_allows_screening(e.story_id)]
    return allowed, [e for e in entries if e not in allowed]


@bp.get("/workshops/<int:workshop_id>/screening")
@desk_required
def screening(workshop_id: int):
    workshop = workshop_or_404(workshop_id)
    allowed, held_back = _playlist(workshop.id)
    return render_template("desk/screening.html", workshop=workshop, playlist=allowed, held_back=held_back)


@bp.post("/workshops/<int:workshop_id>/screening/move")
@desk_required
def screening_move(workshop_id: int):
    workshop = workshop_or_404(workshop_id)
    offset = {"up": -1, "down": 1}.get(request.form.get("direction", ""))
    story_id = request.form.get("story", type=int)
    if offset is None or story_id is None:
        abort(400)
    store.move_in_playlist(get_db(), workshop.id, story_id, offset)
    return redirect(url_for("desk.screening", workshop_id=workshop.id))


@bp.get("/workshops/<int:workshop_id>/screening/play")
@desk_required
def screening_play(workshop_id: int):
    workshop = workshop_or_404(workshop_id)
    allowed, _held_back = _playlist(workshop.id)
    return render_template("desk/screening_play.html", workshop=workshop, playlist=allowed)


@bp.get("/screening/video/<int:story_id>")
@desk_required
def screening_video(story_id: int):
    """The newest final video of a ready story, only while her consent allows a screening."""
    story = stories.get_story(get_db(), story_id, unlocked_key())
    if story is None or story.status != "ready" or not consent_allows_screening(story.id):
        abort(404)
    workshop_id = get_db().execute("SELECT workshop_id FROM participants WHERE id = ?", (story.participant_id,)).fetchone()[0]
    entry = next((e for e in store.screening_playlist(get_db(), workshop_id) if e.story_id == story.id), None)
    if entry is None:
        abort(404)
    vault = get_vault(story.id)
    if not vault.exists(entry.video):
        abort(404)
    return send_from_vault(vault, entry.video, "video/mp4", download_name="story.mp4")
