"""LAN mode (issue 12): phones join with a code, see only their own story, and lose their session when LAN goes off.

127.0.0.2 stands in for the laptop's Wi-Fi address: the Flask test client sends its
requests to that host, exactly as a phone on the Wi-Fi names it. The Chromium test
at the end runs the real `storyteller serve --lan` and a phone-sized browser.
"""

from __future__ import annotations

import io
import math
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from storyteller.cli import main
from storyteller.config import PROJECT_ROOT
from storyteller.pipeline.media.ffmpeg import run_ffmpeg
from storyteller.store import passphrase, plans, stories
from storyteller.store.db import db_path, open_database
from storyteller.store.participants import add_participant
from storyteller.store.workshops import create_workshop
from storyteller.web import lan
from storyteller.web.desk.access import SESSION_DESK, start_desk_session
from storyteller.web.phone import CHUNK_BYTES
from tests.conftest import vault_bytes, workshop_key

LAN = "http://127.0.0.2:5000"
LAPTOP = "http://127.0.0.1:5000"
FETCH = {"X-Requested-With": "fetch"}
ROSE_PIN, JASMINE_PIN = "4821", "7305"
NARRATION = PROJECT_ROOT / "media" / "sample" / "narration.ogg"


def _db(app):
    return open_database(db_path(app.config["DATA_DIR"]))


@pytest.fixture
def people(app):
    conn = _db(app)
    try:
        workshop = create_workshop(conn, "Karachi circle", "ur", "")
        rose = add_participant(conn, workshop, "Rose", ROSE_PIN)
        jasmine = add_participant(conn, workshop, "Jasmine", JASMINE_PIN)
    finally:
        conn.close()
    return {"workshop": workshop, "rose": rose, "jasmine": jasmine}


@pytest.fixture
def mode(app):
    return lan.configure(app, "127.0.0.2", 5000)


@pytest.fixture
def phone(app, mode):
    return app.test_client()


def join(phone, code, remote="10.0.0.5"):
    return phone.post("/phone/", data={"code": code}, base_url=LAN, environ_base={"REMOTE_ADDR": remote})


def sign_in(phone, people, who="rose", pin=ROSE_PIN):
    return phone.post("/phone/signin", data={"participant": people[who], "pin": pin}, base_url=LAN)


def joined_and_signed_in(phone, mode, people, who="rose", pin=ROSE_PIN):
    assert join(phone, mode.join_code).status_code == 302
    response = sign_in(phone, people, who, pin)
    assert response.status_code == 302 and response.location.endswith("/phone/story")
    return phone


def signed_in_at_desk(app, client, base_url):
    """The facilitator's desk session, as the desk's sign-in makes it, in this client's cookie for ``base_url``."""
    with app.test_request_context():
        from flask import session

        start_desk_session(b"k" * 32)
        token = session[SESSION_DESK]
    with client.session_transaction(base_url=base_url) as cookie:
        cookie[SESSION_DESK] = token


# ----------------------------------------------------------------- the serve command
def test_serve_refuses_a_network_address_without_lan(runner, data_dir):
    result = runner.invoke(main, ["serve", "--host", "192.168.1.20", "--data", str(data_dir), "--no-worker"])
    assert result.exit_code == 1
    assert "--lan" in result.output and "Traceback" not in result.output


def test_serve_lan_needs_the_facilitator_passphrase(runner, data_dir):
    result = runner.invoke(main, ["serve", "--lan", "--lan-address", "127.0.0.2", "--data", str(data_dir), "--no-worker"])
    assert result.exit_code == 1
    assert "passphrase" in result.output


def test_serve_lan_never_listens_on_every_network(runner, data_dir, app):
    conn = _db(app)
    try:
        passphrase.set_first(conn, "a long facilitator passphrase")
    finally:
        conn.close()
    for address in ("0.0.0.0", "not-an-address"):
        result = runner.invoke(main, ["serve", "--lan", "--lan-address", address, "--data", str(data_dir), "--no-worker"])
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output


