"""The start page, the desk's workshop pages, the job endpoint, and security regressions."""

from __future__ import annotations

import re

import pytest

from storyteller.app import create_app
from storyteller.jobs import state
from tests.conftest import desk_sign_in

NEW_WORKSHOP = "/desk/workshops/new"
KIT = "story-circle"


def test_home_lists_workshops(desk):
    page = desk.get("/").get_data(as_text=True)
    assert "No workshops yet" in page and 'href="/desk/"' in page
    r = desk.post(NEW_WORKSHOP, data={"kit": KIT, "name": "Lahore spring circle", "language": "ur", "place": ""}, follow_redirects=True)
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "Lahore spring circle" in page and "Urdu" in page
    assert "Lahore spring circle" in desk.get("/").get_data(as_text=True)  # her entry lists it


def test_workshop_name_required(desk):
    r = desk.post(NEW_WORKSHOP, data={"kit": KIT, "name": "   ", "language": "ur"})
    assert r.status_code == 200
    assert "Give the workshop a name" in r.get_data(as_text=True)


def test_workshop_language_must_be_offered(desk):
    r = desk.post(NEW_WORKSHOP, data={"kit": KIT, "name": "X", "language": "xx"})
    assert "Choose one of the offered languages." in r.get_data(as_text=True)


def test_urdu_workshop_name_round_trips(desk):
    desk.post(NEW_WORKSHOP, data={"kit": KIT, "name": "ہماری کہانیاں", "language": "ur"})
    assert "ہماری کہانیاں" in desk.get("/").get_data(as_text=True)


def test_job_progress_json(app, client):
    from storyteller.web.context import get_db

    with app.app_context():
        job_id = state.create_job(get_db(), "demo", {"secret_path": "/home/x"})
    data = client.get(f"/jobs/{job_id}.json").get_json()
    assert data["state"] == "queued" and data["progress"] == 0
    assert "secret_path" not in str(data)  # parameters never leave the server
    assert client.get("/jobs/9999.json").status_code == 404


def test_cancel_endpoint(app, client):
    from storyteller.web.context import get_db

    with app.app_context():
        job_id = state.create_job(get_db(), "demo")
    assert client.post(f"/jobs/{job_id}/cancel").get_json()["state"] == "cancelled"


def test_media_serves_only_exports(app, client, data_dir):
    from storyteller.web.context import get_db, get_vault

    with app.app_context():
        raw = get_vault(None).put_bytes(b"raw narration", ".webm")
        get_db().execute("INSERT INTO assets (kind, vault_name) VALUES ('narration', ?)", (raw,))
    assert client.get(f"/media/{raw}").status_code == 404
    assert client.get("/media/..%2Fstoryteller.sqlite3").status_code == 404


# ------------------------------------------------------------------ security regressions
def test_security_headers(client):
    r = client.get("/")
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in r.headers["Cache-Control"]
    # Her own microphone and camera from our own pages only; her location never.
    policy = r.headers["Permissions-Policy"]
    assert "microphone=(self)" in policy and "camera=(self)" in policy and "geolocation=()" in policy


def test_no_inline_script_in_pages(client):
    page = client.get("/").get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert "http://" not in page.replace("http://127.0.0.1", "") and "https://" not in page  # no CDN


def test_csrf_enforced(data_dir):
    app = create_app({"TESTING": True, "DATA_DIR": str(data_dir)})
    client = app.test_client()
    desk_sign_in(client)  # with the token of the page, as a browser sends it
    assert client.post(NEW_WORKSHOP, data={"kit": KIT, "name": "X", "language": "ur"}).status_code == 400
    assert client.post("/demo").status_code == 400
    page = client.get(NEW_WORKSHOP).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    r = client.post(NEW_WORKSHOP, data={"kit": KIT, "name": "X", "language": "ur", "csrf_token": token})
    assert r.status_code == 302


@pytest.mark.parametrize("host", ["evil.example", "192.168.1.5", "attacker.localhost.evil"])
def test_dns_rebinding_blocked(client, host):
    assert client.get("/", headers={"Host": host}).status_code == 400


def test_loopback_hosts_accepted(client):
    for host in ("127.0.0.1:5000", "localhost:5000"):
        assert client.get("/", headers={"Host": host}).status_code == 200


def test_quick_exit_clears_session(client):
    with client.session_transaction() as s:
        s["participant"] = 7
    r = client.get("/exit")
    assert r.status_code == 200 and "Storyteller" not in r.get_data(as_text=True)
    with client.session_transaction() as s:
        assert "participant" not in s


def test_secret_key_is_random_and_private(data_dir):
    create_app({"DATA_DIR": str(data_dir)})
    key_file = data_dir / "secret_key"
    assert len(key_file.read_text()) == 64
    assert oct(key_file.stat().st_mode)[-3:] == "600"


def test_urdu_interface_is_rtl_and_translated(desk):
    page = desk.get("/desk/workshops?lang=ur").get_data(as_text=True)
    assert '<html lang="ur" dir="rtl">' in page
    assert "ورکشاپس" in page and "فوراً باہر نکلیں" in page
    # the choice is remembered
    assert 'dir="rtl"' in desk.get(NEW_WORKSHOP).get_data(as_text=True)
    r = desk.post(NEW_WORKSHOP, data={"kit": KIT, "name": "", "language": "ur"})
    assert "ورکشاپ کا نام لکھیں۔" in r.get_data(as_text=True)


def test_browser_language_is_used(client):
    page = client.get("/", headers={"Accept-Language": "ur-PK,ur;q=0.9"}).get_data(as_text=True)
    assert 'dir="rtl"' in page


def test_compiled_translations_match_sources():
    from pathlib import Path

    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    folder = Path(__file__).resolve().parent.parent / "storyteller" / "translations" / "ur" / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as fh:
        po = {m.id: m.string for m in read_po(fh) if m.id}
    with open(folder / "messages.mo", "rb") as fh:
        mo = {m.id: m.string for m in read_mo(fh) if m.id}
    assert po == mo, "run: .venv/bin/pybabel compile -d storyteller/translations"
    assert all(po.values()), "every Urdu string is translated"


def test_a_refusal_no_view_caught_says_its_sentence_not_500(app):
    """A UserError that reaches the app (a storyboard that filled up meanwhile) is her plain sentence, in her language."""
    from storyteller.store.plans import TOO_MANY_PICTURES, PlanError

    def full():
        raise PlanError(TOO_MANY_PICTURES)

    app.add_url_rule("/full", "full", full, methods=["GET", "POST"])
    client = app.test_client()
    page = client.get("/full", headers={"Accept-Language": "ur"})
    assert page.status_code == 400 and 'id="error-title"' in page.get_data(as_text=True)
    assert "ایک کہانی میں زیادہ سے زیادہ 60 تصویریں ہو سکتی ہیں۔" in page.get_data(as_text=True)
    answer = client.post("/full", headers={"X-Requested-With": "fetch"})
    assert answer.status_code == 400 and answer.get_json() == {"message": TOO_MANY_PICTURES}
