"""Queries for workshops, the languages Storyteller offers, and each workshop's screening playlist."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from storyteller.textsafety import clean_label

# code -> (English name, own name). Dari is Whisper's "fa"; Punjabi here is Shahmukhi.
LANGUAGES: dict[str, tuple[str, str]] = {
    "ur": ("Urdu", "اردو"),
    "en": ("English", "English"),
    "ps": ("Pashto", "پښتو"),
    "pa": ("Punjabi (Shahmukhi)", "پنجابی"),
    "sd": ("Sindhi", "سنڌي"),
    "fa": ("Dari", "دری"),
}


@dataclass(frozen=True)
class Workshop:
    id: int
    name: str
    language: str
    place: str
    created_at: str
    kit: str = ""  # the kit's folder name under workshops/, or "" for the built-in words

    @property
    def language_name(self) -> str:
        return LANGUAGES.get(self.language, (self.language, self.language))[0]

    @property
    def language_own_name(self) -> str:
        return LANGUAGES.get(self.language, (self.language, self.language))[1]


_COLUMNS = "id, name, language, place, created_at, kit"


def list_workshops(conn: sqlite3.Connection) -> list[Workshop]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM workshops ORDER BY created_at DESC, id DESC")
    return [Workshop(**dict(r)) for r in rows]


def get_workshop(conn: sqlite3.Connection, workshop_id: int) -> Workshop | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM workshops WHERE id = ?", (workshop_id,)).fetchone()
    return Workshop(**dict(row)) if row else None


def create_workshop(conn: sqlite3.Connection, name: str, language: str, place: str = "", kit: str = "") -> int:
    if language not in LANGUAGES:
        raise ValueError("Choose one of the offered languages.")
    name = clean_label(name)
    if not name:
        raise ValueError("Give the workshop a name.")
    cur = conn.execute("INSERT INTO workshops (name, language, place, kit) VALUES (?, ?, ?, ?)", (name, language, clean_label(place), kit))
    return int(cur.lastrowid)


# -- the screening playlist ------------------------------------------------------
@dataclass(frozen=True)
class ScreeningEntry:
    """A story of the workshop that is ready to screen: marked ready by her, with a final video."""

    story_id: int
    alias: str
    title: str  # sealed in the database: '' here, the desk opens it with the workshop key
    video: str  # the vault name of the newest final video


def screening_playlist(conn: sqlite3.Connection, workshop_id: int) -> list[ScreeningEntry]:
    """Ready stories with a final video, in the facilitator's order (newcomers last).

    Consent is not checked here: the desk checks it each time the playlist or a video is served.
    """
    rows = conn.execute(
        """
        SELECT s.id AS story_id, p.alias, '' AS title,
               (SELECT a.vault_name FROM assets a WHERE a.story_id = s.id AND a.kind = 'export'
                  AND json_extract(a.meta, '$.quality') = 'final' ORDER BY a.id DESC LIMIT 1) AS video
        FROM stories s JOIN participants p ON p.id = s.participant_id
        WHERE p.workshop_id = ? AND s.status = 'ready'
        ORDER BY s.screening_position, s.id
        """,
        (workshop_id,),
    )
    return [ScreeningEntry(**dict(r)) for r in rows if r["video"]]


def move_in_playlist(conn: sqlite3.Connection, workshop_id: int, story_id: int, offset: int) -> None:
    """Move one story up (-1) or down (+1); the whole order is written again, so positions stay 0..n-1."""
    order = [entry.story_id for entry in screening_playlist(conn, workshop_id)]
    if story_id not in order:
        return
    at = order.index(story_id)
    to = min(len(order) - 1, max(0, at + offset))
    order.insert(to, order.pop(at))
    for position, sid in enumerate(order):
        conn.execute("UPDATE stories SET screening_position = ? WHERE id = ?", (position, sid))