def test_the_wifi_address_is_asked_of_the_system():
    """A UDP connect sends no packet; pytest-socket still forbids it here, so ask in a child process."""
    import ipaddress

    found = subprocess.run(
        [sys.executable, "-c", "from storyteller.cli import find_wifi_address; print(find_wifi_address())"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    ).stdout.strip()
    assert found == "None" or not ipaddress.ip_address(found).is_loopback


# ----------------------------------------------------------------- joining
def test_phone_pages_open_only_through_the_lan_address(app, mode):
    laptop = app.test_client()
    assert laptop.get("/phone/", base_url=LAPTOP).status_code == 404
    phone = app.test_client()
    assert phone.get("/phone/", base_url=LAN).status_code == 200
    # What draws the phone pages comes too: the style sheets and the Urdu font.
    for path in ("/static/phone.css", "/static/app.js", "/fonts/NotoNastaliqUrdu-Regular.ttf"):
        assert phone.get(path, base_url=LAN).status_code == 200, path


def test_the_join_code_is_required(app, phone, mode, people):
    for path in ("/phone/signin", "/phone/story", "/phone/record", "/phone/photos", "/phone/write"):
        response = phone.get(path, base_url=LAN)
        assert response.status_code == 302 and response.location.endswith("/phone/"), path
    assert phone.post("/phone/upload", data={"kind": "photo", "size": 10}, headers=FETCH, base_url=LAN).status_code == 401
    # Signing in without having joined opens nothing either.
    assert sign_in(phone, people).location.endswith("/phone/")
    assert join(phone, "000000" if mode.join_code != "000000" else "111111").status_code == 400
    assert phone.get("/phone/story", base_url=LAN).location.endswith("/phone/")
    response = join(phone, f" {mode.join_code[:3]} {mode.join_code[3:]} ")  # spaces as people type them
    assert response.status_code == 302 and response.location.endswith("/phone/signin")
    assert "Rose" in phone.get("/phone/signin", base_url=LAN).get_data(as_text=True)


def test_the_phone_signs_in_as_the_laptop_does(app, phone, mode, people):
    """One sign-in for both: a locked name says so on the phone too, and another workshop can be chosen."""
    conn = _db(app)
    conn.execute("UPDATE participants SET failed_pins = 10 WHERE id = ?", (people["rose"],))
    join(phone, mode.join_code)
    page = sign_in(phone, people).get_data(as_text=True)
    assert "your name is locked. Ask your facilitator" in page and 'id="other-workshop"' not in page  # one workshop: no choice
    other = create_workshop(conn, "Hyderabad circle", "ur", "")
    lily = add_participant(conn, other, "Lily", ROSE_PIN)
    page = phone.get("/phone/signin", base_url=LAN).get_data(as_text=True)
    assert "Karachi circle" in page and 'href="/phone/signin?workshop=0" id="other-workshop"' in page
    page = phone.get("/phone/signin?workshop=0", base_url=LAN).get_data(as_text=True)
    assert 'id="workshop-list"' in page and f'href="/phone/signin?workshop={other}"' in page
    phone.get(f"/phone/signin?workshop={other}", base_url=LAN)
    response = phone.post("/phone/signin", data={"participant": lily, "pin": ROSE_PIN}, base_url=LAN)
    assert response.status_code == 302 and response.location.endswith("/phone/story")
    assert phone.get("/phone/story", base_url=LAN).status_code == 200  # still joined after signing in


def test_wrong_codes_are_slowed_down_per_phone(app, phone, mode):
    wrong = f"{(int(mode.join_code) + 1) % 10**6:06d}"
    for _ in range(lan.FREE_CODE_TRIES - 1):
        page = join(phone, wrong).get_data(as_text=True)
        assert "not right" in page
    page = join(phone, wrong).get_data(as_text=True)
    assert "Too many wrong codes" in page and "Wait" in page
    # While this phone waits even the right code is not looked at.
    response = join(phone, mode.join_code)
    assert response.status_code == 400 and "Too many wrong codes" in response.get_data(as_text=True)
    # Another phone in the room is not held up by this one.
    assert join(app.test_client(), mode.join_code, remote="10.0.0.9").status_code == 302
    # The waits grow: each wrong try after the free ones doubles the next wait.
    joined, first_wait = mode.try_code("10.0.0.77", wrong, now=0.0)
    for _ in range(lan.FREE_CODE_TRIES):
        joined, wait = mode.try_code("10.0.0.77", wrong, now=10_000.0 * (_ + 1))
    assert not joined and first_wait == 0.0 and wait == 4.0
    assert mode.try_code("10.0.0.77", mode.join_code, now=10_000.0 * lan.FREE_CODE_TRIES + 1) == (False, pytest.approx(3.0))


def test_the_desk_is_refused_from_the_lan_even_with_a_desk_cookie(app, mode):
    laptop = app.test_client()
    signed_in_at_desk(app, laptop, LAPTOP)
    assert laptop.get("/desk/lan/", base_url=LAPTOP).status_code == 200  # the cookie does open the desk on the laptop
    phone = app.test_client()
    signed_in_at_desk(app, phone, LAN)
    for path in ("/desk/lan/", "/desk/lan/qr.svg", "/", "/story/signin", "/guide/", "/workshops/new"):
        response = phone.get(path, base_url=LAN)
        assert response.status_code == 403, path
        assert "not open to you" in response.get_data(as_text=True)
    assert phone.post("/desk/lan/stop", base_url=LAN).status_code == 403
    assert mode.accepting
    # Her language: the refusal is in Urdu for an Urdu phone.
    page = phone.get("/desk/lan/", base_url=LAN, headers={"Accept-Language": "ur"}).get_data(as_text=True)
    assert 'lang="ur"' in page and "یہ آپ کے لیے کھلا نہیں ہے" in page and "فون پر آپ صرف اپنی کہانی کھول سکتی ہیں" in page
    # A request that came in on the LAN socket is refused whatever host it names.
    assert laptop.get("/desk/lan/", base_url=LAPTOP, environ_base={lan.VIA_LAN: True}).status_code == 403


def test_the_desk_shows_the_code_and_a_local_qr_code(app, mode):
    laptop = app.test_client()
    signed_in_at_desk(app, laptop, LAPTOP)
    page = laptop.get("/desk/lan/", base_url=LAPTOP).get_data(as_text=True)
    assert lan.shown_code(mode.join_code) in page and "http://127.0.0.2:5000/phone/" in page
    svg = laptop.get("/desk/lan/qr.svg", base_url=LAPTOP)
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert svg.data.startswith(b"<?xml") and b"<path" in svg.data
    assert b"<script" not in svg.data and b"href" not in svg.data  # a drawing, nothing that runs or loads
    assert app.test_client().get("/desk/lan/", base_url=LAPTOP).status_code in (302, 401)  # no desk session: sign in first


def test_turning_lan_off_ends_every_phone_session_at_once(app, mode, people):
    rose = joined_and_signed_in(app.test_client(), mode, people)
    jasmine = joined_and_signed_in(app.test_client(), mode, people, "jasmine", JASMINE_PIN)
    assert rose.get("/phone/story", base_url=LAN).status_code == 200
    half_sent = _upload(rose, "photo", _photo_with_gps(), "c.jpg", piece=1024, stop_after=1024)
    assert list((Path(app.config["DATA_DIR"]) / "vault" / "recording").glob("*.part"))
    laptop = app.test_client()
    signed_in_at_desk(app, laptop, LAPTOP)
    old_code = mode.join_code
    assert laptop.post("/desk/lan/stop", base_url=LAPTOP).status_code == 302
    for phone in (rose, jasmine):
        response = phone.get("/phone/story", base_url=LAN)
        assert response.status_code == 403 and "cannot join now" in response.get_data(as_text=True)
        assert join(phone, old_code).status_code == 403
    # A file half sent when the door closed is thrown away (the phone still has it).
    assert not list((Path(app.config["DATA_DIR"]) / "vault" / "recording").glob("*.part"))
    assert rose.get(f"/phone/upload/{half_sent}", headers=FETCH, base_url=LAN).status_code == 403
    # On again: a new code, and the old sessions stay ended.
    assert laptop.post("/desk/lan/start", base_url=LAPTOP).status_code == 302
    assert mode.accepting
    assert rose.get("/phone/story", base_url=LAN).location.endswith("/phone/")
    assert join(rose, mode.join_code).status_code == 302


def test_a_phone_sent_away_cannot_come_back_after_a_restart(app, mode, people, data_dir):
    """The generation a phone's cookie carries outlives the process: "Stop phones" holds across a restart
    of the laptop (its cookies are signed with the same key), and a phone joined since goes on."""
    from storyteller.app import create_app
    from tests.conftest import unlock

    sent_away = joined_and_signed_in(app.test_client(), mode, people)
    stayed = joined_and_signed_in(app.test_client(), mode, people, "jasmine", JASMINE_PIN)
    mode.stop()
    mode.start()
    assert sent_away.get("/phone/story", base_url=LAN).location.endswith("/phone/")
    stayed = joined_and_signed_in(stayed, mode, people, "jasmine", JASMINE_PIN)
    restarted = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False})
    unlock(restarted, workshop_key(app))
    lan.configure(restarted, "127.0.0.2", 5000)
    phones = {}
    for name, old in (("sent away", sent_away), ("stayed", stayed)):
        phones[name] = restarted.test_client()
        phones[name].set_cookie("session", old.get_cookie("session", domain="127.0.0.2").value, domain="127.0.0.2")
    assert phones["sent away"].get("/phone/story", base_url=LAN).location.endswith("/phone/")
    assert phones["stayed"].get("/phone/story", base_url=LAN).status_code == 200


