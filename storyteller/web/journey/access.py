"""Who is at the laptop: her session, the idle lock, and her own story and assets only.

The session holds her participant id and the time she was last seen. Every
journey request re-checks both, so a page reached by Back after a lock or a
quick exit shows the sign-in page at most. Anything that is not hers answers
404, exactly as if it did not exist.
"""

from __future__ import annotations

import functools
import time

from flask import abort, current_app, g, redirect, request, session, url_for

from storyteller.store.participants import Participant, get_participant
from storyteller.store.stories import Asset, Story, story_asset, story_of
from storyteller.store.workshops import list_workshops
from storyteller.web.context import get_db

IDLE_LOCK_SECONDS = 5 * 60
SESSION_PARTICIPANT = "participant"
SESSION_WORKSHOP = "workshop"
SESSION_SEEN = "seen"


def idle_lock_seconds() -> int:
    return int(current_app.config.get("IDLE_LOCK_SECONDS", IDLE_LOCK_SECONDS))


def sign_in_session(participant: Participant) -> None:
    """Start her session: a fresh session, so nothing of the last person's carries over.

    The language and the CSRF token stay: the page she signed in from is still open.
    """
    kept = {key: session[key] for key in ("lang", "csrf_token") if key in session}
    session.clear()
    session.update(kept)
    session[SESSION_PARTICIPANT] = participant.id
    session[SESSION_WORKSHOP] = participant.workshop_id
    session[SESSION_SEEN] = time.time()


def lock_session() -> None:
    """Forget who is signed in; keep only the language and the workshop (for the sign-in list)."""
    for key in (SESSION_PARTICIPANT, SESSION_SEEN):
        session.pop(key, None)
    g.pop("participant", None)
    g.pop("story", None)


def current_participant() -> Participant | None:
    """The signed-in participant, or None when nobody is signed in or the session went idle."""
    if "participant" in g:
        return g.participant
    participant = None
    pid, seen = session.get(SESSION_PARTICIPANT), session.get(SESSION_SEEN)
    if pid is not None and seen is not None and time.time() - float(seen) <= idle_lock_seconds():
        participant = get_participant(get_db(), int(pid))
    if participant is None and pid is not None:
        lock_session()
    g.participant = participant
    return participant


def current_story() -> Story:
    """Her one story in this workshop (made at first sign-in, with its own voice secret)."""
    if "story" not in g:
        participant = current_participant()
        if participant is None:
            abort(404)
        language = next((w.language for w in list_workshops(get_db()) if w.id == participant.workshop_id), "ur")
        g.story = story_of(get_db(), participant.id, language)
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
        session[SESSION_SEEN] = time.time()
        return view(*args, **kwargs)

    return wrapped
