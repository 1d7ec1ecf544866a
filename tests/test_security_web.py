"""The web app's defences, each tried against the input it is there for (issue 15).

Every test here fails when its protection is taken away: the foreign Host, the missing
CSRF token, the GET that would change something, the cached story byte, the PIN guessed
for the eleventh time, the label that lies about its own letters, the upload whose name
lies about its bytes, the path that climbs out of the media folder, her neighbour's id.
"""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from storyteller.app import create_app
from storyteller.jobs import state, uploads
from storyteller.jobs.intake import PictureRefused, receive_picture
from storyteller.pipeline.media.ffmpeg import run_ffmpeg
from storyteller.store import participants as people
from storyteller.store import plans, stories
from storyteller.store.db import db_path, open_database
from storyteller.store.workshops import create_workshop, list_workshops
from storyteller.textsafety import clean_label
from tests.conftest import desk_sign_in, story_vault, workshop_key
from tests.render_helpers import bomb_png

FETCH = {"X-Requested-With": "fetch"}
RLO, LRI, PDI = "\u202e", "\u2066", "\u2069"


def _db(app) -> sqlite3.Connection:
    return open_database(db_path(app.config["DATA_DIR"]))


def _webm(tmp_path: Path, seconds: float = 2.0) -> bytes:
    out = tmp_path / "voice.webm"
    run_ffmpeg(["-f", "lavfi", "-i", f"sine=frequency=220:duration={seconds}", "-c:a", "libopus", "-y", str(out)])
    return out.read_bytes()


def _png(size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def circle(app):
    """Rose and Jasmine in one workshop, each with a story, consent, a picture, a take and a job."""
    conn = _db(app)
    workshop = create_workshop(conn, "Kabul circle", "fa")
    ids = {"workshop": workshop}
    for alias, pin in (("Rose", "4821"), ("Jasmine", "7305")):
        person = people.add_participant(conn, workshop, alias, pin)
        story = stories.story_of(conn, person, "fa", workshop_key(app))
        stories.record_consent(conn, story.id, "workshop", "v1", "fa", workshop_key=workshop_key(app))
        vault = story_vault(app, story.id)
        photo = stories.add_asset(conn, story.id, "photo", vault.put_bytes(_png(), ".png"), media_type="image/png")
        take = stories.add_asset(
            conn, story.id, "narration", vault.put_bytes(b"\x1a\x45\xdf\xa3" + b"\0" * 60, ".webm"), media_type="audio/webm"
        )
        job = state.create_job(conn, "render_story", {"quality": "preview"}, story_id=story.id)
        ids[alias.lower()] = {"id": person, "pin": pin, "story": story.id, "photo": photo, "take": take, "job": job}
    conn.close()
    return ids


def sign_in(client, circle, who="rose"):
    client.get(f"/story/signin?workshop={circle['workshop']}")
    r = client.post("/story/signin", data={"participant": circle[who]["id"], "pin": circle[who]["pin"]})
    assert r.status_code == 302 and "signin" not in r.headers["Location"]


# ----------------------------------------------------------------- Host, CSRF, GET
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_foreign_host_is_refused(client, method):
    for host in ("evil.example", "127.0.0.1.nip.io", "10.0.0.7:5000"):
        assert (
            client.open("/desk/workshops/new", method=method, headers={"Host": host}, data={"name": "x", "language": "ur"}).status_code
            == 400
        )
    assert client.get("/", headers={"Host": "127.0.0.1:5000"}).status_code == 200


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(data_dir):
    app = create_app({"TESTING": True, "DATA_DIR": str(data_dir)})
    client = app.test_client()
    desk_sign_in(client)  # with its own CSRF token, read from the page
    new, form = "/desk/workshops/new", {"name": "Forged", "language": "ur", "kit": "story-circle"}
    assert client.post(new, data=form).status_code == 400
    assert client.post(new, data={**form, "csrf_token": "made-up"}).status_code == 400
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(new).get_data(as_text=True))[1]
    assert client.post(new, data={**form, "name": "Real", "csrf_token": token}).status_code == 302
    assert [w.name for w in list_workshops(_db(app))] == ["Real"]


