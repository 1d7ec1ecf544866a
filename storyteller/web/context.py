"""What a view needs from the app, one per request: the database, the vault, the job queue.

Views import these from here, never from the application factory, so that the
factory can import the views without a circle (flaskr's ``db.py`` is the model).
"""

from __future__ import annotations

import sqlite3

from flask import current_app, g

from storyteller.store.db import db_path, open_database
from storyteller.store.vault import Vault, vault_for

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


def get_vault() -> Vault:
    return vault_for(current_app.config["DATA_DIR"])


def get_huey():
    return current_app.extensions[HUEY_EXTENSION]


# The workshop key (store/passphrase.py) lives only in this process's memory, from the
# facilitator's sign-in at the desk until the app stops: never in the session, on disk or
# in a log. The vault work hands it on to the worker over a private channel.
WORKSHOP_KEY_EXTENSION = "storyteller.workshop_key"


def remember_workshop_key(key: bytes) -> None:
    current_app.extensions[WORKSHOP_KEY_EXTENSION] = key


def get_workshop_key() -> bytes | None:
    """The unlocked workshop key, or None until the facilitator has signed in since the app started."""
    return current_app.extensions.get(WORKSHOP_KEY_EXTENSION)
