"""SQLite for Storyteller: WAL, foreign keys, secure delete, numbered migrations.

``connect(path)`` is the only way to open the database. ``migrate`` brings a
database to the newest schema by running each numbered step once inside a
transaction and recording the step in ``PRAGMA user_version``.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

# Append new steps; never edit a step that has shipped.
MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE workshops (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        language TEXT NOT NULL DEFAULT 'ur',
        place TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    CREATE TABLE participants (
        id INTEGER PRIMARY KEY,
        workshop_id INTEGER NOT NULL REFERENCES workshops(id) ON DELETE CASCADE,
        alias TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    CREATE TABLE stories (
        id INTEGER PRIMARY KEY,
        participant_id INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
        title TEXT NOT NULL DEFAULT '',
        language TEXT NOT NULL DEFAULT 'ur',
        script TEXT NOT NULL DEFAULT '',
        voice_secret TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    CREATE TABLE assets (
        id INTEGER PRIMARY KEY,
        story_id INTEGER REFERENCES stories(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('photo', 'drawing', 'narration', 'video', 'music', 'export', 'other')),
        vault_name TEXT NOT NULL UNIQUE,
        original_name TEXT NOT NULL DEFAULT '',
        media_type TEXT NOT NULL DEFAULT '',
        size_bytes INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        story_id INTEGER REFERENCES stories(id) ON DELETE CASCADE,
        params TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT 'queued'
            CHECK (state IN ('queued', 'running', 'done', 'failed', 'interrupted', 'cancelled')),
        stage TEXT NOT NULL DEFAULT '',
        progress REAL NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
        heartbeat REAL,
        attempt INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL DEFAULT 3,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        result TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    CREATE INDEX jobs_state ON jobs(state);
    CREATE INDEX assets_story ON assets(story_id);
    """,
    # 2: the participant's journey: PIN sign-in, her story's step, status and media
    # plan, per-asset facts, and consent rows (the newest row is the current level).
    """
    ALTER TABLE participants ADD COLUMN pin_hash TEXT NOT NULL DEFAULT '';
    ALTER TABLE participants ADD COLUMN failed_pins INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE participants ADD COLUMN retry_after REAL NOT NULL DEFAULT 0;
    ALTER TABLE stories ADD COLUMN step TEXT NOT NULL DEFAULT 'consent';
    ALTER TABLE stories ADD COLUMN status TEXT NOT NULL DEFAULT 'draft';
    ALTER TABLE stories ADD COLUMN plan TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE stories ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE assets ADD COLUMN meta TEXT NOT NULL DEFAULT '{}';
    CREATE TABLE consents (
        id INTEGER PRIMARY KEY,
        story_id INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
        level TEXT NOT NULL CHECK (level IN ('workshop', 'organisation', 'public')),
        text_version TEXT NOT NULL,
        language TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX consents_story ON consents(story_id);
    CREATE UNIQUE INDEX participants_alias ON participants(workshop_id, alias);
    CREATE UNIQUE INDEX stories_participant ON stories(participant_id)
    """,
    # 3: her session lives on the server (token and last-seen time), so a lock or a quick
    # exit ends it even if an old cookie comes back (a save that was on its way when she
    # left), and requests after sign-in never need to rewrite the cookie.
    """
    ALTER TABLE participants ADD COLUMN session_token TEXT NOT NULL DEFAULT '';
    ALTER TABLE participants ADD COLUMN session_seen REAL NOT NULL DEFAULT 0
    """,
    # 4: the facilitator's passphrase (store/passphrase.py): the Argon2id parameters and a
    # verifier, never the key it gives; wrong tries slow the next one down.
    """
    CREATE TABLE facilitator (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        kdf TEXT NOT NULL,
        verifier TEXT NOT NULL,
        failed_tries INTEGER NOT NULL DEFAULT 0,
        retry_after REAL NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    )
    """,
    # 5: the consent ledger says who recorded each row (her, or the facilitator on her
    # behalf), a hash of the exact words she was shown, and withdrawal as a row of its own
    # (its level is the one withdrawn), so nothing agreed before is ever overwritten.
    """
    ALTER TABLE consents ADD COLUMN recorded_by TEXT NOT NULL DEFAULT 'participant'
        CHECK (recorded_by IN ('participant', 'facilitator'));
    ALTER TABLE consents ADD COLUMN text_sha256 TEXT NOT NULL DEFAULT '';
    ALTER TABLE consents ADD COLUMN withdrawn INTEGER NOT NULL DEFAULT 0 CHECK (withdrawn IN (0, 1))
    """,
    # 6: (vault) each story's own key, wrapped by the workshop key (store/crypto.py); made on
    # first use. Deleting the story destroys it first (crypto-shredding).
    """
    ALTER TABLE stories ADD COLUMN wrapped_key BLOB
    """,
    # 7: the kit a workshop was made from ('' for none: the built-in words), and where
    # each story stands in its workshop's screening playlist (the facilitator's order).
    """
    ALTER TABLE workshops ADD COLUMN kit TEXT NOT NULL DEFAULT '';
    ALTER TABLE stories ADD COLUMN screening_position INTEGER NOT NULL DEFAULT 0
    """,
    # 8: her words sealed with her story's key (store/stories.py, crypto.seal_record):
    # stories.sealed holds title, script and plan as one record, and the plain columns stay
    # empty. A consent row keeps only its story, its time and its sealed fields; the table
    # is made again without the old columns, whose CHECKs would force a level into the
    # open. Rows written before this step keep their words in the plain columns (stories)
    # or ``plain`` (consents, as JSON) until the first unlock seals them (seal_plain_rows).
    """
    ALTER TABLE stories ADD COLUMN sealed BLOB;
    CREATE TABLE consents_sealed (
        id INTEGER PRIMARY KEY,
        story_id INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        sealed BLOB,
        plain TEXT NOT NULL DEFAULT ''
    );
    INSERT INTO consents_sealed (id, story_id, created_at, plain)
        SELECT id, story_id, created_at, json_object('level', level, 'text_version', text_version, 'language', language,
            'recorded_by', recorded_by, 'text_sha256', text_sha256, 'withdrawn', withdrawn)
        FROM consents;
    DROP TABLE consents;
    ALTER TABLE consents_sealed RENAME TO consents;
    CREATE INDEX consents_story ON consents(story_id)
    """,
    # 9: files on their way from a phone (store/phone_uploads.py): kept here, not in the
    # server's memory, so a restart mid-upload goes on from the pieces already in the vault.
    # The phone holds the token; only its hash is kept.
    """
    CREATE TABLE phone_uploads (
        token_sha256 TEXT PRIMARY KEY,
        story_id INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('narration', 'photo')),
        vault_name TEXT NOT NULL,
        size INTEGER NOT NULL,
        media_type TEXT NOT NULL DEFAULT ''
    )
    """,
)


