"""Wiping a workshop: every story, file and row of it, and the database's free pages too.

Each story goes through the store's own delete path (``stories.delete_story``), which
destroys its files in the vault. Then SQLite overwrites what it freed (``secure_delete``),
folds its write-ahead log back into the database and empties it, and rebuilds the file
(VACUUM), so a deleted script cannot be read from a free page or an old log frame.

What no program can promise: a flash disk (SSD, USB stick, phone) writes new data to fresh
cells and keeps the old ones until it reuses them. That is why the vault is encrypted
first: what the disk keeps is ciphertext whose key is gone.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from storyteller.errors import N_, UserError
from storyteller.store import stories
from storyteller.store.vault import job_plaintext_folders, vault_for, wipe_folder
from storyteller.store.workshops import Workshop, list_workshops

SSD_WARNING = N_(
    "A flash disk (SSD or USB stick) may keep old copies of deleted data in its cells until it reuses them. "
    "Storyteller keeps the recordings and pictures encrypted for this reason: what stays behind cannot be read."
)


class WipeError(UserError):
    """The wipe could not be done as asked; a plain sentence."""


@dataclass(frozen=True)
class WipeReport:
    stories: int
    files: int


def find_workshop(conn: sqlite3.Connection, name_or_number: str) -> Workshop | None:
    """The workshop with this exact name, or with this number."""
    found = list_workshops(conn)
    named = [w for w in found if w.name == name_or_number.strip()]
    if len(named) > 1:
        raise WipeError(N_("Two workshops have this name. Give the workshop's number instead."))
    if named:
        return named[0]
    if name_or_number.strip().isdigit():
        return next((w for w in found if w.id == int(name_or_number)), None)
    return None


def wipe_workshop(conn: sqlite3.Connection, data_dir: str | Path, workshop_id: int) -> WipeReport:
    """Destroy the workshop and everything of it; other workshops are untouched."""
    vault = vault_for(data_dir)
    story_ids = [
        row["id"]
        for row in conn.execute(
            "SELECT stories.id FROM stories JOIN participants ON participants.id = stories.participant_id WHERE participants.workshop_id = ?",
            (workshop_id,),
        )
    ]
    job_ids = [
        row["id"]
        for row in conn.execute(
            f"SELECT id FROM jobs WHERE story_id IN ({','.join('?' * len(story_ids))})",  # only "?" placeholders
            story_ids,
        )
    ]
    # Her jobs' rows go with her stories (ON DELETE CASCADE): a queued job then finds no row to
    # claim and is skipped, a running one reads that as a cancel and stops.
    files = sum(stories.delete_story(conn, vault, story_id) for story_id in story_ids)
    for job_id in job_ids:  # a job's plaintext folder holds decrypted media of her story
        for folder in job_plaintext_folders(data_dir, job_id):
            wipe_folder(folder)
    conn.execute("DELETE FROM workshops WHERE id = ?", (workshop_id,))  # its participants go with it
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # VACUUM itself went through the log
    return WipeReport(stories=len(story_ids), files=files)