def test_every_route_that_changes_something_refuses_get(app, client, circle):
    sign_in(client, circle)
    viewable = {r.rule for r in app.url_map.iter_rules() if "GET" in r.methods}  # their GET is a page: see the next test
    post_only = [r for r in app.url_map.iter_rules() if "POST" in r.methods and r.rule not in viewable]
    assert len(post_only) > 15
    for rule in post_only:
        values = {arg: circle["rose"]["photo"] if "asset" in arg else circle["rose"]["job"] for arg in rule.arguments}
        path = rule.rule
        for arg, value in values.items():
            path = re.sub(rf"<(?:\w+:)?{arg}>", str(value), path)
        assert client.get(path).status_code == 405, f"GET {path} was not refused"


# Columns that a page view may touch: where she is in the journey, and when she was last seen.
SEEN_ONLY = {("stories", "step"), ("participants", "session_seen")}
# Lock and quick exit end a session on a GET on purpose: they are plain links that must work at
# once, without a script, and lose nothing. Her session cookie is SameSite=Strict, so another
# site cannot make her browser follow them with it.
ENDS_A_SESSION = {"journey.lock", "home.quick_exit"}


def _snapshot(conn) -> dict:
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    snap = {}
    for table in tables:
        rows = conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()  # noqa: S608 (names from sqlite_master)
        snap[table] = [{k: row[k] for k in row.keys() if (table, k) not in SEEN_ONLY} for row in rows]
    return snap


def test_no_page_view_changes_anything(app, client, circle):
    sign_in(client, circle)
    conn = _db(app)
    before = _snapshot(conn)
    fill = {
        "asset_id": circle["rose"]["photo"],
        "job_id": circle["rose"]["job"],
        "workshop_id": circle["workshop"],
        "filename": "app.css",
        "name": "dawn",
        "participant_id": circle["rose"]["id"],
        "story_id": circle["rose"]["story"],
        "token": "not-an-upload",
        "job": circle["rose"]["job"],
    }
    viewed = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in ENDS_A_SESSION:
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = re.sub(rf"<(?:\w+:)?{arg}>", str(fill[arg]), path)
        client.get(path)
        viewed.append(path)
    assert _snapshot(conn) == before
    assert "/story/consent" in viewed and "/story/record" in viewed and len(viewed) > 15


# ----------------------------------------------------------------- headers
def test_every_story_byte_is_no_store_and_lock_and_exit_clear_the_site(client, circle):
    sign_in(client, circle)
    for path in (
        f"/story/media/{circle['rose']['photo']}",
        f"/story/record/take/{circle['rose']['take']}",
        "/story/write",
        "/story/consent",
    ):
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["Cache-Control"] == "no-store" and "ETag" not in r.headers and "Last-Modified" not in r.headers, path
    # The app's own script and fonts may be cached: they say nothing about anyone.
    assert "no-store" not in client.get("/static/app.js").headers.get("Cache-Control", "")
    lock = client.get("/story/lock")
    assert lock.headers["Clear-Site-Data"] == '"cache", "cookies", "storage"'
    assert f"workshop={circle['workshop']}" in lock.headers["Location"]  # sign-in still knows her workshop
    assert client.get("/story/write").status_code == 302
    exit_page = client.get("/exit")
    assert exit_page.headers["Clear-Site-Data"] == '"cache", "cookies", "storage"'
    assert "Clear-Site-Data" not in client.get("/").headers


def test_her_session_cookie_is_same_site_strict_and_out_of_reach_of_scripts(app, client, circle):
    """Another site's page (a link, a form) never sends her session along, and no script can read it."""
    client.get(f"/story/signin?workshop={circle['workshop']}")
    r = client.post("/story/signin", data={"participant": circle["rose"]["id"], "pin": circle["rose"]["pin"]})
    assert r.status_code == 302
    (cookie,) = [c for c in r.headers.getlist("Set-Cookie") if c.startswith(app.config["SESSION_COOKIE_NAME"] + "=")]
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert "samesite=strict" in attributes and "httponly" in attributes


