"""Route tests for the participant's journey: who may see what, CSRF, validation, locking (issue 11).

The permission tests walk the app's URL map, so a view added later is covered
without touching this file: every journey view needs a signed-in participant,
and every id in a URL that is not hers answers 404, exactly like an id that does
not exist. A new URL argument the tests cannot fill fails loudly until it is
taught here (``_ids_for``).
"""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from storyteller.jobs import state
from storyteller.store import stories
from storyteller.store.db import db_path, open_database
from storyteller.store.participants import add_participant
from storyteller.store.vault import vault_for
from storyteller.store.workshops import create_workshop
from tests.conftest import story_vault, unlock, workshop_key

ROSE, JASMINE = ("Rose", "4821"), ("Jasmine", "7305")
NO_SUCH_ID = 987654
SKIP_METHODS = {"HEAD", "OPTIONS"}
FETCH = {"X-Requested-With": "fetch"}


def _db(app):
    return open_database(db_path(app.config["DATA_DIR"]))


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def workshop(app):
    """A workshop with two participants; Rose's story holds a script, consent and one asset of each kind."""
    conn = _db(app)
    try:
        workshop_id = create_workshop(conn, "Lahore story circle", "ur", "")
        rose = add_participant(conn, workshop_id, *ROSE)
        jasmine = add_participant(conn, workshop_id, *JASMINE)
        story = stories.story_of(conn, rose, "ur", workshop_key(app))
        stories.save_script(
            conn, story.id, "Rose's own words, never to be seen by another.", story.revision, workshop_key=workshop_key(app)
        )
        stories.record_consent(conn, story.id, "workshop", "test", "ur", workshop_key=workshop_key(app))
        vault = story_vault(app, story.id)
        assets = {}
        for kind, suffix, media_type in (
            ("photo", ".jpg", "image/jpeg"),
            ("narration", ".wav", "audio/wav"),
            ("export", ".mp4", "video/mp4"),
        ):
            name = vault.put_bytes(_jpeg() if kind == "photo" else b"\0" * 64, suffix)
            assets[kind] = stories.add_asset(conn, story.id, kind, name, media_type=media_type, size_bytes=64)
        export_name = conn.execute("SELECT vault_name FROM assets WHERE id = ?", (assets["export"],)).fetchone()[0]
        # Never queued: only its row matters to the views.
        job = state.create_job(conn, "render_story", {"quality": "preview"}, story_id=story.id)
    finally:
        conn.close()
    return {
        "id": workshop_id,
        "rose": rose,
        "jasmine": jasmine,
        "story": story.id,
        "assets": assets,
        "export_name": export_name,
        "job": job,
    }


def sign_in(client, workshop, who: str, pin: str | None = None, **form):
    participant = workshop[who.lower()]
    pin = pin if pin is not None else dict([ROSE, JASMINE])[who]
    return client.post("/story/signin", data={"workshop": workshop["id"], "participant": participant, "pin": pin, **form})


def journey_rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("journey.")]


ASSET_ARGS = ("asset_id", "photo_id", "picture_id", "take_id", "recording_id", "narration_id")


def _ids_for(rule, workshop) -> list[tuple[dict, dict]]:
    """Pairs of (Rose's values, values that exist nowhere) for the arguments of ``rule``: one pair for
    each of her assets, so a view that looks up only one kind is still tried with every kind."""
    pairs = [({}, {})]
    for arg in sorted(rule.arguments):
        if "asset" in arg or arg in ASSET_ARGS:
            pairs = [
                ({**rose, arg: asset_id}, {**nowhere, arg: NO_SUCH_ID})
                for rose, nowhere in pairs
                for asset_id in workshop["assets"].values()
            ]
        elif "job" in arg:
            pairs = [({**rose, arg: workshop["job"]}, {**nowhere, arg: NO_SUCH_ID}) for rose, nowhere in pairs]
        elif arg in ("name", "vault_name"):
            pairs = [({**rose, arg: workshop["export_name"]}, {**nowhere, arg: "0" * 32 + ".mp4"}) for rose, nowhere in pairs]
        else:
            pytest.fail(f"{rule.rule}: the permission test does not know how to fill <{arg}>; teach _ids_for")
    return pairs


