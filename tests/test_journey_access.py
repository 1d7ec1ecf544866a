"""Steps 1-4 of the journey through the routes: sign-in, locks, consent, autosave, recording.

Recordings are real audio made with the project's ffmpeg from a generated tone
burst pattern (a voice-like signal that the silence check must accept), cut into
byte chunks the way MediaRecorder's timeslices arrive.
"""

from __future__ import annotations

import io
import re
import subprocess
import time

import numpy as np
import pytest

from storyteller.app import create_app
from storyteller.pipeline.media.audio import write_wav
from storyteller.pipeline.media.ffmpeg import ffmpeg_binary
from storyteller.store import participants as people
from storyteller.store import stories
from storyteller.store.db import db_path, open_database
from storyteller.store.vault import vault_for
from storyteller.store.workshops import create_workshop
from tests.conftest import unlock, vault_bytes, workshop_key

FETCH = {"X-Requested-With": "fetch"}
RATE = 48000


def _db(app):
    return open_database(db_path(app.config["DATA_DIR"]))


@pytest.fixture
def people_of(app):
    """A workshop with Rose (PIN 4821) and Jasmine (PIN 7305): their ids."""
    conn = _db(app)
    workshop = create_workshop(conn, "Lahore story circle", "ur")
    ids = {
        "workshop": workshop,
        "rose": people.add_participant(conn, workshop, "Rose", "4821"),
        "jasmine": people.add_participant(conn, workshop, "Jasmine", "7305"),
    }
    conn.close()
    return ids


def sign_in(client, ids, who="rose", pin="4821"):
    client.get(f"/story/signin?workshop={ids['workshop']}")
    return client.post("/story/signin", data={"participant": ids[who], "pin": pin})


def _speechlike(seconds: float, level: float = 0.3) -> np.ndarray:
    """Syllable-rate bursts of a voiced tone with harmonics: loud enough to count as a voice."""
    t = np.arange(int(seconds * RATE)) / RATE
    voice = sum(np.sin(2 * np.pi * 180 * k * t) / k for k in range(1, 6))
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None)
    return (level * voice * envelope / 2).astype(np.float32)


