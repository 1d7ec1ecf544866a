"""Files on their way from a phone (web/phone.py), in pieces, into the story's vault.

The pieces go into a growing vault file (sealed as they arrive); this table says which
growing file an upload is, for whose story, and how big it will be. It is in the
database, not in the server's memory, so a server killed or restarted mid-upload
goes on from the pieces already received. The phone holds a random token; only its
hash is kept here. An upload no piece has reached for a day is given up when the app
starts (``sweep_abandoned``): the phone still has its file.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass

from storyteller.store.vault import Vault, VaultError

ABANDONED_AFTER_SECONDS = 24 * 3600  # a workshop day: a phone back the next morning starts again


@dataclass(frozen=True)
class PhoneUpload:
    story_id: int
    kind: str  # "narration" or "photo"
    vault_name: str
    size: int  # the size the phone announced; the upload finishes only when all of it is here
    media_type: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(conn: sqlite3.Connection, upload: PhoneUpload) -> str:
    """Remember an upload; returns the token the phone sends with every piece."""
    token = secrets.token_urlsafe(12)
    conn.execute(
        "INSERT INTO phone_uploads (token_sha256, story_id, kind, vault_name, size, media_type) VALUES (?, ?, ?, ?, ?, ?)",
        (_hash(token), upload.story_id, upload.kind, upload.vault_name, upload.size, upload.media_type),
    )
    return token


def find(conn: sqlite3.Connection, token: str) -> PhoneUpload | None:
    row = conn.execute(
        "SELECT story_id, kind, vault_name, size, media_type FROM phone_uploads WHERE token_sha256 = ?", (_hash(token),)
    ).fetchone()
    return PhoneUpload(**dict(row)) if row else None


def end(conn: sqlite3.Connection, token: str) -> None:
    conn.execute("DELETE FROM phone_uploads WHERE token_sha256 = ?", (_hash(token),))


def end_all(conn: sqlite3.Connection) -> list[PhoneUpload]:
    """Forget every upload still arriving (phone joining stopped); returns them, so their pieces can go."""
    rows = conn.execute("DELETE FROM phone_uploads RETURNING story_id, kind, vault_name, size, media_type").fetchall()
    return [PhoneUpload(**dict(row)) for row in rows]


def sweep_abandoned(conn: sqlite3.Connection, vault: Vault, idle_seconds: float = ABANDONED_AFTER_SECONDS) -> int:
    """Forget the uploads no piece has reached for ``idle_seconds``, and their pieces; returns how many.

    Every piece touches the growing file, so its time says when the phone was last heard
    from (no key is needed to read it or to throw the file away).
    """
    cutoff = time.time() - idle_seconds
    gone = 0
    for row in conn.execute("SELECT token_sha256, vault_name FROM phone_uploads").fetchall():
        try:
            idle = vault.growing_mtime(row["vault_name"]) <= cutoff
        except VaultError:
            idle = True  # its pieces are gone already: it cannot go on
        if idle:
            conn.execute("DELETE FROM phone_uploads WHERE token_sha256 = ?", (row["token_sha256"],))
            vault.discard_growing(row["vault_name"])
            gone += 1
    return gone