# ----------------------------------------------------------------- her own story from the phone
def _upload(phone, kind, data: bytes, name: str, piece=64 * 1024, stop_after=None):
    start = phone.post("/phone/upload", data={"kind": kind, "size": len(data), "name": name, "type": ""}, headers=FETCH, base_url=LAN)
    assert start.status_code == 200, start.get_json()
    token = start.get_json()["upload"]
    _send_pieces(phone, token, data, 0, piece, stop_after)
    return token


def _send_pieces(phone, token, data: bytes, offset: int, piece: int, stop_after=None) -> None:
    """As phone.js does: a piece at the offset the laptop has, until all is there (or ``stop_after`` bytes)."""
    while offset < len(data) and (stop_after is None or offset < stop_after):
        answer = phone.post(
            f"/phone/upload/{token}/piece",
            data={"offset": offset, "piece": (io.BytesIO(data[offset : offset + piece]), "piece")},
            headers=FETCH,
            base_url=LAN,
        )
        assert answer.status_code == 200, answer.get_json()
        offset = answer.get_json()["size"]


def _go_on(phone, token, data: bytes, piece=64 * 1024):
    """What phone.js does after a reload: ask how far the laptop got, send from there, finish."""
    _send_pieces(phone, token, data, phone.get(f"/phone/upload/{token}", headers=FETCH, base_url=LAN).get_json()["size"], piece)
    return phone.post(f"/phone/upload/{token}/finish", headers=FETCH, base_url=LAN)