def test_journey_blueprint_is_registered(app):
    assert journey_rules(app), "the journey's views are not registered on the app"


def test_every_journey_view_needs_her_signed_in(app, client, workshop):
    open_views = {"journey.signin", "journey.lock"}
    checked = []
    for rule in journey_rules(app):
        if rule.endpoint in open_views:
            continue
        path = _path(rule, _ids_for(rule, workshop)[0][0])
        for method in sorted(rule.methods - SKIP_METHODS):
            page = client.open(path, method=method)
            assert page.status_code in (302, 303), f"{method} {path} answered {page.status_code} when nobody is signed in"
            assert "/story/signin" in page.headers["Location"]
            script = client.open(path, method=method, headers=FETCH)
            assert script.status_code == 401, f"{method} {path} from a script answered {script.status_code}"
            assert b"Rose" not in page.data + script.data
            checked.append(f"{method} {path}")
    assert checked


def test_another_participants_ids_answer_404_like_ids_that_do_not_exist(app, client, workshop):
    assert sign_in(client, workshop, "Jasmine").status_code in (302, 303)
    checked = []
    for rule in journey_rules(app):
        if not rule.arguments:
            continue
        for (rose, nowhere), method in [(pair, m) for pair in _ids_for(rule, workshop) for m in sorted(rule.methods - SKIP_METHODS)]:
            theirs = client.open(_path(rule, rose), method=method, headers=FETCH if method != "GET" else {})
            missing = client.open(_path(rule, nowhere), method=method, headers=FETCH if method != "GET" else {})
            assert theirs.status_code == 404, f"{method} {rule.rule} with Rose's id answered {theirs.status_code}"
            assert missing.status_code == 404
            assert theirs.data == missing.data, f"{method} {rule.rule}: the 404 tells Rose's id from a missing one"
            checked.append(f"{method} {rule.rule}")
    # Nothing of Rose's was touched by those tries.
    conn = _db(app)
    try:
        kept = {a.id for a in stories.story_assets(conn, workshop["story"])}
    finally:
        conn.close()
    assert kept == set(workshop["assets"].values())
    assert checked, "no journey view takes an id yet"


def _path(rule, values: dict) -> str:
    path = rule.rule
    for arg, value in values.items():
        path = re.sub(rf"<(?:[^:<>]+:)?{arg}>", str(value), path)
    return path


def test_her_jobs_and_videos_answer_404_to_anyone_else(app, client, workshop):
    """The job pages and the finished-video route are shared with the facilitator's sample video,
    so they are outside the journey blueprint: a job or a video of her story is hers alone."""
    job, video = workshop["job"], workshop["export_name"]
    requests = [
        ("GET", f"/jobs/{job}", f"/jobs/{NO_SUCH_ID}"),
        ("GET", f"/jobs/{job}.json", f"/jobs/{NO_SUCH_ID}.json"),
        ("POST", f"/jobs/{job}/cancel", f"/jobs/{NO_SUCH_ID}/cancel"),
        ("GET", f"/media/{video}", f"/media/{'0' * 32}.mp4"),
    ]
    sign_in(client, workshop, "Rose")
    for method, hers, _missing in requests:
        if method == "GET":
            assert client.open(hers, method=method).status_code == 200, f"Rose cannot open her own {hers}"
    for who in ("nobody", "Jasmine"):
        client.post("/story/lock")
        if who == "Jasmine":
            sign_in(client, workshop, "Jasmine")
        for method, hers, missing in requests:
            theirs, nothing = client.open(hers, method=method, headers=FETCH), client.open(missing, method=method, headers=FETCH)
            assert theirs.status_code == 404, f"{who}: {method} {hers} (Rose's) answered {theirs.status_code}"
            assert theirs.data == nothing.data, f"{who}: {method} {hers}: the 404 tells Rose's from a missing one"
    conn = _db(app)
    try:
        assert state.get_job(conn, job).state == "queued", "someone else's cancel reached Rose's job"
    finally:
        conn.close()