def db_path(data_dir: str | Path) -> Path:
    """Where a data folder keeps its database."""
    return Path(data_dir) / "storyteller.sqlite3"


def connect(path: str | Path) -> sqlite3.Connection:
    """Open the database with the project's pragmas; rows behave like dicts."""
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    _use_write_ahead_log(conn)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _use_write_ahead_log(conn: sqlite3.Connection) -> None:
    """Turn on WAL, waiting for any other process that is turning it on right now.

    Switching a new file to WAL needs its exclusive lock. When the app and its workers
    open a new database at once, SQLite answers "locked" straight away instead of
    waiting on the busy timeout (waiting could deadlock two readers that both want
    to write). The first to win sets WAL in the file for good; the rest just retry.
    """
    deadline = time.monotonic() + 30
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def rollback(conn: sqlite3.Connection) -> None:
    """Undo the open transaction, unless SQLite has already undone it.

    After some errors (a full disk: SQLITE_FULL, SQLITE_IOERR) SQLite rolls the whole
    transaction back itself; a ROLLBACK then fails with "no transaction is active" and
    hides the error that says what happened.
    """
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than the database; return the new version.

    The version is read inside the write lock: two processes opening a new
    database at once (the app and its workers) would otherwise both run step 1.
    """
    if schema_version(conn) == len(MIGRATIONS):
        return len(MIGRATIONS)
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(conn)
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # executescript would commit our transaction; run statements one by one.
            for statement in (s.strip() for s in script.split(";")):
                if statement:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return schema_version(conn)


def open_database(path: str | Path) -> sqlite3.Connection:
    """Connect and migrate: what every process does first."""
    conn = connect(path)
    migrate(conn)
    return conn