def _photo_with_gps() -> bytes:
    import numpy as np

    image = Image.fromarray(np.random.default_rng(7).integers(0, 255, (240, 320, 3), dtype=np.uint8))  # about 40 kB
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (33.0, 41.0, 0.0), 3: "E", 4: (73.0, 3.0, 0.0)}  # GPS: Islamabad
    exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_a_photo_goes_up_in_pieces_resumes_and_loses_its_location(app, mode, people):
    phone = joined_and_signed_in(app.test_client(), mode, people)
    data = _photo_with_gps()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the phone's photo does carry a place
    token = _upload(phone, "photo", data, "IMG_0001.jpg", piece=1024, stop_after=2048)
    # A piece sent after a gap is refused with what the laptop has, so the phone resends from there.
    gap = phone.post(
        f"/phone/upload/{token}/piece", data={"offset": 4096, "piece": (io.BytesIO(b"x" * 10), "piece")}, headers=FETCH, base_url=LAN
    )
    assert gap.status_code == 409 and gap.get_json()["size"] == 2048
    # Finishing early is refused with what has arrived: the laptop knows the whole size.
    early = phone.post(f"/phone/upload/{token}/finish", headers=FETCH, base_url=LAN)
    assert early.status_code == 409 and early.get_json()["size"] == 2048
    done = _go_on(phone, token, data, piece=1024)
    assert done.status_code == 200, done.get_json()
    conn = _db(app)
    try:
        rose_story = stories.story_of(conn, people["rose"], "ur", workshop_key(app))
        photos = stories.story_assets(conn, rose_story.id, "photo")
        assert [p.asset_id for p in plans.plan_or_new(rose_story.plan).pictures] == [photos[0].id]
        jobs = conn.execute("SELECT kind FROM jobs WHERE story_id = ?", (rose_story.id,)).fetchall()
    finally:
        conn.close()
    assert [j["kind"] for j in jobs] == ["photo_faces"]
    kept = vault_bytes(app, photos[0].vault_name)
    assert not Image.open(io.BytesIO(kept)).getexif()  # no GPS, no camera maker
    assert not list((Path(app.config["DATA_DIR"]) / "vault" / "recording").glob("*.part"))
    shown = phone.get(done.get_json()["url"], base_url=LAN)
    assert shown.status_code == 200 and shown.data == kept
    assert "Your photo 1" in phone.get("/phone/photos", base_url=LAN).get_data(as_text=True)


