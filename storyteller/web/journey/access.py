"""Who is at the laptop: her session, the idle lock, and her own story and assets only.

The cookie holds her participant id and a session token; the server holds the
same token and when she was last seen. Every journey request re-checks both, so
a page reached by Back after a lock or a quick exit shows the sign-in page at
most, and a cookie that comes back after a lock opens nothing. After sign-in no
request rewrites the cookie. Anything that is not hers answers
404, exactly as if it did not exist.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from flask import abort, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from storyteller.store.participants import (
    Participant,
    end_session,
    get_participant,
    list_participants,
    mark_seen,
    session_is_current,
    sign_in,
    start_session,
)
from storyteller.store.stories import Asset, Story, story_asset, story_of
from storyteller.store.workshops import list_workshops
from storyteller.web.context import get_db, unlocked_key

IDLE_LOCK_SECONDS = 5 * 60
SESSION_PARTICIPANT = "participant"
SESSION_WORKSHOP = "workshop"
SESSION_TOKEN = "token"


def idle_lock_seconds() -> int:
    return int(current_app.config.get("IDLE_LOCK_SECONDS", IDLE_LOCK_SECONDS))


def sign_in_session(participant: Participant, keep: tuple[str, ...] = ()) -> None:
    """Start her session: a fresh session, so nothing of the last person's carries over.

    The language and the CSRF token stay (the page she signed in from is still
    open), and the ``keep`` keys (a phone's having joined the laptop).
    """
    kept = {key: session[key] for key in ("lang", "csrf_token", *keep) if key in session}
    session.clear()
    session.update(kept)
    session[SESSION_PARTICIPANT] = participant.id
    session[SESSION_WORKSHOP] = participant.workshop_id
    session[SESSION_TOKEN] = start_session(get_db(), participant.id)
    g.participant = participant
    g.pop("story", None)


def choose_workshop_and_sign_in(
    template: str, then: Callable[[], str], *, only_workshop_is_chosen: bool, keep: tuple[str, ...] = (), **page
):
    """Her sign-in, at the laptop and on her phone: the workshop (once), then her pseudonym, then her PIN.

    ``then`` names the endpoint she goes to once signed in (or already signed in).
    A phone is hers, so the one workshop there is chosen for her
    (``only_workshop_is_chosen``); the laptop is shared, and after a lock or an exit
    it shows the list of workshops, never straight away the names in one.
    """
    db = get_db()
    workshops = list_workshops(db)
    asked = request.values.get("workshop", type=int)
    if asked is not None:  # a workshop from the list, or 0 for "another workshop"
        session.pop(SESSION_WORKSHOP, None)
        if any(w.id == asked for w in workshops):
            session[SESSION_WORKSHOP] = asked
    if only_workshop_is_chosen and len(workshops) == 1:
        session[SESSION_WORKSHOP] = workshops[0].id
    workshop = next((w for w in workshops if w.id == session.get(SESSION_WORKSHOP)), None)
    if workshop is None:
        return render_template(template, workshops=workshops, workshop=None, **page)
    error, chosen = None, request.form.get("participant", type=int)
    if request.method == "POST":
        if chosen is None:
            error = _("Choose your name from the list.")
        else:
            result = sign_in(db, workshop.id, chosen, request.form.get("pin", ""))
            if result.participant is not None:
                sign_in_session(result.participant, keep)
                return redirect(url_for(then()))
            if result.locked:
                error = _("Too many wrong tries: your name is locked. Ask your facilitator to open it again.")
            elif not result.checked:
                error = _("Too many wrong tries. Wait %(seconds)d seconds, then try again.", seconds=math.ceil(result.wait_seconds))
            else:
                error = _("That PIN is not right. Try again.")
    elif current_participant() is not None:
        return redirect(url_for(then()))
    return render_template(
        template,
        workshops=workshops,
        workshop=workshop,
        participants=list_participants(db, workshop.id),
        chosen=chosen,
        error=error,
        **page,
    )


def lock_session() -> None:
    """End her session on the server and forget it here; keep the language and the workshop.

    Ending it on the server matters: a save sent as she left may answer with her old
    cookie after the lock, and that cookie must not open her story again.
    """
    pid, token = session.get(SESSION_PARTICIPANT), session.get(SESSION_TOKEN)
    if pid is not None and token:
        end_session(get_db(), int(pid), token)
    for key in (SESSION_PARTICIPANT, SESSION_TOKEN):
        session.pop(key, None)
    g.pop("participant", None)
    g.pop("story", None)


def current_participant() -> Participant | None:
    """The signed-in participant, or None when nobody is signed in or the session went idle."""
    if "participant" in g:
        return g.participant
    participant = None
    pid = session.get(SESSION_PARTICIPANT)
    if pid is not None and session_is_current(get_db(), int(pid), session.get(SESSION_TOKEN, ""), idle_lock_seconds()):
        participant = get_participant(get_db(), int(pid))
    # A dead session's cookie is left as it is: its token opens nothing any more, and
    # rewriting it here (say, in answer to a late save) could bring back what an exit cleared.
    g.participant = participant
    return participant


def current_story() -> Story:
    """Her one story in this workshop (made at first sign-in, with its own voice secret)."""
    if "story" not in g:
        participant = current_participant()
        if participant is None:
            abort(404)
        language = next((w.language for w in list_workshops(get_db()) if w.id == participant.workshop_id), "ur")
        g.story = story_of(get_db(), participant.id, language, unlocked_key())
    return g.story


def story_asset_or_404(asset_id: int) -> Asset:
    """One of her assets; 404 for anything else, whether it exists or not."""
    asset = story_asset(get_db(), current_story().id, asset_id)
    if asset is None:
        abort(404)
    return asset


def is_fetch() -> bool:
    """A call from the page's scripts (they send this header), not a page she navigates to."""
    return request.headers.get("X-Requested-With") == "fetch"


def participant_required(view):
    """Only for her: otherwise to sign-in (pages) or 401 (script calls). Marks her as seen."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_participant() is None:
            if is_fetch():
                abort(401)
            return redirect(url_for("journey.signin", locked=1))
        mark_seen(get_db(), current_participant().id)
        return view(*args, **kwargs)

    return wrapped
