import sqlite3

import pytest

from storyteller.store.db import MIGRATIONS, connect, migrate, open_database, schema_version


def test_migrate_creates_tables_and_is_idempotent(data_dir):
    conn = open_database(data_dir / "x.sqlite3")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"workshops", "participants", "stories", "assets", "jobs"} <= tables
    assert schema_version(conn) == len(MIGRATIONS)
    assert migrate(conn) == len(MIGRATIONS)


def test_pragmas(data_dir):
    conn = connect(data_dir / "x.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_foreign_keys_enforced(data_dir):
    conn = open_database(data_dir / "x.sqlite3")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO participants (workshop_id, alias) VALUES (999, 'A')")


def test_failed_migration_rolls_back(data_dir, monkeypatch):
    import storyteller.store.db as db

    conn = db.open_database(data_dir / "x.sqlite3")
    monkeypatch.setattr(db, "MIGRATIONS", db.MIGRATIONS + ("CREATE TABLE extra (id INTEGER); THIS IS NOT SQL",))
    with pytest.raises(sqlite3.OperationalError):
        db.migrate(conn)
    assert db.schema_version(conn) == len(MIGRATIONS)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name='extra'").fetchone()[0] == 0


def _migrate_when_told(path: str, go) -> None:
    go.wait()  # every process is started: they all open the new file and migrate at the same moment
    conn = connect(path)
    migrate(conn)
    conn.close()


def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path):
    """The app and its workers start together; each migrates a fresh database only once.

    Seen crashing twice: two processes running step 1, then (in CI) "database is locked"
    from the switch to WAL, which SQLite does not wait for.
    """
    import multiprocessing
    import time

    context = multiprocessing.get_context("spawn")
    for round_ in range(4):
        path = str(tmp_path / f"race-{round_}.sqlite3")
        go = context.Event()
        workers = [context.Process(target=_migrate_when_told, args=(path, go)) for _ in range(6)]
        for w in workers:
            w.start()
        time.sleep(2)  # not a timing assertion: only gives the processes time to reach the start line
        go.set()
        for w in workers:
            w.join(60)
        assert [w.exitcode for w in workers] == [0] * 6
        conn = connect(path)
        assert schema_version(conn) == len(MIGRATIONS)
        conn.close()
