"""Participants of a workshop: a pseudonym and a PIN, never a real name.

The PIN is hashed with scrypt and a random salt (a slow hash, so a copied
database does not give the PINs away) and compared in constant time. Wrong
tries slow the next try down, so nobody at the shared laptop can guess a
four-digit PIN by trying them all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from dataclasses import dataclass

from storyteller.errors import N_, UserError
from storyteller.textsafety import clean_label

ALIAS_MAX = 40
PIN_MIN, PIN_MAX = 4, 12
# scrypt cost: 16 MB of memory and about a quarter second per try (measured on a busy 2-core machine),
# cheap for one sign-in and slow for guessing every PIN from a copied database.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
# Wrong tries allowed before each further try must wait; the wait doubles, up to a minute.
FREE_TRIES = 3
MAX_WAIT_SECONDS = 60.0
# After this many wrong tries in a row her name is locked until the facilitator lifts the lock
# (``lift_lock``): waiting no longer helps someone who is guessing.
LOCK_AFTER = 10


class ParticipantError(UserError):
    """A refused change; the message is a plain sentence (translated by the view)."""


@dataclass(frozen=True)
class Participant:
    id: int
    workshop_id: int
    alias: str
    created_at: str


def hash_pin(pin: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    tried = hashlib.scrypt(pin.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(tried, bytes.fromhex(digest))


def check_pin_format(pin: str) -> str:
    pin = pin.strip()
    if not (pin.isdigit() and pin.isascii() and PIN_MIN <= len(pin) <= PIN_MAX):
        raise ParticipantError(N_("The PIN is 4 to 12 digits."))
    return pin


def check_alias(alias: str) -> str:
    alias = clean_label(alias)
    if not alias:
        raise ParticipantError(N_("Give a pseudonym (not a real name)."))
    if len(alias) > ALIAS_MAX:
        raise ParticipantError(N_("The pseudonym is too long: use at most 40 letters."))
    return alias


def _row(row: sqlite3.Row) -> Participant:
    return Participant(id=row["id"], workshop_id=row["workshop_id"], alias=row["alias"], created_at=row["created_at"])


def add_participant(conn: sqlite3.Connection, workshop_id: int, alias: str, pin: str) -> int:
    alias, pin = check_alias(alias), check_pin_format(pin)
    if conn.execute("SELECT 1 FROM participants WHERE workshop_id = ? AND alias = ?", (workshop_id, alias)).fetchone():
        raise ParticipantError(N_("This pseudonym is already taken in this workshop; choose another."))
    cur = conn.execute("INSERT INTO participants (workshop_id, alias, pin_hash) VALUES (?, ?, ?)", (workshop_id, alias, hash_pin(pin)))
    return int(cur.lastrowid)


def list_participants(conn: sqlite3.Connection, workshop_id: int) -> list[Participant]:
    rows = conn.execute(
        "SELECT id, workshop_id, alias, created_at FROM participants WHERE workshop_id = ? ORDER BY alias COLLATE NOCASE, id",
        (workshop_id,),
    )
    return [_row(r) for r in rows]


def get_participant(conn: sqlite3.Connection, participant_id: int) -> Participant | None:
    row = conn.execute("SELECT id, workshop_id, alias, created_at FROM participants WHERE id = ?", (participant_id,)).fetchone()
    return _row(row) if row else None


@dataclass(frozen=True)
class SignInResult:
    participant: Participant | None
    wait_seconds: float = 0.0  # how long before the next try may be checked
    checked: bool = True  # False: she tried too soon after wrong tries, or her name is locked; the PIN was not looked at
    locked: bool = False  # too many wrong tries: only the facilitator can open her name again


def sign_in(conn: sqlite3.Connection, workshop_id: int, participant_id: int, pin: str, now: float | None = None) -> SignInResult:
    """Check her PIN; a wrong one counts against the next try's waiting time."""
    now = time.time() if now is None else now
    # The try is counted as wrong before the PIN is checked, under the write lock: a second try
    # arriving during the quarter second of scrypt finds it counted (and waits, if she must),
    # instead of both reading the same count and many guesses at once counting as one.
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            "SELECT id, workshop_id, alias, created_at, pin_hash, failed_pins, retry_after FROM participants WHERE id = ? AND workshop_id = ?",
            (participant_id, workshop_id),
        ).fetchone()
        if row is None:
            return SignInResult(None)
        if row["failed_pins"] >= LOCK_AFTER:
            return SignInResult(None, checked=False, locked=True)
        if row["retry_after"] > now:
            return SignInResult(None, wait_seconds=row["retry_after"] - now, checked=False)
        failed = row["failed_pins"] + 1
        wait = 0.0 if failed <= FREE_TRIES else min(MAX_WAIT_SECONDS, 2.0 ** (failed - FREE_TRIES))
        conn.execute("UPDATE participants SET failed_pins = ?, retry_after = ? WHERE id = ?", (failed, now + wait, row["id"]))
    finally:
        conn.execute("COMMIT")
    if pin_matches(pin, row["pin_hash"]):
        conn.execute("UPDATE participants SET failed_pins = 0, retry_after = 0 WHERE id = ?", (row["id"],))
        return SignInResult(_row(row))
    return SignInResult(None, wait_seconds=wait, locked=failed >= LOCK_AFTER)