def test_strict_headers_on_every_answer(client):
    for r in (client.get("/"), client.get("/no/such/page"), client.get("/story/signin")):
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        policy = r.headers["Permissions-Policy"]
        assert "microphone=(self)" in policy and "camera=(self)" in policy and "geolocation=()" in policy


# ----------------------------------------------------------------- PIN lock
def test_ten_wrong_pins_lock_her_name_until_the_facilitator_lifts_it(app, circle):
    conn = _db(app)
    rose = circle["rose"]
    now = 1_000_000.0
    for _ in range(people.LOCK_AFTER):
        now += people.MAX_WAIT_SECONDS + 1  # past every wait: only the lock can stop the next try
        result = people.sign_in(conn, circle["workshop"], rose["id"], "0000", now=now)
        assert result.participant is None and result.checked
    assert result.locked and people.is_locked(conn, rose["id"])
    now += 24 * 3600  # a day later, and with the right PIN: still locked
    result = people.sign_in(conn, circle["workshop"], rose["id"], rose["pin"], now=now)
    assert result.participant is None and result.locked and not result.checked
    people.lift_lock(conn, rose["id"])
    assert people.sign_in(conn, circle["workshop"], rose["id"], rose["pin"], now=now).participant.alias == "Rose"
    assert not people.is_locked(conn, circle["jasmine"]["id"])


def test_the_sign_in_page_says_her_name_is_locked(app, client, circle):
    conn = _db(app)
    conn.execute("UPDATE participants SET failed_pins = ? WHERE id = ?", (people.LOCK_AFTER, circle["rose"]["id"]))
    client.get(f"/story/signin?workshop={circle['workshop']}")
    page = client.post("/story/signin", data={"participant": circle["rose"]["id"], "pin": "4821"}).get_data(as_text=True)
    assert "Ask your facilitator" in page
    assert client.get("/story/write").status_code == 302


# ----------------------------------------------------------------- labels that lie
@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (f"Rose{RLO}gpj.exe", "Rosegpj.exe"),
        (f"{LRI}Lahore{PDI} circle", "Lahore circle"),
        ("\u200b\u200b\u2060", ""),
        ("\u200c\ufeff \u3164", ""),
        ("Sa\x00ra\x1b[31m", "Sara[31m"),
        ("two\nlines\tand   spaces", "two lines and spaces"),
        ("می\u200cخواهم", "می\u200cخواهم"),  # Dari's zero-width non-joiner inside a word stays
        ("../../etc/passwd\u202e", "../../etc/passwd"),
    ],
)
def test_clean_label(raw, clean):
    assert clean_label(raw) == clean


def test_every_label_is_cleaned_before_it_is_stored(app):
    conn = _db(app)
    workshop = create_workshop(conn, f"Herat{RLO}elcric", "fa", place=f"\x00Herat{LRI}")
    assert list_workshops(conn)[0].name == "Heratelcric" and list_workshops(conn)[0].place == "Herat"
    with pytest.raises(ValueError):
        create_workshop(conn, "\u200b\u200d", "fa")
    with pytest.raises(people.ParticipantError):
        people.add_participant(conn, workshop, "\u200b\u2066\u2069", "4821")
    rose = people.add_participant(conn, workshop, f"Ro{RLO}se", "4821")
    assert people.get_participant(conn, rose).alias == "Rose"
    story = stories.story_of(conn, rose, "fa", workshop_key(app))
    stories.save_script(conn, story.id, "text", story.revision, title=f"My{RLO} story\x07", workshop_key=workshop_key(app))
    assert stories.get_story(conn, story.id, workshop_key(app)).title == "My story"
    asset = stories.add_asset(conn, story.id, "photo", "0" * 32 + ".png", original_name=f"../x{RLO}gnp.exe\x00")
    assert stories.story_asset(conn, story.id, asset).original_name == "../xgnp.exe"
    assert plans.plan_from_dict({"title": f"{LRI}Title{RLO}"}).title == "Title"