def test_her_pages_show_nothing_of_another_story(app, client, workshop):
    assert sign_in(client, workshop, "Jasmine").status_code in (302, 303)
    client.post("/story/consent", data={"level": "workshop"})
    for rule in journey_rules(app):
        if rule.arguments or "GET" not in rule.methods or rule.endpoint in ("journey.lock",):
            continue
        page = client.get(rule.rule)
        assert page.status_code in (200, 302, 303), f"GET {rule.rule} answered {page.status_code}"
        assert b"never to be seen by another" not in page.data, f"GET {rule.rule} shows Rose's script"


def test_her_pages_are_not_cached(client, workshop):
    sign_in(client, workshop, "Rose")
    page = client.get("/story/write")
    assert page.status_code == 200
    assert "no-store" in page.headers["Cache-Control"]


# --- locking (sign-in, PIN tries, the Lock button and the idle lock: tests/test_journey_access.py) ---


def test_quick_exit_locks_her_session(client, workshop):
    sign_in(client, workshop, "Rose")
    client.get("/exit")
    assert client.get("/story/write").status_code in (302, 303)


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["😀🙏💜" * 50, "word " * 10_000])
def test_odd_scripts_are_kept_as_written(app, client, workshop, script):
    sign_in(client, workshop, "Rose")
    conn = _db(app)
    try:
        base = stories.get_story(conn, workshop["story"], workshop_key(app)).revision
        page = client.post("/story/write/save", data={"script": script, "revision": base}, headers=FETCH)
        assert page.status_code == 200
        assert stories.get_story(conn, workshop["story"], workshop_key(app)).script == script
    finally:
        conn.close()


def test_save_without_its_fields_is_a_bad_request(client, workshop):
    sign_in(client, workshop, "Rose")
    assert client.post("/story/write/save", data={}, headers=FETCH).status_code == 400


# --- validation of the studio steps ----------------------------------------------------------