def is_locked(conn: sqlite3.Connection, participant_id: int) -> bool:
    row = conn.execute("SELECT failed_pins FROM participants WHERE id = ?", (participant_id,)).fetchone()
    return bool(row) and row[0] >= LOCK_AFTER


def lift_lock(conn: sqlite3.Connection, participant_id: int) -> None:
    """The facilitator opens her name again after too many wrong PINs; the count starts afresh."""
    conn.execute("UPDATE participants SET failed_pins = 0, retry_after = 0 WHERE id = ?", (participant_id,))


# -- her session ---------------------------------------------------------------
def start_session(conn: sqlite3.Connection, participant_id: int, now: float | None = None) -> str:
    """A new session token for her; any earlier session of hers ends."""
    token = secrets.token_hex(16)
    conn.execute(
        "UPDATE participants SET session_token = ?, session_seen = ? WHERE id = ?",
        (token, time.time() if now is None else now, participant_id),
    )
    return token


def end_session(conn: sqlite3.Connection, participant_id: int, token: str) -> None:
    """End the session ``token`` (an old, already ended token ends nothing)."""
    conn.execute("UPDATE participants SET session_token = '' WHERE id = ? AND session_token = ?", (participant_id, token))


def session_is_current(conn: sqlite3.Connection, participant_id: int, token: str, idle_seconds: float, now: float | None = None) -> bool:
    """True while ``token`` is her session and she was seen within ``idle_seconds``; an idle session ends here."""
    now = time.time() if now is None else now
    row = conn.execute("SELECT session_token, session_seen FROM participants WHERE id = ?", (participant_id,)).fetchone()
    if not (row and row[0] and token and hmac.compare_digest(row[0], token)):
        return False
    if now - row[1] > idle_seconds:
        end_session(conn, participant_id, token)
        return False
    return True


def mark_seen(conn: sqlite3.Connection, participant_id: int, now: float | None = None) -> None:
    conn.execute("UPDATE participants SET session_seen = ? WHERE id = ?", (time.time() if now is None else now, participant_id))


# -- what the facilitator does at the desk ---------------------------------------
def reset_pin(conn: sqlite3.Connection, participant_id: int, pin: str) -> None:
    """A new PIN for her: her wrong-try wait is cleared and any open session of hers ends."""
    pin = check_pin_format(pin)
    conn.execute(
        "UPDATE participants SET pin_hash = ?, failed_pins = 0, retry_after = 0, session_token = '' WHERE id = ?",
        (hash_pin(pin), participant_id),
    )


def remove_participant(conn: sqlite3.Connection, vault, participant_id: int) -> None:
    """Remove her and everything of hers: each story crypto-shredded (its key, then its files), then her row.

    An interrupted removal can be run again: what is left of her is removed the same way.
    """
    from storyteller.store import stories  # stories reads participants' tables, not this module

    for (story_id,) in conn.execute("SELECT id FROM stories WHERE participant_id = ?", (participant_id,)).fetchall():
        stories.delete_story(conn, vault, story_id)
    conn.execute("DELETE FROM participants WHERE id = ?", (participant_id,))