# ----------------------------------------------------------------- uploads
def test_sniffing_trusts_bytes_not_names(tmp_path):
    assert uploads.sniff(_webm(tmp_path)) == "webm"
    assert uploads.sniff(_png()) == "png"
    for liar in (
        b"#EXTM3U\n#EXT-X-VERSION:3\nfile:///etc/passwd\n",
        b"%!PS-Adobe-3.0 EPSF-3.0\n",
        b"\xc5\xd0\xd3\xc6" + b"\0" * 28,
        b"<svg",
    ):
        assert uploads.sniff(liar) is None
        with pytest.raises(uploads.UploadRefused):
            uploads.recording_kind(liar)
    broken = tmp_path / "broken.webm"
    broken.write_bytes(b"\x1a\x45\xdf\xa3" + b"not really matroska" * 10)
    with pytest.raises(uploads.UploadRefused):
        uploads.probe_recording(broken, uploads.RECORDING_KINDS["webm"])


def _uploads_of(app, story_id: int, kind: str) -> list[stories.Asset]:
    return stories.story_assets(_db(app), story_id, kind)


@pytest.mark.parametrize(
    ("payload", "filename"),
    [
        (_png(), "story.webm"),  # a PNG named .webm
        (b"#EXTM3U\n#EXTINF:10,\nhttp://example.com/a.ts\n", "story.mp4"),  # an HLS playlist disguised as a video
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "story.wav"),  # EPS
    ],
)
def test_a_sound_upload_that_is_not_sound_is_refused(app, client, circle, payload, filename):
    sign_in(client, circle)
    before = {p.name for p in (Path(app.config["DATA_DIR"]) / "vault").iterdir()}
    r = client.post("/story/record/upload", data={"audio": (io.BytesIO(payload), filename)}, content_type="multipart/form-data")
    assert r.status_code == 302
    assert "not a sound recording" in client.get("/story/record").get_data(as_text=True)
    assert [a.meta.get("uploaded") for a in _uploads_of(app, circle["rose"]["story"], "narration")] == [None]
    assert {p.name for p in (Path(app.config["DATA_DIR"]) / "vault").iterdir()} == before  # nothing kept


def test_a_real_recording_with_a_lying_name_is_kept_under_a_name_the_server_chose(app, client, circle, tmp_path):
    sign_in(client, circle)
    evil = f"../../{RLO}vaw.\x00evil.png"
    r = client.post("/story/record/upload", data={"audio": (io.BytesIO(_webm(tmp_path)), evil)}, content_type="multipart/form-data")
    assert r.status_code == 302
    (take,) = [a for a in _uploads_of(app, circle["rose"]["story"], "narration") if a.meta.get("uploaded")]
    assert re.fullmatch(r"[0-9a-f]{32}\.webm", take.vault_name) and take.media_type == "audio/webm"
    assert take.original_name == ""
    assert not list(Path(app.config["DATA_DIR"]).parent.glob("*evil*"))


def test_the_first_piece_of_a_recording_must_be_sound(app, client, circle, tmp_path):
    sign_in(client, circle)
    form = {"offset": "0", "part": "whole", "type": "audio/webm", "chunk": (io.BytesIO(_png()), "chunk")}
    assert client.post("/story/record/chunk", data=form, headers=FETCH, content_type="multipart/form-data").status_code == 415
    form = {"offset": "0", "part": "whole", "type": "audio/png", "chunk": (io.BytesIO(_webm(tmp_path)[:4000]), "chunk")}
    r = client.post("/story/record/chunk", data=form, headers=FETCH, content_type="multipart/form-data")
    assert r.status_code == 200
    growing = stories.story_asset(_db(app), circle["rose"]["story"], r.get_json()["take"])
    assert growing.vault_name.endswith(".webm") and growing.media_type == "audio/webm"  # what the bytes say


def test_pictures_only_in_photo_formats_and_never_a_bomb(tmp_path, app):
    vault = story_vault(app, None)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n"
    for payload in (eps, bomb_png(tmp_path / "bomb.png").read_bytes(), bomb_png(tmp_path / "warn.png", side=10_000).read_bytes()):
        with pytest.raises(PictureRefused):
            receive_picture(vault, io.BytesIO(payload))
    assert receive_picture(vault, io.BytesIO(_png())).width == 64


