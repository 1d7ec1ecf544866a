"""Queries for workshops, and the languages Storyteller offers."""

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

    @property
    def language_name(self) -> str:
        return LANGUAGES.get(self.language, (self.language, self.language))[0]

    @property
    def language_own_name(self) -> str:
        return LANGUAGES.get(self.language, (self.language, self.language))[1]


def list_workshops(conn: sqlite3.Connection) -> list[Workshop]:
    rows = conn.execute("SELECT id, name, language, place, created_at FROM workshops ORDER BY created_at DESC, id DESC")
    return [Workshop(**dict(r)) for r in rows]


def create_workshop(conn: sqlite3.Connection, name: str, language: str, place: str = "") -> int:
    if language not in LANGUAGES:
        raise ValueError("Choose one of the offered languages.")
    name = clean_label(name)
    if not name:
        raise ValueError("Give the workshop a name.")
    cur = conn.execute("INSERT INTO workshops (name, language, place) VALUES (?, ?, ?)", (name, language, clean_label(place)))
    return int(cur.lastrowid)