def _png_claiming(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header claims ``width`` x ``height`` (a decompression bomb in 70 bytes)."""
    import struct
    import zlib

    out = io.BytesIO()
    Image.new("RGB", (1, 1)).save(out, "PNG")
    data = bytearray(out.getvalue())
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13])))
    return bytes(data)


def test_a_20000_pixel_picture_is_refused_before_it_is_decoded(app, client, workshop):
    sign_in(client, workshop, "Rose")
    before = set(vault_for(app.config["DATA_DIR"]).root.rglob("*"))
    reply = client.post(
        "/story/pictures/add",
        data={"picture": (io.BytesIO(_png_claiming(20000, 20000)), "huge.png")},
        headers=FETCH,
        content_type="multipart/form-data",
    )
    assert reply.status_code == 400
    assert reply.json["message"].endswith(".") and "megapixels" in reply.json["message"]
    assert set(vault_for(app.config["DATA_DIR"]).root.rglob("*")) == before, "something of the refused picture was kept"


@pytest.mark.parametrize("body", [{"add": "everything"}, {"add": [["a", 1, 2, 3]]}, {"remove": [[1, 2]]}, {"add": [[0, 0, 10, 10]] * 51}])
def test_mask_boxes_that_make_no_sense_are_a_bad_request(app, client, workshop, body):
    sign_in(client, workshop, "Rose")
    photo = workshop["assets"]["photo"]
    reply = client.post(f"/story/pictures/{photo}/boxes", json=body, headers=FETCH)
    assert reply.status_code == 400
    conn = _db(app)
    try:
        meta = stories.story_asset(conn, workshop["story"], photo).meta
    finally:
        conn.close()
    assert "add" not in meta and "remove" not in meta


@pytest.mark.parametrize(
    "path, form",
    [
        ("/story/voice/preview", {"method": "my-own-pitch"}),
        ("/story/voice", {"method": "my-own-pitch"}),
        ("/story/render", {"quality": "cinema", "aspect": "16:9"}),
        ("/story/render", {"quality": "preview", "aspect": "3:1"}),
        ("/story/music", {"track": "../../secret_key"}),
        ("/story/music", {"track": "", "volume": "loud"}),
    ],
)
def test_made_up_choices_are_refused(app, client, workshop, path, form):
    sign_in(client, workshop, "Rose")
    conn = _db(app)
    try:
        plan_before = stories.get_story(conn, workshop["story"], workshop_key(app)).plan
        jobs_before = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        reply = client.post(path, data=form, headers=FETCH)
        assert reply.status_code == 400, f"POST {path} {form} answered {reply.status_code}"
        assert stories.get_story(conn, workshop["story"], workshop_key(app)).plan == plan_before
        assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == jobs_before
    finally:
        conn.close()


def test_a_too_long_title_is_told_as_such(client, workshop):
    """The plan's own sentence, not the volume's: a title error once read 'volume must be between 0 and 1'."""
    sign_in(client, workshop, "Rose")
    reply = client.post("/story/music", data={"track": "", "volume": "30", "title": "x" * 500}, headers=FETCH)
    assert reply.status_code == 400
    assert "title" in reply.get_data(as_text=True).lower() and "volume" not in reply.get_data(as_text=True).lower()


def test_one_video_at_a_time(app, client, workshop):
    """While her video is being made (the fixture's queued render), a second tab cannot start another."""
    sign_in(client, workshop, "Rose")
    conn = _db(app)
    try:
        jobs_before = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        second = client.post("/story/render", data={"quality": "final", "aspect": "16:9"}, headers=FETCH)
        assert second.status_code == 409 and second.json["job"] == workshop["job"]
        assert second.json["message"].endswith(".")
        assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == jobs_before
        # Once it is stopped, she can start again.
        state.request_cancel(conn, workshop["job"])
        again = client.post("/story/render", data={"quality": "preview", "aspect": "16:9"}, headers=FETCH)
        assert again.status_code == 200 and again.json["job"] != workshop["job"]
    finally:
        conn.close()


def test_ready_for_the_facilitator_needs_a_final_video(app, client, workshop):
    sign_in(client, workshop, "Rose")
    reply = client.post("/story/screening/ready", data={"ready": "1"}, headers=FETCH)
    assert reply.status_code == 409
    conn = _db(app)
    try:
        assert stories.get_story(conn, workshop["story"], workshop_key(app)).status == "draft"
    finally:
        conn.close()


# --- CSRF ------------------------------------------------------------------------------------


@pytest.fixture
def csrf_app(data_dir):
    from storyteller.app import create_app

    app = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": True})
    unlock(app)  # her words are sealed with her story's key: the facilitator has signed in
    return app


def _token(page) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"', page.get_data(as_text=True))
    assert found, "the page has no CSRF token"
    return found.group(1) or found.group(2)


def test_every_post_refuses_a_request_without_csrf_token(csrf_app, data_dir):
    conn = open_database(db_path(data_dir))
    try:
        workshop_id = create_workshop(conn, "Circle", "en", "")
        rose = add_participant(conn, workshop_id, *ROSE)
    finally:
        conn.close()
    client = csrf_app.test_client()
    token = _token(client.get(f"/story/signin?workshop={workshop_id}"))
    # Without the token, even the right PIN does not sign her in.
    refused = client.post("/story/signin", data={"workshop": workshop_id, "participant": rose, "pin": ROSE[1]})
    assert refused.status_code == 400
    assert client.get("/story/write").status_code in (302, 303)
    # With it, she is in: the refusal above was the missing token, nothing else.
    signed = client.post("/story/signin", data={"workshop": workshop_id, "participant": rose, "pin": ROSE[1], "csrf_token": token})
    assert signed.status_code in (302, 303)
    assert client.get("/story/write").status_code == 200
    checked = []
    for rule in csrf_app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        values = {arg: NO_SUCH_ID if "id" in arg else "x" for arg in rule.arguments}
        path = _path(rule, values)
        page = client.post(path, data={"level": "public", "script": "changed", "revision": 0}, headers=FETCH)
        assert page.status_code == 400, f"POST {path} without a CSRF token answered {page.status_code}"
        checked.append(path)
    assert client.get("/story/write").status_code == 200, "a refused POST (lock) still ended the session"
    conn = open_database(db_path(data_dir))
    try:
        story = stories.story_of(conn, rose, "en", workshop_key(csrf_app))
        assert story.script == "" and stories.current_consent(conn, story.id, workshop_key(csrf_app)) is None
    finally:
        conn.close()
    assert "/story/write/save" in checked and "/story/consent" in checked