def test_picture_route_refuses_eps_and_bombs(app, client, circle, tmp_path):
    sign_in(client, circle)
    for payload in (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 1 1\n", bomb_png(tmp_path / "bomb.png").read_bytes()):
        r = client.post("/story/pictures/add", data={"picture": (io.BytesIO(payload), "photo.jpg")}, headers=FETCH)
        assert r.status_code == 400, r.status_code
    assert len(_uploads_of(app, circle["rose"]["story"], "photo")) == 1


def test_size_limits_per_route(client, circle):
    sign_in(client, circle)
    big_script = {"script": "x" * (5 << 20), "revision": "0"}
    assert client.post("/story/write/save", data=big_script, headers=FETCH).status_code == 413
    assert client.post("/story/write/save", data={"script": "x" * (1 << 20), "revision": "0"}, headers=FETCH).status_code == 413
    huge = {"picture": (io.BytesIO(b"\xff\xd8\xff" + b"\0" * (42 << 20)), "p.jpg")}
    assert client.post("/story/pictures/add", data=huge, headers=FETCH).status_code == 413
    assert client.post("/story/seen", data={"pad": "x" * (2 << 20)}, headers=FETCH).status_code == 413
    assert client.post("/story/seen", headers=FETCH).status_code == 204


# ----------------------------------------------------------------- paths and ids
def test_paths_that_climb_out_answer_404(client, circle, data_dir):
    sign_in(client, circle)
    (data_dir / "secret_key").write_text("k" * 64)
    for path in (
        "/story/media/..%2F..%2Fstoryteller.sqlite3",
        "/story/media/%2e%2e/secret_key",
        "/story/record/take/..%2Fsecret_key",
        "/story/music/track/..%2F..%2Fsecret_key",
        "/fonts/..%2Fsecret_key",
        "/static/..%2F..%2Finstance%2Fsecret_key",
        "/media/..%2Fsecret_key",
        "/media/..%2Fstoryteller.sqlite3",
    ):
        r = client.get(path)
        assert r.status_code == 404, (path, r.status_code)
        assert b"k" * 64 not in r.data


def test_her_neighbours_ids_answer_404_like_nothing(client, circle):
    sign_in(client, circle)
    jasmine = circle["jasmine"]
    for path in (f"/story/media/{jasmine['photo']}", f"/story/record/take/{jasmine['take']}", f"/story/work/{jasmine['job']}"):
        assert client.get(path, headers=FETCH).status_code == 404, path
    assert client.post(f"/story/pictures/{jasmine['photo']}/delete", headers=FETCH).status_code == 404
    assert client.post(f"/story/record/take/{jasmine['take']}/delete", headers=FETCH).status_code == 404


def test_a_finished_take_is_probed_with_its_own_demuxer(app, client, circle, tmp_path):
    """Sound whose first bytes looked right but whose body is not: refused when the take is finished
    (the probe, or failing that the narration check, refuses it; the next test tells them apart)."""
    sign_in(client, circle)
    form = {"offset": "0", "part": "whole", "chunk": (io.BytesIO(b"\x1a\x45\xdf\xa3" + b"#EXTM3U\nfile:///etc/passwd\n" * 20), "c")}
    take = client.post("/story/record/chunk", data=form, headers=FETCH, content_type="multipart/form-data").get_json()["take"]
    r = client.post("/story/record/finish", data={"take": take}, headers=FETCH)
    assert r.status_code == 422 and "not a sound recording" in r.get_json()["message"]
    assert stories.story_asset(_db(app), circle["rose"]["story"], take) is None
    assert uploads.stored_kind("0" * 32 + ".m4a").demuxer == "mp4"
    with pytest.raises(uploads.UploadRefused):
        uploads.stored_kind("0" * 32 + ".m3u8")


def test_the_probe_opens_a_file_only_with_the_demuxer_its_kind_names(tmp_path):
    """An Ogg recording probed as WebM is refused, where ffmpeg left to guess would open it."""
    ogg = tmp_path / "voice.ogg"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=220:duration=1", "-c:a", "libopus", "-f", "ogg", "-y", str(ogg)])
    uploads.probe_recording(ogg, uploads.RECORDING_KINDS["ogg"])
    with pytest.raises(uploads.UploadRefused):
        uploads.probe_recording(ogg, uploads.RECORDING_KINDS["webm"])
