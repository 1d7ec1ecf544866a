"""The facilitator's passphrase: set once on first run, the key to the desk and to the vault.

One Argon2id pass over the passphrase (random salt, parameters kept beside it)
gives 64 bytes. The first half is the workshop key, which wraps each story's
own key and is never stored; the second half's SHA-256 is stored, so a try can
be checked without keeping anything that opens the vault. Wrong tries slow the
next one down, as a participant's PIN does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from storyteller.errors import N_, UserError

PASSPHRASE_MIN = 8
PASSPHRASE_MAX = 200
# 64 MiB, 3 passes, 2 lanes: about a tenth of a second here, and 64 MiB per guess for an attacker.
KDF_DEFAULTS = {"memory_cost": 64 * 1024, "iterations": 3, "lanes": 2}
FREE_TRIES = 3
MAX_WAIT_SECONDS = 60.0


class PassphraseError(UserError):
    """A refused passphrase; the message is a plain sentence (translated by the view)."""


@dataclass(frozen=True)
class UnlockResult:
    workshop_key: bytes | None
    wait_seconds: float = 0.0  # how long before the next try will be checked
    checked: bool = True  # False: tried too soon after wrong tries; the passphrase was not looked at


def _derive(passphrase: str, salt: bytes, params: dict) -> tuple[bytes, bytes]:
    out = Argon2id(salt=salt, length=64, iterations=params["iterations"], lanes=params["lanes"], memory_cost=params["memory_cost"]).derive(
        passphrase.encode("utf-8")
    )
    return out[:32], hashlib.sha256(out[32:]).digest()


def check_passphrase_format(passphrase: str) -> str:
    if len(passphrase) < PASSPHRASE_MIN:
        raise PassphraseError(N_("The passphrase is too short: use at least 8 characters, better a few words."))
    if len(passphrase) > PASSPHRASE_MAX:
        raise PassphraseError(N_("The passphrase is too long: use at most 200 characters."))
    return passphrase


def is_set(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM facilitator WHERE id = 1").fetchone() is not None


def set_first(conn: sqlite3.Connection, passphrase: str) -> bytes:
    """Set the passphrase on first run and return the workshop key; refused once one is set."""
    check_passphrase_format(passphrase)
    salt = secrets.token_bytes(16)
    key, verifier = _derive(passphrase, salt, KDF_DEFAULTS)
    kdf = json.dumps({"name": "argon2id", "salt": salt.hex(), **KDF_DEFAULTS})
    try:
        conn.execute("INSERT INTO facilitator (id, kdf, verifier) VALUES (1, ?, ?)", (kdf, verifier.hex()))
    except sqlite3.IntegrityError:
        raise PassphraseError(N_("A facilitator passphrase is already set.")) from None
    return key


def unlock(conn: sqlite3.Connection, passphrase: str, now: float | None = None) -> UnlockResult:
    """The workshop key if ``passphrase`` is right; a wrong one counts against the next try's wait."""
    now = time.time() if now is None else now
    # Counted as wrong before the (slow) check, under the write lock: tries at the same time
    # each count, as at her PIN (participants.sign_in).
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT kdf, verifier, failed_tries, retry_after FROM facilitator WHERE id = 1").fetchone()
        if row is None:
            raise PassphraseError(N_("No facilitator passphrase is set yet."))
        if row["retry_after"] > now:
            return UnlockResult(None, wait_seconds=row["retry_after"] - now, checked=False)
        failed = row["failed_tries"] + 1
        wait = 0.0 if failed <= FREE_TRIES else min(MAX_WAIT_SECONDS, 2.0 ** (failed - FREE_TRIES))
        conn.execute("UPDATE facilitator SET failed_tries = ?, retry_after = ? WHERE id = 1", (failed, now + wait))
    finally:
        conn.execute("COMMIT")
    params = json.loads(row["kdf"])
    key, verifier = _derive(passphrase, bytes.fromhex(params["salt"]), params)
    if hmac.compare_digest(verifier, bytes.fromhex(row["verifier"])):
        conn.execute("UPDATE facilitator SET failed_tries = 0, retry_after = 0 WHERE id = 1")
        return UnlockResult(key)
    return UnlockResult(None, wait_seconds=wait)
