"""Her request for a weaker voice, at the desk: the honest label, and the facilitator's yes (or taking it back).

Issue 14: a voice that protects less than her audience needs goes into her
video only after a facilitator agrees, with what it protects and what it does
not in front of them. The page shows her voice choice and nothing else of her story.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from storyteller.store import plans, stories
from storyteller.web.context import get_db, unlocked_key
from storyteller.web.desk.access import desk_required
from storyteller.web.desk.blueprint import bp
from storyteller.web.desk.people import participant_or_404
from storyteller.web.journey.media import AUDIENCE_WORDS, VOICE_CHOICES


def _her_story(participant_id: int) -> stories.Story | None:
    """Her story, if she has signed in once (the desk never makes one)."""
    row = get_db().execute("SELECT id FROM stories WHERE participant_id = ?", (participant_id,)).fetchone()
    return stories.get_story(get_db(), row["id"], unlocked_key()) if row else None


def _her_story_or_404(participant_id: int) -> stories.Story:
    participant_or_404(participant_id)
    story = _her_story(participant_id)
    if story is None:
        abort(404)
    return story


@bp.get("/participants/<int:participant_id>/voice")
@desk_required
def voice_request(participant_id: int):
    participant, workshop = participant_or_404(participant_id)
    story = _her_story(participant.id)
    plan = plans.plan_or_new(story.plan if story else None)
    audience = plans.audience_now(get_db(), story.id, unlocked_key()) if story else "public"
    return render_template(
        "desk/voice.html",
        participant=participant,
        workshop=workshop,
        state=plans.voice_request(plan, audience) if story else "",
        chosen=plans.chosen_voice(plan, audience),
        default=plans.default_voice(audience),
        audience=audience,
        audience_words=AUDIENCE_WORDS[audience],
        choices=VOICE_CHOICES,
    )


@bp.post("/participants/<int:participant_id>/voice/confirm")
@desk_required
def voice_confirm(participant_id: int):
    story = _her_story_or_404(participant_id)
    try:
        plans.confirm_weaker_voice(get_db(), story.id, request.form.get("method", ""), unlocked_key(), request.form.get("audience", ""))
    except plans.PlanError as exc:
        flash(_(str(exc)))
    else:
        flash(_("You agreed. Her video will use the voice she chose."))
    return redirect(url_for("desk.voice_request", participant_id=participant_id))


@bp.post("/participants/<int:participant_id>/voice/withdraw")
@desk_required
def voice_withdraw(participant_id: int):
    story = _her_story_or_404(participant_id)
    plans.withdraw_voice_confirmation(get_db(), story.id, unlocked_key())
    flash(_("Your agreement is taken back. Her video uses the voice suggested for her audience."))
    return redirect(url_for("desk.voice_request", participant_id=participant_id))
