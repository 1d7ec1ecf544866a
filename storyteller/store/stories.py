"""A participant's story: her script, where she is in the journey, her consent and her media.

Each participant has one story in her workshop, made at her first sign-in with
its own random voice secret. The script carries a revision number so that two
tabs on one story never overwrite each other silently: the later save wins and
is told what it replaced. Consent is a list of rows; the newest is the level in
force, so a change or a withdrawal never erases what was agreed before.

Her words (title, script, plan) and every consent row are sealed in the database
with a key derived from her story's key, so reading or changing them needs the
workshop key: without it, WorkshopLocked ("Ask your facilitator to unlock the
workshop"). Step, status, revision, language and the screening position stay
plain: the desk and the pages route by them, and they are not her words.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from dataclasses import dataclass, field

from storyteller.errors import N_, UserError
from storyteller.store import crypto
from storyteller.store.db import rollback
from storyteller.store.vault import LOCKED, Vault, WorkshopLocked
from storyteller.textsafety import clean_label

STEPS = ("consent", "story", "record", "pictures", "voice", "subtitles", "music", "render", "screening")
STATUSES = ("draft", "ready")
CONSENT_LEVELS = ("workshop", "organisation", "public")
# A script longer than this is refused (the page keeps her text); about 15,000 words.
SCRIPT_MAX_CHARS = 100_000
_TOUCH = "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"


@dataclass(frozen=True)
class Story:
    id: int
    participant_id: int
    title: str
    language: str
    script: str
    voice_secret: str
    step: str
    status: str
    plan: dict = field(hash=False)
    revision: int
    updated_at: str


@dataclass(frozen=True)
class Asset:
    id: int
    story_id: int
    kind: str
    vault_name: str
    original_name: str
    media_type: str
    size_bytes: int
    meta: dict = field(hash=False)
    created_at: str = ""


@dataclass(frozen=True)
class ScriptSave:
    revision: int
    replaced_other_tab: str | None  # the text another tab had saved, when this save overwrote it


class StoryError(UserError):
    """A refused change; the message is a plain sentence (translated by the view)."""


_STORY_COLUMNS = "id, participant_id, title, language, script, voice_secret, step, status, plan, revision, updated_at, sealed"
# Her words (title, script, plan) are kept as one record sealed with her story's key; the
# plain columns stay empty. They hold text only in rows written before sealing, until the
# first unlock seals them (seal_plain_rows). Step, status, revision and language stay
# plain: the desk and the phone pages route by them, and they are not her words.
_TEXT_PURPOSE = b"storyteller story text v1"
_BLANK_WORDS = "title = '', script = '', plan = '{}'"


def text_key(conn: sqlite3.Connection, story_id: int, workshop_key: bytes | None) -> bytes:
    """The key that seals her words in the database; WorkshopLocked without the workshop key."""
    if workshop_key is None:
        raise WorkshopLocked(LOCKED)
    return crypto.derive_key(media_key(conn, story_id, workshop_key), _TEXT_PURPOSE)


def _words_owner(story_id: int) -> str:
    return f"story:{story_id}:words"


def _words(row: sqlite3.Row, key: bytes) -> dict:
    """Title, script and plan of a story row, opened with its text key."""
    if row["sealed"] is None:  # nothing written since sealing began: the plain columns (or empty)
        return {"title": row["title"], "script": row["script"], "plan": json.loads(row["plan"] or "{}")}
    return crypto.open_record(key, _words_owner(row["id"]), row["sealed"])


def _write_words(conn: sqlite3.Connection, story_id: int, key: bytes, words: dict, touch: str = "") -> None:
    sealed = crypto.seal_record(key, _words_owner(story_id), words)
    conn.execute(f"UPDATE stories SET sealed = ?, {_BLANK_WORDS}{touch} WHERE id = ?", (sealed, story_id))


def _story(conn: sqlite3.Connection, row: sqlite3.Row, workshop_key: bytes | None) -> Story:
    data = dict(row)
    data.pop("sealed")
    words = _words(row, text_key(conn, row["id"], workshop_key))
    data.update(title=words["title"], script=words["script"], plan=words["plan"])
    return Story(**data)


class _Immediate:
    """A write transaction, unless the caller is already in one."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn, self.own = conn, not conn.in_transaction

    def __enter__(self):
        if self.own:
            self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, _exc, _tb):
        if self.own and exc_type:
            rollback(self.conn)
        elif self.own:
            self.conn.execute("COMMIT")
        return False


