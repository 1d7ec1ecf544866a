"""Who may use the desk: the facilitator, signed in with the passphrase since the app started.

The cookie holds only an opaque desk token; the app holds the same token in
memory, beside the workshop key. A restart forgets both, so an old cookie opens
nothing and the facilitator signs in again (which also unlocks the vault). A
participant's session never carries a desk token.
"""

from __future__ import annotations

import functools
import hmac
import secrets

from flask import abort, current_app, session

from storyteller.web.context import get_workshop_key, remember_workshop_key

SESSION_DESK = "desk"
DESK_TOKEN_EXTENSION = "storyteller.desk_token"


def start_desk_session(workshop_key: bytes) -> None:
    """Sign the facilitator in: a fresh session (the language and CSRF token stay) and the key kept in memory."""
    kept = {key: session[key] for key in ("lang", "csrf_token") if key in session}
    session.clear()
    session.update(kept)
    token = secrets.token_hex(16)
    current_app.extensions[DESK_TOKEN_EXTENSION] = token
    remember_workshop_key(workshop_key)
    session[SESSION_DESK] = token


def end_desk_session() -> None:
    """Lock the desk: this cookie's token no longer opens it (the key stays for jobs in progress)."""
    current_app.extensions.pop(DESK_TOKEN_EXTENSION, None)
    session.pop(SESSION_DESK, None)


def desk_signed_in() -> bool:
    token, current = session.get(SESSION_DESK), current_app.extensions.get(DESK_TOKEN_EXTENSION)
    return bool(token and current and hmac.compare_digest(token, current) and get_workshop_key() is not None)


def desk_required(view):
    """Refuse a desk view to anyone not signed in at the desk (401: the error page says sign in again)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not desk_signed_in():
            abort(401)
        return view(*args, **kwargs)

    return wrapped