def test_two_photos_started_at_59_pictures_keep_one_and_refuse_the_other_plainly(app, mode, people):
    """The 60-picture limit is checked when an upload starts; two uploads that both started at 59 race past it."""
    phone = joined_and_signed_in(app.test_client(), mode, people)
    conn = _db(app)
    try:
        story = stories.story_of(conn, people["rose"], "ur", workshop_key(app))
        earlier = [stories.add_asset(conn, story.id, "photo", f"earlier{i}.jpg") for i in range(59)]
        stories.save_plan(conn, story.id, {"pictures": [{"asset_id": i} for i in earlier]}, workshop_key(app))
    finally:
        conn.close()
    data = _photo_with_gps()
    first, second = (_upload(phone, "photo", data, name) for name in ("a.jpg", "b.jpg"))  # both allowed to start
    kept = phone.post(f"/phone/upload/{first}/finish", headers=FETCH, base_url=LAN)
    assert kept.status_code == 200, kept.get_json()
    refused = phone.post(f"/phone/upload/{second}/finish", headers={**FETCH, "Accept-Language": "ur"}, base_url=LAN)
    assert refused.status_code == 400  # not a 500: the phone page shows this sentence, in her language
    assert refused.get_json()["message"] == "ایک کہانی میں زیادہ سے زیادہ 60 تصویریں ہو سکتی ہیں۔"
    # Nothing lost, nothing left over: her 60 pictures, the kept one last; no asset, file or upload of the refused one.
    conn = _db(app)
    try:
        story = stories.story_of(conn, people["rose"], "ur", workshop_key(app))
        photos = stories.story_assets(conn, story.id, "photo")
        uploads_left = conn.execute("SELECT COUNT(*) FROM phone_uploads").fetchone()[0]
    finally:
        conn.close()
    assert plans.plan_or_new(story.plan).picture_ids() == (*earlier, kept.get_json()["asset"])
    assert [p.id for p in photos] == [*earlier, kept.get_json()["asset"]]
    vault = Path(app.config["DATA_DIR"]) / "vault"
    assert sorted(p.name for p in vault.iterdir() if p.is_file()) == [photos[-1].vault_name]
    assert not list((vault / "recording").glob("*.part")) and uploads_left == 0