def _webm(tmp_path, samples: np.ndarray, name="take") -> bytes:
    wav = write_wav(tmp_path / f"{name}.wav", samples, RATE)
    out = tmp_path / f"{name}.webm"
    subprocess.run([ffmpeg_binary(), "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "libopus", str(out)], check=True)
    return out.read_bytes()


def _send_chunks(client, data: bytes, part="whole", size=16000, take=None, start=0):
    for offset in range(start, len(data), size):
        form = {
            "offset": str(offset),
            "part": str(part),
            "type": "audio/webm;codecs=opus",
            "chunk": (io.BytesIO(data[offset : offset + size]), "chunk"),
        }
        if take is not None:
            form["take"] = str(take)
        r = client.post("/story/record/chunk", data=form, headers=FETCH, content_type="multipart/form-data")
        assert r.status_code == 200, r.get_json()
        take = r.get_json()["take"]
    return take


# ------------------------------------------------------------------ sign-in and locks
def test_pin_is_stored_as_slow_salted_hash(app, people_of):
    conn = _db(app)
    rows = conn.execute("SELECT pin_hash FROM participants ORDER BY id").fetchall()
    assert all(r[0].startswith("scrypt$") and "4821" not in r[0] for r in rows)
    assert people.hash_pin("4821") != people.hash_pin("4821")  # random salt
    assert people.pin_matches("4821", rows[0][0]) and not people.pin_matches("4822", rows[0][0])


def test_sign_in_lists_pseudonyms_and_opens_her_story(client, people_of):
    page = client.get(f"/story/signin?workshop={people_of['workshop']}").get_data(as_text=True)
    assert "Rose" in page and "Jasmine" in page
    r = sign_in(client, people_of)
    assert r.status_code == 302 and r.headers["Location"].endswith("/story/consent")  # no consent yet
    assert client.get("/story/consent").status_code == 200


def test_wrong_pin_is_refused_and_slows_down(app, client, people_of):
    r = sign_in(client, people_of, pin="0000")
    assert r.status_code == 200 and "That PIN is not right" in r.get_data(as_text=True)
    assert client.get("/story/consent").status_code == 302
    for _ in range(people.FREE_TRIES):
        sign_in(client, people_of, pin="0000")
    # Now a wait is due: even the right PIN is not looked at until it has passed.
    r = sign_in(client, people_of)
    assert r.status_code == 200 and "Too many wrong tries" in r.get_data(as_text=True)
    conn = _db(app)
    conn.execute("UPDATE participants SET retry_after = 0 WHERE id = ?", (people_of["rose"],))
    assert sign_in(client, people_of).status_code == 302


def test_waiting_time_doubles_and_is_capped():
    waits = []
    conn = open_database(":memory:")
    workshop = create_workshop(conn, "W", "en")
    pid = people.add_participant(conn, workshop, "A", "1234")
    now = 1000.0
    for _ in range(people.LOCK_AFTER - 1):  # one more wrong try would lock her name (test_security_web)
        result = people.sign_in(conn, workshop, pid, "9999", now=now)
        waits.append(result.wait_seconds)
        now += result.wait_seconds
    assert waits[: people.FREE_TRIES] == [0.0] * people.FREE_TRIES
    assert waits[people.FREE_TRIES : people.FREE_TRIES + 3] == [2.0, 4.0, 8.0]
    assert max(waits) == people.MAX_WAIT_SECONDS
    assert people.sign_in(conn, workshop, pid, "1234", now=now - 1).checked is False
    assert people.sign_in(conn, workshop, pid, "1234", now=now).participant.id == pid


def test_tries_at_the_same_time_each_count(tmp_path, monkeypatch):
    """Two tries of her PIN at once (two phones, two tabs): the second must not slip in while the
    first is being checked (a quarter second of scrypt) and leave one wrong try counted for two."""
    conn, other = (open_database(tmp_path / "db.sqlite3") for _ in range(2))
    workshop = create_workshop(conn, "W", "en")
    pid = people.add_participant(conn, workshop, "A", "1234")
    conn.execute("UPDATE participants SET failed_pins = ? WHERE id = ?", (people.FREE_TRIES, pid))  # the next wrong try makes her wait
    real, meanwhile = people.pin_matches, []

    def checking(pin, stored):
        if pin == "9999":  # while the first try is being checked, a second one comes in
            meanwhile.append(people.sign_in(other, workshop, pid, "8888", now=1000.0))
        return real(pin, stored)

    monkeypatch.setattr(people, "pin_matches", checking)
    first = people.sign_in(conn, workshop, pid, "9999", now=1000.0)
    assert first.participant is None and first.wait_seconds == 2.0
    assert meanwhile[0].checked is False and meanwhile[0].wait_seconds == 2.0  # the first try already counted
    assert conn.execute("SELECT failed_pins FROM participants WHERE id = ?", (pid,)).fetchone()[0] == people.FREE_TRIES + 1
    # The right PIN, once she may try again, opens her name and forgets the wrong tries.
    assert people.sign_in(conn, workshop, pid, "1234", now=1002.0).participant.id == pid
    assert tuple(conn.execute("SELECT failed_pins, retry_after FROM participants WHERE id = ?", (pid,)).fetchone()) == (0, 0)


def test_lock_button_ends_her_session(client, people_of):
    sign_in(client, people_of)
    assert client.get("/story/write").status_code == 200
    r = client.post("/story/lock")
    assert r.status_code == 302 and "/story/signin" in r.headers["Location"]
    r = client.get("/story/write")
    assert r.status_code == 302 and "/story/signin" in r.headers["Location"]
    assert client.post("/story/write/save", data={"script": "x", "revision": 0}, headers=FETCH).status_code == 401


def _last_seen(app, participant_id: int, seconds_ago: float) -> None:
    _db(app).execute("UPDATE participants SET session_seen = ? WHERE id = ?", (time.time() - seconds_ago, participant_id))


def test_idle_session_locks_after_five_minutes(app, client, people_of):
    sign_in(client, people_of)
    _last_seen(app, people_of["rose"], 4 * 60)
    assert client.get("/story/write").status_code == 200  # four minutes: still hers, and seen again now
    _last_seen(app, people_of["rose"], 5 * 60 + 1)
    r = client.get("/story/write")
    assert r.status_code == 302 and "locked=1" in r.headers["Location"]
    _last_seen(app, people_of["rose"], 0)
    assert client.get("/story/write").status_code == 302  # locked for good, not just while idle
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "locked and safe" in page


def test_a_cookie_that_comes_back_after_a_lock_opens_nothing(client, people_of):
    """A save sent as she left may answer after the lock with her old cookie: it must not sign her in."""
    sign_in(client, people_of)
    with client.session_transaction() as s:
        old_cookie = dict(s)
    client.post("/story/lock")
    with client.session_transaction() as s:
        s.update(old_cookie)
    assert client.get("/story/write").status_code == 302
    sign_in(client, people_of)
    client.get("/exit")
    with client.session_transaction() as s:
        s.update(old_cookie)
    assert client.get("/story/write").status_code == 302


def test_requests_after_sign_in_do_not_rewrite_the_cookie(client, people_of):
    sign_in(client, people_of)
    r = client.post("/story/write/save", data={"script": "x", "revision": 0}, headers=FETCH)
    assert r.status_code == 200 and "Set-Cookie" not in r.headers
    assert "Set-Cookie" not in client.get("/story/write").headers


def test_locked_pages_hold_nothing_of_her_story(client, people_of):
    sign_in(client, people_of)
    client.post("/story/write/save", data={"script": "My secret words", "revision": 0})
    assert "My secret words" in client.get("/story/write").get_data(as_text=True)
    client.get("/exit")
    r = client.get("/story/write", follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "My secret words" not in page and 'id="workshop-list"' in page
    assert "no-store" in r.headers["Cache-Control"]


def test_unknown_participant_or_other_workshop_cannot_sign_in(app, client, people_of):
    conn = _db(app)
    other = create_workshop(conn, "Other", "en")
    stranger = people.add_participant(conn, other, "Stranger", "1111")
    client.get(f"/story/signin?workshop={people_of['workshop']}")
    r = client.post("/story/signin", data={"participant": stranger, "pin": "1111"})
    assert r.status_code == 200 and client.get("/story/consent").status_code == 302


# ------------------------------------------------------------------ consent
def test_consent_is_recorded_with_time_and_text_version_and_can_change(app, client, people_of):
    sign_in(client, people_of)
    assert client.post("/story/consent", data={"level": "public"}).status_code == 302
    assert client.post("/story/consent", data={"level": "workshop"}).status_code == 302
    assert client.post("/story/consent", data={"level": "everyone"}).status_code == 302  # refused, not recorded
    conn = _db(app)
    story = stories.story_of(conn, people_of["rose"], "ur", workshop_key(app))
    history = stories.consent_history(conn, story.id, workshop_key(app))
    assert [c.level for c in history] == ["workshop", "public"]
    assert all(c.text_version and re.match(r"\d{4}-\d\d-\d\dT", c.created_at) for c in history)
    assert stories.current_consent(conn, story.id, workshop_key(app)).level == "workshop"
    assert 'value="workshop" required checked' in client.get("/story/consent").get_data(as_text=True)


def test_consent_text_is_in_her_language(client, people_of):
    sign_in(client, people_of)
    page = client.get("/story/consent?lang=ur").get_data(as_text=True)
    assert "Only at the workshop screening" not in page
    assert 'dir="rtl"' in page


# ------------------------------------------------------------------ story editor
def test_autosave_keeps_revisions_and_warns_about_another_tab(app, client, people_of):
    sign_in(client, people_of)
    first = client.post("/story/write/save", data={"script": "First tab words", "revision": 0, "title": "My title"}, headers=FETCH)
    assert first.get_json() == {"saved": True, "revision": 1, "other_tab_text": None}
    again = client.post("/story/write/save", data={"script": "First tab words, more", "revision": 1}, headers=FETCH)
    assert again.get_json()["other_tab_text"] is None
    # A second tab opened at revision 0 saves over it: the save lands and hands back what it replaced.
    other = client.post("/story/write/save", data={"script": "Second tab words", "revision": 0}, headers=FETCH).get_json()
    assert other["saved"] and other["revision"] == 3 and other["other_tab_text"] == "First tab words, more"
    story = stories.story_of(_db(app), people_of["rose"], "ur", workshop_key(app))
    assert story.script == "Second tab words" and story.title == "My title" and story.revision == 3


def test_too_long_script_is_refused_with_a_message(client, people_of):
    sign_in(client, people_of)
    r = client.post("/story/write/save", data={"script": "word " * 25_000, "revision": 0}, headers=FETCH)
    assert r.status_code == 413 and "too long" in r.get_json()["message"]


def test_urdu_script_round_trips(app, client, people_of):
    sign_in(client, people_of)
    text = "میری کہانی\n\nدوسرا پیراگراف"
    client.post("/story/write/save", data={"script": text, "revision": 0}, headers=FETCH)
    page = client.get("/story/write").get_data(as_text=True)
    assert text in page and 'dir="auto"' in page


# ------------------------------------------------------------------ recording
def test_chunks_append_and_finish_into_a_take(app, client, people_of, tmp_path):
    sign_in(client, people_of)
    data = _webm(tmp_path, _speechlike(4.0))
    take = _send_chunks(client, data)
    vault = vault_for(app.config["DATA_DIR"])
    name = _db(app).execute("SELECT vault_name FROM assets WHERE id = ?", (take,)).fetchone()[0]
    assert vault.growing_size(name) == len(data)
    # A chunk sent twice (its answer was lost) is not appended again; a gap is refused with the size to resend from.
    r = client.post(
        "/story/record/chunk",
        data={"take": str(take), "offset": "0", "chunk": (io.BytesIO(data[:16000]), "c")},
        headers=FETCH,
        content_type="multipart/form-data",
    )
    assert r.get_json()["size"] == len(data)
    r = client.post(
        "/story/record/chunk",
        data={"take": str(take), "offset": str(len(data) + 10), "chunk": (io.BytesIO(b"x"), "c")},
        headers=FETCH,
        content_type="multipart/form-data",
    )
    assert r.status_code == 409 and r.get_json()["size"] == len(data)
    r = client.post("/story/record/finish", data={"take": take}, headers=FETCH)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["part"] == "whole" and 3.5 < r.get_json()["seconds"] < 4.5
    assert vault_bytes(app, name) == data
    audio = client.get(r.get_json()["url"])
    assert audio.status_code == 200 and audio.data == data


def test_interrupted_recording_is_kept_on_reload(app, client, people_of, tmp_path):
    """The tab died after some chunks (or the server restarted): the next visit keeps what arrived."""
    sign_in(client, people_of)
    data = _webm(tmp_path, _speechlike(6.0))
    half = len(data) // 2 // 16000 * 16000
    take = _send_chunks(client, data[:half])
    # A restarted server must not sweep the take away with stale temp files.
    app2 = create_app({"TESTING": True, "DATA_DIR": app.config["DATA_DIR"], "WTF_CSRF_ENABLED": False})
    vault = vault_for(app.config["DATA_DIR"])
    name = _db(app).execute("SELECT vault_name FROM assets WHERE id = ?", (take,)).fetchone()[0]
    assert vault.growing_size(name) == half
    # Still arriving (the last chunk is recent): a reload leaves it alone.
    assert "stopped before the end" not in app2.test_client().get("/story/record").get_data(as_text=True)
    old = time.time() - 60
    import os

    os.utime(vault.root / "recording" / f"{name}.part", (old, old))
    page = client.get("/story/record").get_data(as_text=True)
    assert "stopped before the end" in page
    takes = stories.narration_takes(_db(app), stories.story_of(_db(app), people_of["rose"], "ur", workshop_key(app)).id)
    assert takes["whole"].id == take and takes["whole"].meta["seconds"] > 1.0
    assert vault_bytes(app, name) == data[:half]


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        (np.zeros(RATE * 3, dtype=np.float32), "could not hear your voice"),
        (_speechlike(0.3), "too short"),
    ],
)
def test_silent_or_tiny_recording_gets_a_plain_message(app, client, people_of, tmp_path, samples, message):
    sign_in(client, people_of)
    take = _send_chunks(client, _webm(tmp_path, samples))
    r = client.post("/story/record/finish", data={"take": take}, headers=FETCH)
    assert r.status_code == 422 and message in r.get_json()["message"]
    assert _db(app).execute("SELECT count(*) FROM assets").fetchone()[0] == 0  # nothing useless kept
    assert not list((vault_for(app.config["DATA_DIR"]).root / "recording").iterdir())


def test_forty_minute_recording_is_refused(client, people_of, tmp_path):
    sign_in(client, people_of)
    long_wav = tmp_path / "long.ogg"
    subprocess.run(
        [
            ffmpeg_binary(),
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=220:sample_rate=8000:duration=2400",
            "-c:a",
            "libopus",
            "-b:a",
            "8k",
            str(long_wav),
        ],
        check=True,
    )
    r = client.post(
        "/story/record/upload", data={"audio": (long_wav.open("rb"), "long.ogg")}, content_type="multipart/form-data", follow_redirects=True
    )
    assert "longer than 20 minutes" in r.get_data(as_text=True)


def test_upload_that_is_not_audio_is_refused(client, people_of):
    sign_in(client, people_of)
    r = client.post(
        "/story/record/upload",
        data={"audio": (io.BytesIO(b"%PDF-1.4 not a sound"), "story.pdf")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "not a sound recording" in r.get_data(as_text=True)


def test_paragraph_takes_replace_only_their_own_paragraph(app, client, people_of, tmp_path):
    sign_in(client, people_of)
    client.post("/story/write/save", data={"script": "One.\n\nTwo.\n\nThree.", "revision": 0}, headers=FETCH)
    data = _webm(tmp_path, _speechlike(2.0))
    ids = {}
    for part in (0, 1, 1):
        take = _send_chunks(client, data, part=part)
        assert client.post("/story/record/finish", data={"take": take}, headers=FETCH).status_code == 200
        ids.setdefault(part, []).append(take)
    conn = _db(app)
    story_id = stories.story_of(conn, people_of["rose"], "ur", workshop_key(app)).id
    takes = stories.narration_takes(conn, story_id)
    assert {p: a.id for p, a in takes.items()} == {0: ids[0][0], 1: ids[1][1]}
    assert conn.execute("SELECT count(*) FROM assets WHERE kind = 'narration'").fetchone()[0] == 2
    # A paragraph beyond the script is refused.
    r = client.post(
        "/story/record/chunk",
        data={"offset": "0", "part": "7", "chunk": (io.BytesIO(data), "c")},
        headers=FETCH,
        content_type="multipart/form-data",
    )
    assert r.status_code == 400


# ------------------------------------------------------------------ her story only
def test_another_participants_take_is_404_like_a_missing_one(app, people_of, tmp_path):
    rose, jasmine = app.test_client(), app.test_client()
    sign_in(rose, people_of)
    take = _send_chunks(rose, _webm(tmp_path, _speechlike(2.0)))
    rose.post("/story/record/finish", data={"take": take}, headers=FETCH)
    assert rose.get(f"/story/record/take/{take}").status_code == 200
    sign_in(jasmine, people_of, "jasmine", "7305")
    for url in (f"/story/record/take/{take}", "/story/record/take/987654"):
        r = jasmine.get(url)
        assert r.status_code == 404 and r.get_data(as_text=True) == jasmine.get("/story/record/take/987655").get_data(as_text=True)
    assert jasmine.post(f"/story/record/take/{take}/delete").status_code == 404
    assert jasmine.post("/story/record/finish", data={"take": take}, headers=FETCH).status_code == 404
    r = jasmine.post(
        "/story/record/chunk",
        data={"take": str(take), "offset": "0", "chunk": (io.BytesIO(b"x"), "c")},
        headers=FETCH,
        content_type="multipart/form-data",
    )
    assert r.status_code == 404
    assert rose.get(f"/story/record/take/{take}").status_code == 200  # still there for her


def test_each_participant_sees_only_her_own_script(client, app, people_of):
    sign_in(client, people_of)
    client.post("/story/write/save", data={"script": "Rose writes this", "revision": 0}, headers=FETCH)
    client.post("/story/lock")
    sign_in(client, people_of, "jasmine", "7305")
    assert "Rose writes this" not in client.get("/story/write").get_data(as_text=True)


# ------------------------------------------------------------------ CSRF and facilitator
def test_csrf_is_enforced_on_journey_posts(data_dir):
    app = create_app({"TESTING": True, "DATA_DIR": str(data_dir)})
    unlock(app)  # her words are sealed with her story's key: the facilitator has signed in
    conn = _db(app)
    workshop = create_workshop(conn, "W", "en")
    pid = people.add_participant(conn, workshop, "Rose", "4821")
    client = app.test_client()
    page = client.get(f"/story/signin?workshop={workshop}").get_data(as_text=True)
    assert client.post("/story/signin", data={"participant": pid, "pin": "4821"}).status_code == 400
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert client.post("/story/signin", data={"participant": pid, "pin": "4821", "csrf_token": token}).status_code == 302
    assert client.post("/story/write/save", data={"script": "x", "revision": 0}, headers=FETCH).status_code == 400
    r = client.post("/story/write/save", data={"script": "x", "revision": 0, "csrf_token": token}, headers=FETCH)
    assert r.get_json()["saved"]
    assert client.post("/story/consent", data={"level": "public"}).status_code == 400
    r = client.post("/story/consent", data={"level": "public"}, headers={"X-CSRFToken": token})
    assert r.status_code == 302


def test_facilitator_adds_participant_and_sees_pin_once(app, desk):
    client = desk
    conn = _db(app)
    workshop = create_workshop(conn, "W", "en")
    page = client.get("/desk/workshops").get_data(as_text=True)
    assert f'href="/desk/workshops/{workshop}"' in page  # the card leads on
    r = client.post(f"/desk/workshops/{workshop}", data={"alias": "  Sunflower  ", "pin": ""})
    page = r.get_data(as_text=True)
    pin = re.search(r'class="pin-once" dir="ltr">(\d{4})<', page).group(1)
    assert "Sunflower" in page
    assert pin not in client.get(f"/desk/workshops/{workshop}").get_data(as_text=True)
    pid = conn.execute("SELECT id FROM participants WHERE alias = 'Sunflower'").fetchone()[0]
    assert people.sign_in(conn, workshop, pid, pin).participant is not None
    r = client.post(f"/desk/workshops/{workshop}", data={"alias": "Sunflower", "pin": "1234"})
    assert "already taken" in r.get_data(as_text=True)
    r = client.post(f"/desk/workshops/{workshop}", data={"alias": "Rain", "pin": "12"})
    assert "4 to 12 digits" in r.get_data(as_text=True)


def test_too_long_names_are_refused_not_cut(desk):
    client = desk
    long_name = "x" * 5000
    r = client.post("/desk/workshops/new", data={"kit": "story-circle", "name": long_name, "language": "ur"})
    page = r.get_data(as_text=True)
    assert "too long" in page and long_name in page  # her text stays in the field
    assert "maxlength" not in page
    r = client.post("/desk/workshops/new?lang=ur", data={"kit": "story-circle", "name": "X", "language": "xx"})
    assert "Not a valid choice" not in r.get_data(as_text=True)


def test_error_pages_are_in_her_language_with_exit(client):
    for lang in ("en", "ur"):
        r = client.get(f"/no/such/page?lang={lang}")
        page = r.get_data(as_text=True)
        assert r.status_code == 404 and 'id="quick-exit"' in page and f'lang="{lang}"' in page
    assert "This page is not here" not in page  # the Urdu page says it in Urdu
    exit_page = client.get("/exit")  # the neutral page too (after it, the browser forgets her language with the rest)
    assert exit_page.status_code == 200 and 'lang="ur"' in exit_page.get_data(as_text=True)


def test_messages_raised_below_the_views_are_translated(app):
    """Store and check messages are English sentences that the views translate: each must be in the catalog."""
    from flask_babel import force_locale, gettext

    from storyteller.jobs import checks

    sentences = [checks.NOT_AUDIO, checks.TOO_SHORT, checks.SILENT, checks.TOO_LONG]
    for call in (
        lambda: people.check_pin_format("12"),
        lambda: people.check_alias(""),
        lambda: people.check_alias("x" * 41),
        lambda: stories.save_script(None, 0, "x" * (stories.SCRIPT_MAX_CHARS + 1), 0, workshop_key=workshop_key(app)),
    ):
        with pytest.raises(ValueError) as caught:
            call()
        sentences.append(str(caught.value))
    conn = _db(app)
    workshop = create_workshop(conn, "W", "en")
    people.add_participant(conn, workshop, "Rose", "1234")
    with pytest.raises(people.ParticipantError) as caught:
        people.add_participant(conn, workshop, "Rose", "1234")
    sentences.append(str(caught.value))
    with app.test_request_context(), force_locale("ur"):
        untranslated = [s for s in sentences if gettext(s) == s]
    assert not untranslated


def test_every_interface_sentence_has_its_urdu():
    """Every string marked in the code and templates (_, _l, gettext, N_) is in the Urdu catalog, translated."""
    from babel.messages.extract import extract_from_file
    from babel.messages.pofile import read_po

    from tests.conftest import ROOT

    keywords = {"_": None, "_l": None, "gettext": None, "lazy_gettext": None, "N_": None, "ngettext": (1, 2)}
    sources = [p for p in (ROOT / "storyteller").rglob("*.py")] + list((ROOT / "templates").rglob("*.html"))
    marked = set()
    for path in sources:
        method, options = ("jinja2", {"extensions": "jinja2.ext.i18n"}) if path.suffix == ".html" else ("python", {})
        for _line, message, _comments, _context in extract_from_file(method, str(path), keywords=keywords, options=options):
            marked.add(message if isinstance(message, str) else message[0])
    with open(ROOT / "storyteller" / "translations" / "ur" / "LC_MESSAGES" / "messages.po", "rb") as fh:
        urdu = {m.id: m.string for m in read_po(fh) if m.id}
    missing = sorted(m for m in marked if not urdu.get(m))
    assert not missing, f"{len(missing)} sentences have no Urdu yet: {missing[:10]}"


def test_being_at_the_page_keeps_her_session(app, client, people_of):
    sign_in(client, people_of)
    _last_seen(app, people_of["rose"], 4 * 60)
    assert client.post("/story/seen", headers=FETCH).status_code == 204
    seen = _db(app).execute("SELECT session_seen FROM participants WHERE id = ?", (people_of["rose"],)).fetchone()[0]
    assert time.time() - seen < 60
    client.post("/story/lock")
    assert client.post("/story/seen", headers=FETCH).status_code == 401
