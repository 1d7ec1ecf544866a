"""The facilitator's passphrase: set once, the right one gives the same workshop key, wrong ones slow down."""

import pytest

from storyteller.store import passphrase
from storyteller.store.db import db_path, open_database


@pytest.fixture
def conn(tmp_path):
    c = open_database(db_path(tmp_path))
    yield c
    c.close()


def test_the_right_passphrase_gives_the_key_it_was_set_with(conn):
    assert not passphrase.is_set(conn)
    key = passphrase.set_first(conn, "a river in spring")
    assert len(key) == 32 and passphrase.is_set(conn)
    assert passphrase.unlock(conn, "a river in spring").workshop_key == key


def test_the_key_is_not_stored(conn, tmp_path):
    key = passphrase.set_first(conn, "a river in spring")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stored = db_path(tmp_path).read_bytes()
    assert key not in stored and key.hex().encode() not in stored


def test_set_only_once_and_not_too_short(conn):
    with pytest.raises(passphrase.PassphraseError, match="too short"):
        passphrase.set_first(conn, "short")
    passphrase.set_first(conn, "a river in spring")
    with pytest.raises(passphrase.PassphraseError, match="already set"):
        passphrase.set_first(conn, "another one entirely")


def test_wrong_tries_slow_the_next_one_down(conn):
    passphrase.set_first(conn, "a river in spring")
    now = 1000.0
    for _ in range(passphrase.FREE_TRIES):
        result = passphrase.unlock(conn, "wrong guess", now=now)
        assert result.workshop_key is None and result.wait_seconds == 0
    result = passphrase.unlock(conn, "wrong guess", now=now)
    assert result.wait_seconds > 0
    # Even the right passphrase is not looked at before the wait is over.
    too_soon = passphrase.unlock(conn, "a river in spring", now=now + 0.1)
    assert too_soon.workshop_key is None and not too_soon.checked
    assert passphrase.unlock(conn, "a river in spring", now=now + 61).workshop_key is not None


def test_tries_at_the_same_time_each_count(conn, tmp_path, monkeypatch):
    """A second try during the first one's key derivation finds the first counted, as at her PIN."""
    passphrase.set_first(conn, "a river in spring")
    conn.execute("UPDATE facilitator SET failed_tries = ?", (passphrase.FREE_TRIES,))  # the next wrong try makes the one after wait
    other = open_database(db_path(tmp_path))
    real, meanwhile = passphrase._derive, []

    def deriving(typed, salt, params):
        if typed == "wrong guess":  # while the first try is being checked, a second one comes in
            meanwhile.append(passphrase.unlock(other, "another guess", now=1000.0))
        return real(typed, salt, params)

    monkeypatch.setattr(passphrase, "_derive", deriving)
    first = passphrase.unlock(conn, "wrong guess", now=1000.0)
    assert first.workshop_key is None and first.wait_seconds == 2.0
    assert meanwhile[0].checked is False and meanwhile[0].wait_seconds == 2.0  # the first try already counted
    assert conn.execute("SELECT failed_tries FROM facilitator").fetchone()[0] == passphrase.FREE_TRIES + 1
    assert passphrase.unlock(conn, "a river in spring", now=1002.0).workshop_key is not None
    assert tuple(conn.execute("SELECT failed_tries, retry_after FROM facilitator").fetchone()) == (0, 0)
    other.close()