def test_uploads_abandoned_for_a_day_are_swept_at_start_and_recent_ones_go_on(app, mode, people, data_dir):
    """A phone that never came back leaves sealed pieces in the vault: a restart throws them away after 24 h idle."""
    from storyteller.app import create_app
    from storyteller.store import phone_uploads
    from tests.conftest import unlock

    phone = joined_and_signed_in(app.test_client(), mode, people)
    data = _photo_with_gps()
    abandoned = _upload(phone, "photo", data, "old.jpg", piece=1024, stop_after=2048)
    recent = _upload(phone, "photo", data, "new.jpg", piece=1024, stop_after=2048)
    pieces = Path(data_dir) / "vault" / "recording"
    conn = _db(app)
    try:
        old_file, new_file = (pieces / f"{phone_uploads.find(conn, t).vault_name}.part" for t in (abandoned, recent))
    finally:
        conn.close()
    day_ago = time.time() - 24 * 3600 - 60
    os.utime(old_file, (day_ago, day_ago))
    restarted = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False})
    assert not old_file.exists() and new_file.exists()
    conn = _db(app)
    try:
        assert phone_uploads.find(conn, abandoned) is None and phone_uploads.find(conn, recent) is not None
    finally:
        conn.close()
    unlock(restarted, workshop_key(app))
    lan.configure(restarted, "127.0.0.2", 5000)
    phone = joined_and_signed_in(restarted.test_client(), lan.lan_mode(restarted), people)
    assert phone.get(f"/phone/upload/{abandoned}", headers=FETCH, base_url=LAN).status_code == 404
    done = _go_on(phone, recent, data, piece=1024)  # the recent one goes on from its 2048 bytes
    assert done.status_code == 200, done.get_json()


def test_a_narration_from_the_phone_recorder_is_checked_and_kept(app, mode, people):
    phone = joined_and_signed_in(app.test_client(), mode, people)
    data = NARRATION.read_bytes()
    token = _upload(phone, "narration", data, "Recording 12.ogg", piece=16 * 1024, stop_after=32 * 1024)
    done = _go_on(phone, token, data, piece=16 * 1024)
    assert done.status_code == 200, done.get_json()
    conn = _db(app)
    try:
        takes = stories.narration_takes(conn, stories.story_of(conn, people["rose"], "ur", workshop_key(app)).id)
    finally:
        conn.close()
    assert list(takes) == ["whole"] and takes["whole"].meta["seconds"] > 5
    assert phone.get(done.get_json()["url"], base_url=LAN).data == data


def test_a_file_that_is_too_large_is_refused_before_it_is_sent(app, mode, people):
    phone = joined_and_signed_in(app.test_client(), mode, people)
    two_gb = 2 * 1024**3
    for kind in ("narration", "photo"):
        answer = phone.post("/phone/upload", data={"kind": kind, "size": two_gb, "name": "big.m4a"}, headers=FETCH, base_url=LAN)
        assert answer.status_code == 413
        assert re.search(r"too large: a (recording|photo) can be at most \d+ MB", answer.get_json()["message"])
    # A phone that sends more than it announced is stopped at what it announced.
    token = phone.post("/phone/upload", data={"kind": "photo", "size": 10, "name": "a.jpg"}, headers=FETCH, base_url=LAN).get_json()[
        "upload"
    ]
    over = phone.post(
        f"/phone/upload/{token}/piece", data={"offset": 0, "piece": (io.BytesIO(b"y" * 11), "piece")}, headers=FETCH, base_url=LAN
    )
    assert over.status_code == 413


