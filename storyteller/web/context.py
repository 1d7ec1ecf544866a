"""What a view needs from the app, one per request: the database, the vault, the job queue.

Views import these from here, never from the application factory, so that the
factory can import the views without a circle (flaskr's ``db.py`` is the model).
"""

from __future__ import annotations

import sqlite3

from flask import current_app, g

from storyteller.store.db import db_path, open_database
from storyteller.store.stories import media_key, seal_plain_rows
from storyteller.store.vault import LOCKED, Vault, WorkshopLocked, vault_for

HUEY_EXTENSION = "storyteller.huey"


def get_db() -> sqlite3.Connection:
    """One connection per request, closed at teardown."""
    if "db" not in g:
        g.db = open_database(db_path(current_app.config["DATA_DIR"]))
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def get_vault(story_id: int | None) -> Vault:
    """The vault with the key of one story (None: the workshop's own files, such as the sample video).

    Raises WorkshopLocked, which the app shows as "Ask your facilitator to unlock
    the workshop", when the facilitator has not signed in since the app started.
    """
    return vault_for(current_app.config["DATA_DIR"]).with_key(media_key(get_db(), story_id, unlocked_key()))


def unlocked_key() -> bytes:
    """The workshop key, which her words in the database (title, script, plan, consent) need.

    Raises WorkshopLocked (the "Ask your facilitator" page) before the facilitator's sign-in.
    """
    key = get_workshop_key()
    if key is None:
        raise WorkshopLocked(LOCKED)
    return key


def get_huey():
    return current_app.extensions[HUEY_EXTENSION]


# The workshop key (store/passphrase.py) lives only in this process's memory, from the
# facilitator's sign-in at the desk until the app stops: never in the session, on disk or
# in a log. The vault work hands it on to the worker over a private channel.
WORKSHOP_KEY_EXTENSION = "storyteller.workshop_key"
KEY_HANDOVER_EXTENSION = "storyteller.key_handover"


def remember_workshop_key(key: bytes) -> None:
    """Keep the key; the words of rows written before sealing began are sealed now (SQL alone cannot)."""
    conn = open_database(db_path(current_app.config["DATA_DIR"]))
    try:
        seal_plain_rows(conn, key)
    finally:
        conn.close()
    current_app.extensions[WORKSHOP_KEY_EXTENSION] = key
    handover = current_app.extensions.get(KEY_HANDOVER_EXTENSION)
    if handover is not None:
        handover(key)


def hand_keys_to(app, send) -> None:
    """``send(key)`` (the pipe to a worker process) gets the workshop key whenever the app learns it."""
    app.extensions[KEY_HANDOVER_EXTENSION] = send
    key = app.extensions.get(WORKSHOP_KEY_EXTENSION)
    if key is not None:
        send(key)


def get_workshop_key() -> bytes | None:
    """The unlocked workshop key, or None until the facilitator has signed in since the app started."""
    return current_app.extensions.get(WORKSHOP_KEY_EXTENSION)
