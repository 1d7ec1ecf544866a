"""Who may use the desk: the facilitator, signed in with the passphrase since the app started.

The cookie holds only an opaque desk token; the app holds the same token in
memory, beside the workshop key and when the desk was last used. A restart
forgets them, so an old cookie opens nothing and the facilitator signs in again
(which also unlocks the vault). The desk locks itself after the same idle time
as a participant's pages. A participant's session never carries a desk token,
and signing in at the desk ends any participant's session in that browser.
"""

from __future__ import annotations

import functools
import hmac
import secrets
import time

from flask import abort, current_app, redirect, request, session, url_for

from storyteller.web.context import get_workshop_key, remember_workshop_key
from storyteller.web.journey.access import idle_lock_seconds, lock_session

SESSION_DESK = "desk"
DESK_TOKEN_EXTENSION = "storyteller.desk_token"
DESK_SEEN_EXTENSION = "storyteller.desk_seen"


def start_desk_session(workshop_key: bytes) -> None:
    """Sign the facilitator in: a fresh session (the language and CSRF token stay) and the key kept in memory."""
    lock_session()  # a participant signed in in this browser is signed out on the server too
    kept = {key: session[key] for key in ("lang", "csrf_token") if key in session}
    session.clear()
    session.update(kept)
    token = secrets.token_hex(16)
    current_app.extensions[DESK_TOKEN_EXTENSION] = token
    current_app.extensions[DESK_SEEN_EXTENSION] = time.monotonic()
    remember_workshop_key(workshop_key)
    session[SESSION_DESK] = token


def end_desk_session() -> None:
    """Lock the desk: this cookie's token no longer opens it (the key stays for jobs in progress)."""
    current_app.extensions.pop(DESK_TOKEN_EXTENSION, None)
    current_app.extensions.pop(DESK_SEEN_EXTENSION, None)
    session.pop(SESSION_DESK, None)


def desk_signed_in() -> bool:
    """True while this cookie holds the desk's token and the desk was used within the idle time."""
    token, current = session.get(SESSION_DESK), current_app.extensions.get(DESK_TOKEN_EXTENSION)
    if not (token and current and hmac.compare_digest(token, current) and get_workshop_key() is not None):
        return False
    seen = current_app.extensions.get(DESK_SEEN_EXTENSION, 0.0)
    if time.monotonic() - seen > idle_lock_seconds():
        end_desk_session()
        return False
    return True


def mark_desk_seen() -> None:
    current_app.extensions[DESK_SEEN_EXTENSION] = time.monotonic()


def desk_required(view):
    """Only for the signed-in facilitator: others go to the desk's sign-in (pages) or get 401 (script calls)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        had_desk = SESSION_DESK in session  # "locked" only when this browser had the desk open
        if not desk_signed_in():
            if request.headers.get("X-Requested-With") == "fetch" or request.method != "GET":
                abort(401)
            return redirect(url_for("desk.signin", locked=1 if had_desk else None))
        mark_desk_seen()
        return view(*args, **kwargs)

    return wrapped