def test_a_phone_sees_only_her_own_story(app, mode, people):
    rose = joined_and_signed_in(app.test_client(), mode, people)
    token = _upload(rose, "photo", _photo_with_gps(), "a.jpg", stop_after=1)
    asset = _go_on(rose, token, _photo_with_gps()).get_json()["asset"]
    jasmine = joined_and_signed_in(app.test_client(), mode, people, "jasmine", JASMINE_PIN)
    assert jasmine.get(f"/phone/media/{asset}", base_url=LAN).status_code == 404
    token = _upload(rose, "photo", _photo_with_gps(), "b.jpg", stop_after=1)
    assert jasmine.get(f"/phone/upload/{token}", headers=FETCH, base_url=LAN).status_code == 404
    assert jasmine.post(f"/phone/upload/{token}/finish", headers=FETCH, base_url=LAN).status_code == 404
    # Her script, written on the phone, is her own story's.
    story_page = jasmine.get("/phone/write", base_url=LAN).get_data(as_text=True)
    revision = re.search(r'data-revision="(\d+)"', story_page).group(1)
    saved = jasmine.post(
        "/phone/write/save", data={"revision": revision, "script": "Jasmine's words.", "title": ""}, headers=FETCH, base_url=LAN
    )
    assert saved.status_code == 200 and saved.get_json()["saved"]
    conn = _db(app)
    try:
        assert stories.story_of(conn, people["jasmine"], "ur", workshop_key(app)).script == "Jasmine's words."
        assert stories.story_of(conn, people["rose"], "ur", workshop_key(app)).script == ""
    finally:
        conn.close()


def test_quick_exit_on_the_phone_hides_her_story_and_asks_for_the_code_again(app, mode, people):
    phone = joined_and_signed_in(app.test_client(), mode, people)
    page = phone.get("/phone/exit", base_url=LAN)
    assert page.status_code == 200 and "Rose" not in page.get_data(as_text=True)
    assert phone.get("/phone/story", base_url=LAN).location.endswith("/phone/")


