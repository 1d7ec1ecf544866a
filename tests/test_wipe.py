"""Wiping a workshop leaves none of its bytes in the data folder: not in the vault, the
database, its write-ahead log or a job's plaintext folder (in /dev/shm or the data folder);
other workshops are untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storyteller.cli import main as cli
from storyteller.jobs import state
from storyteller.store import participants as people
from storyteller.store import stories
from storyteller.store.db import db_path, open_database
from storyteller.store.vault import make_plaintext_folder, plaintext_folders, vault_for, wipe_folder
from storyteller.store.wipe import WipeError, find_workshop, wipe_workshop
from storyteller.store.workshops import create_workshop, list_workshops

GONE, KEPT = b"GONE-7f3a9c-her-words", b"KEPT-51be02-other-words"


@pytest.fixture
def conn(data_dir):
    conn = open_database(db_path(data_dir))
    yield conn
    conn.close()
    for folder in list(plaintext_folders(data_dir)):  # the kept workshop's, left in /dev/shm
        wipe_folder(folder)


def seed(conn, data_dir: Path, workshop_name: str, marker: bytes) -> int:
    """A workshop whose story carries ``marker`` in its pseudonyms, script, title, a recording, a picture and a job's plain copy."""
    workshop_key = os.urandom(32)
    workshop = create_workshop(conn, workshop_name, "ur")
    for n, alias in enumerate(("Rose", "Jasmine")):
        # Her pseudonym stays plain in the database (it is chosen before any key); her words are sealed.
        story = stories.story_of(conn, people.add_participant(conn, workshop, f"{alias} {marker.decode()}", "4821"), "ur", workshop_key)
        for revision in range(3):  # several versions of the script, as autosave writes them
            stories.save_script(
                conn, story.id, f"{marker.decode()} draft {revision} " * 40, revision, title=marker.decode(), workshop_key=workshop_key
            )
        stories.record_consent(conn, story.id, "public", "v1", "ur", workshop_key=workshop_key)
        vault = vault_for(data_dir).with_key(stories.media_key(conn, story.id, workshop_key))
        stories.add_asset(conn, story.id, "narration", vault.put_bytes(b"RIFF" + marker * 50, ".wav"), meta={"part": "whole"})
        stories.add_asset(conn, story.id, "photo", vault.put_bytes(b"\xff\xd8" + marker * 50, ".jpg"))
        growing = vault.start_growing(".webm")
        vault.append_growing(growing, marker * 10, 0)
        stories.add_asset(conn, story.id, "narration", growing, meta={"part": n, "growing": True})
        job = state.create_job(conn, "render_story", {"quality": "final"}, story_id=story.id)
        (make_plaintext_folder(data_dir, f"job{job}") / "joined.wav").write_bytes(marker * 20)  # as a killed worker left it
    return workshop


def holding(data_dir: Path, marker: bytes) -> list[str]:
    """Every file under the data folder or in its plaintext folders that holds ``marker``."""
    files = [*data_dir.rglob("*"), *(p for folder in plaintext_folders(data_dir) for p in folder.rglob("*"))]
    return sorted(
        str(p.relative_to(data_dir)) if p.is_relative_to(data_dir) else p.name for p in files if p.is_file() and marker in p.read_bytes()
    )


def test_wipe_leaves_no_byte_of_the_workshop_and_keeps_the_others(conn, data_dir):
    doomed = seed(conn, data_dir, "Mardan circle", GONE)
    kept = seed(conn, data_dir, "Multan circle", KEPT)
    assert "storyteller.sqlite3-wal" in holding(data_dir, GONE) or "storyteller.sqlite3" in holding(data_dir, GONE)
    # The scan sees the database and the jobs' plain copies; the vault's files are
    # ciphertext, so the marker is never found in them, before the wipe or after.
    assert len(holding(data_dir, GONE)) >= 3
    assert not [p for p in holding(data_dir, GONE) if p.startswith("vault")]

    report = wipe_workshop(conn, data_dir, doomed)

    assert (report.stories, report.files) == (2, 6)
    assert holding(data_dir, GONE) == []
    assert any(p.endswith("joined.wav") for p in holding(data_dir, KEPT))  # the other workshop's job keeps its folder
    assert [w.id for w in list_workshops(conn)] == [kept]
    assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 2  # her jobs are forgotten: none of them will run
    assert len(holding(data_dir, KEPT)) >= 3
    for story in conn.execute("SELECT id FROM stories").fetchall():
        assert len(stories.story_assets(conn, story["id"])) == 2
        assert all(vault_for(data_dir).exists(a.vault_name) for a in stories.story_assets(conn, story["id"]))  # her files stay
    assert conn.execute("SELECT COUNT(*) FROM participants").fetchone()[0] == 2


def test_find_workshop_by_name_or_number_and_refuses_an_ambiguous_name(conn):
    first = create_workshop(conn, "Peshawar circle", "ps")
    assert find_workshop(conn, "Peshawar circle").id == first
    assert find_workshop(conn, str(first)).id == first
    assert find_workshop(conn, "Peshawar") is None
    create_workshop(conn, "Peshawar circle", "ps")
    with pytest.raises(WipeError):
        find_workshop(conn, "Peshawar circle")


def test_cli_asks_for_the_name_and_says_what_a_disk_may_keep(conn, data_dir, runner):
    seed(conn, data_dir, "Mardan circle", GONE)
    r = runner.invoke(cli, ["wipe", "Mardan circle", "--data", str(data_dir)], input="Mardan\n")
    assert r.exit_code == 1 and "nothing was wiped" in r.output
    assert holding(data_dir, GONE)

    r = runner.invoke(cli, ["wipe", "Mardan circle", "--data", str(data_dir)], input="Mardan circle\n")
    assert r.exit_code == 0, r.output
    assert "Wiped: 2 stories" in r.output and "SSD" in r.output
    assert holding(data_dir, GONE) == []

    r = runner.invoke(cli, ["wipe", "Mardan circle", "--yes", "--data", str(data_dir)])
    assert r.exit_code == 1 and "no workshop called" in r.output
