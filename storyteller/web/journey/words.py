"""Steps 1-4 of her journey: sign in, consent, write the story, record it.

Views only validate, call the store and render; media checks live in
``storyteller.jobs.checks``.
"""

from __future__ import annotations

import math

from flask import abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from storyteller.store import participants as people
from storyteller.store import stories
from storyteller.store.workshops import list_workshops
from storyteller.web.context import get_db
from storyteller.web.journey import bp
from storyteller.web.journey.access import (
    SESSION_WORKSHOP,
    current_participant,
    current_story,
    lock_session,
    participant_required,
    sign_in_session,
)

# Bump when the consent wording changes: each consent row records the version she was shown.
CONSENT_TEXT_VERSION = "2026-11-30"
CONSENT_CHOICES = (
    ("workshop", _l("Only at the workshop screening"),
     _l("Your video is shown once, to the people in this workshop. It is not copied anywhere else.")),
    ("organisation", _l("Inside the organisation"),
     _l("The organisation's staff may watch it and show it in their trainings. It is not put on the internet.")),
    ("public", _l("A public campaign"),
     _l("Your video may be shared on the internet and social media, with your face covered and your voice changed.")),
)
# Spoken stories run at about 130 words a minute: 250-350 words make 2-3 minutes.
WORDS_PER_MINUTE = 130


def step_endpoint(step: str) -> str:
    return f"journey.{step}"


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    """Pick the workshop (once), then her pseudonym, then her PIN."""
    db = get_db()
    workshops = list_workshops(db)
    asked = request.values.get("workshop", type=int)
    if asked is not None:  # a workshop from the list, or 0 for "another workshop"
        session.pop(SESSION_WORKSHOP, None)
        if any(w.id == asked for w in workshops):
            session[SESSION_WORKSHOP] = asked
    workshop = next((w for w in workshops if w.id == session.get(SESSION_WORKSHOP)), None)
    if workshop is None:
        return render_template("journey/signin.html", workshops=workshops, workshop=None)
    error, chosen = None, request.form.get("participant", type=int)
    if request.method == "POST":
        if chosen is None:
            error = _("Choose your name from the list.")
        else:
            result = people.sign_in(db, workshop.id, chosen, request.form.get("pin", ""))
            if result.participant is not None:
                sign_in_session(result.participant)
                story = current_story()
                return redirect(url_for(step_endpoint(story.step if stories.current_consent(db, story.id) else "consent")))
            if not result.checked:
                error = _("Too many wrong tries. Wait %(seconds)d seconds, then try again.", seconds=math.ceil(result.wait_seconds))
            else:
                error = _("That PIN is not right. Try again.")
    elif current_participant() is not None:
        return redirect(url_for("journey.consent"))
    return render_template(
        "journey/signin.html", workshops=workshops, workshop=workshop,
        participants=people.list_participants(db, workshop.id), chosen=chosen, error=error,
        locked=request.args.get("locked") == "1",
    )


@bp.route("/lock", methods=["GET", "POST"])
def lock():
    """The Lock button and the idle timer: her story leaves the screen, sign-in shows."""
    lock_session()
    return redirect(url_for("journey.signin"))


@bp.route("/consent", methods=["GET", "POST"])
@participant_required
def consent():
    db, story = get_db(), current_story()
    if request.method == "POST":
        level = request.form.get("level", "")
        if level not in stories.CONSENT_LEVELS:
            flash(_("Choose one of the three choices."))
            return redirect(url_for("journey.consent"))
        stories.record_consent(db, story.id, level, CONSENT_TEXT_VERSION, session.get("lang") or story.language)
        flash(_("Your choice is saved. You can change it at any time."))
        return redirect(url_for("journey.story"))
    stories.set_step(db, story.id, "consent")
    return render_template(
        "journey/consent.html", story=story, choices=CONSENT_CHOICES, current=stories.current_consent(db, story.id),
        history=stories.consent_history(db, story.id),
    )


@bp.get("/write")
@participant_required
def story():
    story = current_story()
    stories.set_step(get_db(), story.id, "story")
    return render_template("journey/story.html", story=story, prompts=writing_prompts(), words_per_minute=WORDS_PER_MINUTE)


@bp.post("/write/save")
@participant_required
def save_story():
    """Autosave (fetch every few seconds, and a beacon when she leaves the page)."""
    story = current_story()
    script = request.form.get("script")
    base = request.form.get("revision", type=int)
    if script is None or base is None:
        abort(400)
    try:
        saved = stories.save_script(get_db(), story.id, script.replace("\r\n", "\n"), base, request.form.get("title"))
    except stories.StoryError as exc:
        return jsonify(saved=False, message=_(str(exc))), 413
    return jsonify(saved=True, revision=saved.revision, other_tab_text=saved.replaced_other_tab)


def writing_prompts() -> list[str]:
    """A gentle built-in set until workshop kits bring their own."""
    return [
        _("Think of a moment that changed something for you. Where were you? What did you see and hear?"),
        _("Who or what gave you strength? Tell us about them."),
        _("What do you know now that you did not know before?"),
        _("What would you like another girl or woman to hear from you?"),
        _("You decide what to share. You do not have to tell anything you do not want to."),
    ]


@bp.get("/record")
@participant_required
def record():
    story = current_story()
    stories.set_step(get_db(), story.id, "record")
    paragraphs = [p.strip() for p in story.script.split("\n\n") if p.strip()]
    return render_template("journey/record.html", story=story, paragraphs=paragraphs,
                           takes=stories.narration_takes(get_db(), story.id))