# ----------------------------------------------------------------- a phone in Chromium
@pytest.mark.slow
@pytest.mark.browser
def test_a_phone_joins_records_resumes_and_cannot_open_the_desk(tmp_path):
    """`storyteller serve --lan` for real; a Pixel 7 in Chromium joins on 127.0.0.2 and sends a narration and a photo."""
    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import free_port
    from tests.journey_helpers import CHROMIUM_ARGS, chromium_or_skip, spawn_cli, stop_process

    chromium = chromium_or_skip()
    artifacts = Path(__file__).resolve().parent.parent / "test-artifacts" / "phone"
    artifacts.mkdir(parents=True, exist_ok=True)
    data_dir = tmp_path / "data"
    from storyteller.app import create_app

    app = create_app({"DATA_DIR": str(data_dir)})
    conn = _db(app)
    try:
        passphrase.set_first(conn, "a long facilitator passphrase")
        workshop = create_workshop(conn, "Quetta circle", "ur", "")
        add_participant(conn, workshop, "Rose", ROSE_PIN)
    finally:
        conn.close()
    port = free_port()
    # --unlock: the facilitator's passphrase, read from stdin: the vault opens.
    proc = spawn_cli(
        ["serve", "--lan", "--lan-address", "127.0.0.2", "--port", str(port), "--unlock"], data_dir, feed=b"a long facilitator passphrase\n"
    )
    try:
        code = None
        deadline = time.monotonic() + 40
        while code is None and time.monotonic() < deadline:
            line = proc.stdout.readline().decode(errors="replace")
            assert line, "serve stopped before it printed the join code"
            found = re.search(r"join code (\d{3} \d{3})", line)
            code = found.group(1) if found else None
        assert code, "serve never printed a join code"
        phone_url = f"http://127.0.0.2:{port}/phone/"
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(phone_url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        # What pytest-socket allows: loopback only, so the page's requests are checked below too.
        photo = tmp_path / "IMG_2001.jpg"
        photo.write_bytes(_photo_with_gps())
        recording = tmp_path / "Recording 7.wav"  # as a phone's recorder might save it: 48 kHz stereo, 4 MB
        run_ffmpeg(["-i", str(NARRATION), "-ar", "48000", "-ac", "2", str(recording)])
        pieces_in_all = math.ceil(recording.stat().st_size / CHUNK_BYTES)
        assert pieces_in_all >= 4
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(**p.devices["Pixel 7"])
            page = context.new_page()
            outside = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("http://127.0.0.2", "data:", "blob:")) else None)
            page.goto(phone_url)
            page.fill("#code", "123 45")  # a wrong code first
            page.click("#join")
            assert "not right" in page.inner_text("#join-error")
            page.screenshot(path=str(artifacts / "01-join-wrong-code.png"), full_page=True)
            page.fill("#code", code)
            page.click("#join")
            page.check("text=Rose")
            page.fill("#pin", ROSE_PIN)
            page.screenshot(path=str(artifacts / "02-sign-in.png"), full_page=True)
            page.click("#signin")
            assert page.url.endswith("/phone/story")
            page.screenshot(path=str(artifacts / "03-her-story.png"), full_page=True)

            page.click("#to-write")
            page.fill("#script", "I am writing this on my own phone.\n\nNobody else can read it here.")
            expect(page.locator("#save-status")).to_have_text("Saved", timeout=15_000)  # it saves as she types
            page.screenshot(path=str(artifacts / "03b-writing.png"), full_page=True)
            page.click("#back")
            assert "Words so far: 14" in page.inner_text("#to-write")

            # The narration: the first attempt is cut off after a few pieces (the Wi-Fi drops and the
            # page is reloaded); choosing the same file again goes on from where the laptop got to.
            page.click("#to-record")
            assert page.get_attribute("#narration-file", "capture") is not None
            assert page.get_attribute("#narration-file", "accept") == "audio/*"
            pieces = []

            def drop_after_two(route):
                pieces.append(route.request.url)
                if len(pieces) > 2:
                    route.abort()
                else:
                    route.continue_()

            page.route("**/piece", drop_after_two)
            # A 2 GB file (sparse: it takes no room here) is refused on the phone, before anything is sent.
            huge = tmp_path / "Recording 8.m4a"
            with open(huge, "wb") as sparse:
                sparse.truncate(2 * 1024**3)
            asked = []
            page.on("request", lambda r: asked.append(r.url) if "/phone/upload" in r.url else None)
            page.set_input_files("#narration-file", str(huge))
            expect(page.locator(".phone-upload .error")).to_contain_text("too large", timeout=10_000)
            assert not asked
            page.screenshot(path=str(artifacts / "04a-too-large.png"), full_page=True)
            page.set_input_files("#narration-file", str(recording))
            expect(page.locator(".phone-upload .status")).to_contain_text("cannot be reached", timeout=20_000)
            page.screenshot(path=str(artifacts / "04-upload-interrupted.png"), full_page=True)
            page.reload()  # first, so that the page's retries stop with it
            page.unroute("**/piece")
            resumed = []
            page.on("request", lambda r: resumed.append(r.url) if r.url.endswith("/piece") else None)
            page.set_input_files("#narration-file", str(recording))
            page.wait_for_selector("#upload-done", timeout=60_000)
            assert "recording is saved" in page.inner_text("#upload-done")
            assert len(resumed) == pieces_in_all - 2  # it went on from the third piece, it did not start again
            assert page.locator("#takes audio").count() == 1
            page.screenshot(path=str(artifacts / "05-recording-saved.png"), full_page=True)

            page.click("#back")
            page.click("#to-photos")
            page.set_input_files("#photo-file", str(photo))
            page.wait_for_selector("#upload-done", timeout=60_000)
            assert page.locator("#photos img").count() == 1
            page.screenshot(path=str(artifacts / "06-photo-added.png"), full_page=True)

            # The desk, and the laptop's own pages, are refused to the phone.
            for path in ("/desk/lan/", "/"):
                response = page.goto(f"http://127.0.0.2:{port}{path}")
                assert response.status == 403
                assert "not open to you" in page.inner_text("h1")
            page.screenshot(path=str(artifacts / "07-desk-refused.png"), full_page=True)
            # Her language on her phone: Urdu, right to left.
            page.goto(f"http://127.0.0.2:{port}/phone/story?lang=ur")
            assert page.get_attribute("html", "dir") == "rtl" and "آپ کی کہانی" in page.inner_text("h1")
            page.screenshot(path=str(artifacts / "08-her-story-ur.png"), full_page=True)
            page.click("#to-photos")
            page.screenshot(path=str(artifacts / "09-photos-ur.png"), full_page=True)
            browser.close()
        assert not outside, f"the phone page tried to reach outside: {outside}"
    finally:
        stop_process(proc)