def write_transaction(conn: sqlite3.Connection) -> _Immediate:
    """Several reads and writes as one (``with write_transaction(conn):``), holding the write lock from the start."""
    return _Immediate(conn)


def get_story(conn: sqlite3.Connection, story_id: int, workshop_key: bytes | None) -> Story | None:
    """Her story with its words opened; WorkshopLocked when the key is not at hand."""
    if workshop_key is None:
        raise WorkshopLocked(LOCKED)
    row = conn.execute(f"SELECT {_STORY_COLUMNS} FROM stories WHERE id = ?", (story_id,)).fetchone()
    return _story(conn, row, workshop_key) if row else None


def story_of(conn: sqlite3.Connection, participant_id: int, language: str, workshop_key: bytes | None) -> Story:
    """Her one story, made on first call with a fresh voice secret."""
    if workshop_key is None:
        raise WorkshopLocked(LOCKED)
    conn.execute(
        "INSERT OR IGNORE INTO stories (participant_id, language, voice_secret) VALUES (?, ?, ?)",
        (participant_id, language, secrets.token_hex(16)),
    )
    row = conn.execute(f"SELECT {_STORY_COLUMNS} FROM stories WHERE participant_id = ?", (participant_id,)).fetchone()
    return _story(conn, row, workshop_key)


def save_script(
    conn: sqlite3.Connection, story_id: int, script: str, base_revision: int, title: str | None = None, *, workshop_key: bytes | None
) -> ScriptSave:
    """Save the script written on top of ``base_revision``; the save always lands."""
    if len(script) > SCRIPT_MAX_CHARS:
        raise StoryError(N_("This story is too long to save. Please shorten it; your text stays on the screen."))
    key = text_key(conn, story_id, workshop_key)
    with _Immediate(conn):
        row = conn.execute(f"SELECT {_STORY_COLUMNS} FROM stories WHERE id = ?", (story_id,)).fetchone()
        words = _words(row, key)
        replaced = words["script"] if row["revision"] != base_revision and words["script"] != script else None
        revision = row["revision"] + 1
        words["script"] = script
        if title is not None:
            words["title"] = clean_label(title)[:200]
        _write_words(conn, story_id, key, words)
        conn.execute(f"UPDATE stories SET revision = ?, {_TOUCH} WHERE id = ?", (revision, story_id))
    return ScriptSave(revision=revision, replaced_other_tab=replaced)


def set_step(conn: sqlite3.Connection, story_id: int, step: str) -> None:
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}")
    conn.execute("UPDATE stories SET step = ? WHERE id = ?", (step, story_id))


def set_status(conn: sqlite3.Connection, story_id: int, status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    conn.execute(f"UPDATE stories SET status = ?, {_TOUCH} WHERE id = ?", (status, story_id))


def save_plan(conn: sqlite3.Connection, story_id: int, plan: dict, workshop_key: bytes | None) -> None:
    """Her media choices (pictures, voice, subtitles, music, shape) as one JSON document."""
    key = text_key(conn, story_id, workshop_key)
    with _Immediate(conn):
        row = conn.execute(f"SELECT {_STORY_COLUMNS} FROM stories WHERE id = ?", (story_id,)).fetchone()
        if row is None:
            return
        _write_words(conn, story_id, key, _words(row, key) | {"plan": plan}, touch=f", {_TOUCH}")


def seal_plain_rows(conn: sqlite3.Connection, workshop_key: bytes) -> int:
    """Seal the words of rows written before sealing began, and blank their plain columns.

    Called when the workshop key first comes to hand (SQL alone cannot seal). Secure
    delete zeroes what the old text leaves in freed space, and the write-ahead log is
    checkpointed so no old page keeps it. Returns how many rows were sealed.
    """
    sealed = 0
    stale = conn.execute(
        "SELECT id FROM stories WHERE sealed IS NULL AND (title != '' OR script != '' OR plan NOT IN ('', '{}'))"
    ).fetchall()
    for (story_id,) in stale:
        try:
            key = text_key(conn, story_id, workshop_key)
        except crypto.VaultError:
            continue  # a story this key does not open stays as it is: the sign-in must not fail for it
        with _Immediate(conn):
            row = conn.execute(f"SELECT {_STORY_COLUMNS} FROM stories WHERE id = ? AND sealed IS NULL", (story_id,)).fetchone()
            if row is not None:
                _write_words(conn, story_id, key, _words(row, key))
                sealed += 1
    for story_id, consent_id in conn.execute("SELECT story_id, id FROM consents WHERE sealed IS NULL AND plain != ''").fetchall():
        try:
            key = text_key(conn, story_id, workshop_key)
        except crypto.VaultError:
            continue
        with _Immediate(conn):
            row = conn.execute("SELECT plain FROM consents WHERE id = ? AND sealed IS NULL", (consent_id,)).fetchone()
            if row is not None:
                fields = json.loads(row["plain"] or "{}")
                conn.execute(
                    "UPDATE consents SET sealed = ?, plain = '' WHERE id = ?",
                    (crypto.seal_record(key, _consent_owner(story_id, consent_id), fields), consent_id),
                )
                sealed += 1
    if sealed:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sealed


# -- consent -----------------------------------------------------------------
# Who may record a consent row: she herself, or the facilitator on her behalf (say, a
# participant who cannot read gives her answer aloud). A role, never a name.
CONSENT_ROLES = ("participant", "facilitator")
# What each use needs: a use is allowed by its own level or a wider one.
_CONSENT_RANK = {level: rank for rank, level in enumerate(CONSENT_LEVELS)}
# A consent row keeps only its story, its time and its sealed fields (level, wording's
# version and language, who recorded it, the wording's hash, withdrawn).
_CONSENT_FIELDS = ("level", "text_version", "language", "recorded_by", "text_sha256", "withdrawn")


@dataclass(frozen=True)
class Consent:
    level: str  # for a withdrawal, the level she withdrew
    text_version: str
    language: str
    created_at: str
    recorded_by: str = "participant"
    text_sha256: str = ""
    withdrawn: bool = False


def _consent_owner(story_id: int, consent_id: int) -> str:
    return f"consent:{story_id}:{consent_id}"


def _add_consent_row(conn: sqlite3.Connection, story_id: int, workshop_key: bytes | None, fields: dict) -> None:
    key = text_key(conn, story_id, workshop_key)
    with _Immediate(conn):
        consent_id = conn.execute("INSERT INTO consents (story_id) VALUES (?)", (story_id,)).lastrowid
        sealed = crypto.seal_record(key, _consent_owner(story_id, consent_id), fields)
        conn.execute("UPDATE consents SET sealed = ? WHERE id = ?", (sealed, consent_id))


def record_consent(
    conn: sqlite3.Connection,
    story_id: int,
    level: str,
    text_version: str,
    language: str,
    *,
    workshop_key: bytes | None,
    recorded_by: str = "participant",
    text: str = "",
) -> None:
    """A new consent row: ``text`` is the exact wording she was shown (only its hash is kept)."""
    if level not in CONSENT_LEVELS:
        raise StoryError(N_("Choose one of the three choices."))
    if recorded_by not in CONSENT_ROLES:
        raise ValueError(f"unknown consent role {recorded_by!r}")
    fields = dict(
        level=level, text_version=text_version, language=language, recorded_by=recorded_by, text_sha256=_text_hash(text), withdrawn=0
    )
    _add_consent_row(conn, story_id, workshop_key, fields)


def withdraw_consent(conn: sqlite3.Connection, story_id: int, workshop_key: bytes | None, *, recorded_by: str = "participant") -> None:
    """Withdraw whatever she agreed to, at once: from now on nothing leaves the laptop or is screened."""
    if recorded_by not in CONSENT_ROLES:
        raise ValueError(f"unknown consent role {recorded_by!r}")
    current = consent_history(conn, story_id, workshop_key)
    if not current or current[0].withdrawn:
        return
    last = current[0]
    fields = dict(
        level=last.level, text_version=last.text_version, language=last.language, recorded_by=recorded_by, text_sha256="", withdrawn=1
    )
    _add_consent_row(conn, story_id, workshop_key, fields)


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text else ""


def consent_history(conn: sqlite3.Connection, story_id: int, workshop_key: bytes | None) -> list[Consent]:
    """Every consent row of the story, newest first (withdrawals included)."""
    key = text_key(conn, story_id, workshop_key)
    history = []
    for row in conn.execute("SELECT id, created_at, sealed, plain FROM consents WHERE story_id = ? ORDER BY id DESC", (story_id,)):
        if row["sealed"] is None:  # a row from before sealing, until the first unlock seals it
            fields = json.loads(row["plain"] or "{}")
        else:
            fields = crypto.open_record(key, _consent_owner(story_id, row["id"]), row["sealed"])
        fields = {name: fields[name] for name in _CONSENT_FIELDS}
        history.append(Consent(created_at=row["created_at"], **(fields | {"withdrawn": bool(fields["withdrawn"])})))
    return history


def current_consent(conn: sqlite3.Connection, story_id: int, workshop_key: bytes | None) -> Consent | None:
    """The consent in force: the newest row, or None when there is none or it was withdrawn."""
    history = consent_history(conn, story_id, workshop_key)
    return history[0] if history and not history[0].withdrawn else None


def consent_now(conn: sqlite3.Connection, story_id: int, workshop_key: bytes | None) -> str | None:
    """The level in force at this moment, or None. Read it when the use happens, never earlier."""
    consent = current_consent(conn, story_id, workshop_key)
    return consent.level if consent else None


def consent_allows(conn: sqlite3.Connection, story_id: int, use: str, workshop_key: bytes | None) -> bool:
    """True when the consent in force covers ``use`` (workshop, organisation or public)."""
    level = consent_now(conn, story_id, workshop_key)
    return level is not None and _CONSENT_RANK[level] >= _CONSENT_RANK[use]


def consent_receipt(conn: sqlite3.Connection, story_id: int, workshop_key: bytes | None) -> dict:
    """What goes with an exported video: the consent in force, without her pseudonym or any name."""
    consent = current_consent(conn, story_id, workshop_key)
    if consent is None:
        raise StoryError(N_("There is no consent in force for this story."))
    return {
        "level": consent.level,
        "recorded_at": consent.created_at,
        "recorded_by": consent.recorded_by,
        "text_version": consent.text_version,
        "text_language": consent.language,
        "text_sha256": consent.text_sha256 or None,
    }


# -- assets ------------------------------------------------------------------
_ASSET_COLUMNS = "id, story_id, kind, vault_name, original_name, media_type, size_bytes, meta, created_at"


def _asset(row: sqlite3.Row) -> Asset:
    data = dict(row)
    data["meta"] = json.loads(data["meta"] or "{}")
    return Asset(**data)


def add_asset(
    conn: sqlite3.Connection,
    story_id: int,
    kind: str,
    vault_name: str,
    *,
    original_name: str = "",
    media_type: str = "",
    size_bytes: int = 0,
    meta: dict | None = None,
) -> int:
    cur = conn.execute(
        "INSERT INTO assets (story_id, kind, vault_name, original_name, media_type, size_bytes, meta) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (story_id, kind, vault_name, clean_label(original_name)[:200], media_type, size_bytes, json.dumps(meta or {}, ensure_ascii=False)),
    )
    return int(cur.lastrowid)


def story_assets(conn: sqlite3.Connection, story_id: int, kind: str | None = None, *, growing: bool = False) -> list[Asset]:
    """Her assets, oldest first. A recording still arriving (meta "growing") only when asked for."""
    if kind is None:
        rows = conn.execute(f"SELECT {_ASSET_COLUMNS} FROM assets WHERE story_id = ? ORDER BY id", (story_id,))
    else:
        rows = conn.execute(f"SELECT {_ASSET_COLUMNS} FROM assets WHERE story_id = ? AND kind = ? ORDER BY id", (story_id, kind))
    return [a for a in map(_asset, rows) if bool(a.meta.get("growing")) == growing]


def story_asset(conn: sqlite3.Connection, story_id: int, asset_id: int) -> Asset | None:
    """The asset only if it belongs to this story: the same None for someone else's and for none."""
    row = conn.execute(f"SELECT {_ASSET_COLUMNS} FROM assets WHERE id = ? AND story_id = ?", (asset_id, story_id)).fetchone()
    return _asset(row) if row else None


def set_asset_meta(conn: sqlite3.Connection, asset_id: int, meta: dict, size_bytes: int | None = None) -> None:
    if size_bytes is None:
        conn.execute("UPDATE assets SET meta = ? WHERE id = ?", (json.dumps(meta, ensure_ascii=False), asset_id))
    else:
        conn.execute(
            "UPDATE assets SET meta = ?, size_bytes = ? WHERE id = ?", (json.dumps(meta, ensure_ascii=False), size_bytes, asset_id)
        )


def meta_holds(meta: dict, values: dict) -> bool:
    """Whether each key of ``values`` holds that value in ``meta`` (a missing key counts as [])."""
    return all(meta.get(k, []) == v for k, v in values.items())


def merge_asset_meta(conn: sqlite3.Connection, asset_id: int, changes: dict, unchanged: dict | None = None) -> dict | None:
    """Write ``changes`` into the asset's meta as it is now, read and written under one write lock.

    Her box edits and the face job both write the same picture's meta: each
    copying a meta it read earlier would undo the other's keys. With
    ``unchanged``, nothing is written (None) unless those keys still hold those
    values. None too when the asset is gone; else the meta written.
    """
    with write_transaction(conn):
        row = conn.execute("SELECT meta FROM assets WHERE id = ?", (asset_id,)).fetchone()
        if row is None:
            return None
        meta = json.loads(row["meta"] or "{}")
        if not meta_holds(meta, unchanged or {}):
            return None
        meta.update(changes)
        set_asset_meta(conn, asset_id, meta)
    return meta


def remove_asset(conn: sqlite3.Connection, vault: Vault, asset: Asset) -> None:
    """Forget an asset and destroy its file (or what has arrived of it)."""
    conn.execute("DELETE FROM assets WHERE id = ?", (asset.id,))
    vault.delete(asset.vault_name)
    vault.discard_growing(asset.vault_name)


def narration_takes(conn: sqlite3.Connection, story_id: int) -> dict[str | int, Asset]:
    """Her recordings that count: part ("whole" or a paragraph index) -> its latest take."""
    takes: dict[str | int, Asset] = {}
    for asset in story_assets(conn, story_id, "narration"):
        takes[asset.meta.get("part", "whole")] = asset  # ordered by id: the latest wins
    return takes


def keep_narration(conn: sqlite3.Connection, vault: Vault, story_id: int, asset_id: int) -> None:
    """Make ``asset_id`` the take for its part: older takes of that part go.

    A whole take and paragraph takes do not mix: a whole take replaces every
    paragraph, and a paragraph take replaces a whole take (the page asks first).
    """
    new = story_asset(conn, story_id, asset_id)
    part = new.meta.get("part", "whole")
    for old in story_assets(conn, story_id, "narration"):
        if old.id == new.id:
            continue
        old_part = old.meta.get("part", "whole")
        if old_part == part or part == "whole" or old_part == "whole":
            remove_asset(conn, vault, old)


# -- keys and deletion -------------------------------------------------------
WORKSHOP_FILES = b"storyteller workshop files v1"


def media_key(conn: sqlite3.Connection, story_id: int | None, workshop_key: bytes) -> bytes:
    """The key that seals a story's media, made and wrapped on first use.

    Files of no story (the facilitator's sample video) use a key derived from
    the workshop key itself.
    """
    if story_id is None:
        return crypto.derive_key(workshop_key, WORKSHOP_FILES)
    owner = f"story:{story_id}"
    row = conn.execute("SELECT wrapped_key FROM stories WHERE id = ?", (story_id,)).fetchone()
    if row is None:
        raise StoryError(N_("This story no longer exists."))
    if row["wrapped_key"] is None:
        # Two processes may get here at once: the first write wins, both read it back.
        wrapped = crypto.wrap_key(workshop_key, crypto.new_key(), owner)
        conn.execute("UPDATE stories SET wrapped_key = ? WHERE id = ? AND wrapped_key IS NULL", (wrapped, story_id))
        row = conn.execute("SELECT wrapped_key FROM stories WHERE id = ?", (story_id,)).fetchone()
        if row is None:
            raise StoryError(N_("This story no longer exists."))
    return crypto.unwrap_key(workshop_key, bytes(row["wrapped_key"]), owner)


def delete_story(conn: sqlite3.Connection, vault: Vault, story_id: int) -> int:
    """Crypto-shred a story: destroy its wrapped key, then its rows, then its files (returns how many).

    Once the key is gone, no copy of a file anywhere (a backup, an old disk
    block) can be opened again. The key is overwritten before the row goes, and
    the write-ahead log is checkpointed, so no page holding it stays in the
    database files (``secure_delete`` zeroes freed pages).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        names = []
        for row in conn.execute("SELECT vault_name, meta FROM assets WHERE story_id = ?", (story_id,)):
            masked = json.loads(row["meta"] or "{}").get("masked")  # a photo's masked copy is a file of its own
            names += [row["vault_name"], *([masked] if isinstance(masked, str) else [])]
        names += [row["vault_name"] for row in conn.execute("SELECT vault_name FROM phone_uploads WHERE story_id = ?", (story_id,))]
        conn.execute("UPDATE stories SET wrapped_key = zeroblob(length(wrapped_key)) WHERE id = ?", (story_id,))
        conn.execute("DELETE FROM stories WHERE id = ?", (story_id,))  # assets, consents, jobs follow (ON DELETE CASCADE)
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for name in names:
        vault.delete(name)
        vault.discard_growing(name)
    return len(names)
