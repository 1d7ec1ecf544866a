"""The facilitator's desk through its routes: the passphrase door, kits wired into the journey,
participants (add, cards, reset, remove), the dashboard, the screening playlist and its consent,
the laptop check, and the export and wipe buttons."""

from __future__ import annotations

import html
import re

import pytest

from storyteller.app import create_app
from storyteller.store import participants as people
from storyteller.store import passphrase, plans, stories
from storyteller.store.db import db_path, open_database
from storyteller.store.kits import list_kits
from storyteller.store.wipe import SSD_WARNING
from storyteller.store.workshops import create_workshop
from storyteller.web.desk.access import DESK_SEEN_EXTENSION
from tests.conftest import DESK_PASSPHRASE, desk_sign_in, story_vault, whisper_model_or_skip, workshop_key

FETCH = {"X-Requested-With": "fetch"}
KITS = list_kits().kits


def _db(app):
    return open_database(db_path(app.config["DATA_DIR"]))


@pytest.fixture
def circle(app):
    """A story-circle workshop with Rose (PIN 4821) and Jasmine (PIN 7305): their ids."""
    conn = _db(app)
    workshop = create_workshop(conn, "Lahore story circle", "ur", kit="story-circle")
    ids = {
        "workshop": workshop,
        "rose": people.add_participant(conn, workshop, "Rose", "4821"),
        "jasmine": people.add_participant(conn, workshop, "Jasmine", "7305"),
    }
    conn.close()
    return ids


def participant_sign_in(client, workshop: int, participant: int, pin: str):
    client.get(f"/story/signin?workshop={workshop}")
    return client.post("/story/signin", data={"participant": participant, "pin": pin})


# ------------------------------------------------------------------ the door
DESK_PAGES = ["/desk/", "/desk/workshops", "/desk/workshops/new", "/desk/laptop"]


def test_first_run_asks_for_the_passphrase_twice_with_the_reason(client):
    assert client.get("/desk/").location.endswith("/desk/signin")
    r = client.get("/desk/signin")
    assert r.location.endswith("/desk/setup")
    page = client.get("/desk/setup").get_data(as_text=True)
    assert "If it is forgotten, nobody can open the desk or the stories again" in page
    r = client.post("/desk/setup", data={"passphrase": "quiet river morning", "again": "quiet river mornin"})
    assert "The two passphrases are not the same" in r.get_data(as_text=True)
    r = client.post("/desk/setup", data={"passphrase": "short", "again": "short"})
    assert "too short" in r.get_data(as_text=True)
    r = client.post("/desk/setup", data={"passphrase": DESK_PASSPHRASE, "again": DESK_PASSPHRASE})
    assert r.status_code == 302 and r.location.endswith("/desk/workshops")
    assert client.get("/desk/workshops").status_code == 200
    # Once set, the setup page is gone: nobody can set it again from the browser.
    assert client.get("/desk/setup").location.endswith("/desk/signin")
    r = client.post("/desk/setup", data={"passphrase": "another passphrase", "again": "another passphrase"})
    assert r.status_code == 302 and r.location.endswith("/desk/signin")


@pytest.mark.parametrize("path", DESK_PAGES)
def test_every_desk_page_needs_the_passphrase(app, client, circle, path):
    r = client.get(path)
    assert r.status_code == 302 and "/desk/s" in r.location  # setup or sign-in, never the page
    desk_sign_in(client)
    assert client.get(path, follow_redirects=True).status_code == 200
    client.post("/desk/lock")
    r = client.get(path)
    assert r.status_code == 302 and "/desk/signin" in r.location


def test_desk_calls_and_posts_without_the_passphrase_get_401(client, circle):
    assert client.get(f"/desk/workshops/{circle['workshop']}/status.json", headers=FETCH).status_code == 401
    assert client.post(f"/desk/workshops/{circle['workshop']}", data={"alias": "X", "pin": ""}).status_code == 401
    assert client.post(f"/desk/participants/{circle['rose']}/remove").status_code == 401
    assert client.get(f"/desk/participants/{circle['rose']}/remove").status_code == 302
    assert client.post("/desk/seen", headers=FETCH).status_code == 401


def test_wrong_passphrase_is_refused_and_slowed(app, client):
    desk_sign_in(client)
    client.post("/desk/lock")
    for _ in range(passphrase.FREE_TRIES):
        r = client.post("/desk/signin", data={"passphrase": "not the passphrase"})
        assert "That passphrase is not right. Try again." in r.get_data(as_text=True)
    r = client.post("/desk/signin", data={"passphrase": "not the passphrase"})
    assert re.search(r"You can try again in \d+ seconds", r.get_data(as_text=True))
    assert _db(app).execute("SELECT retry_after FROM facilitator").fetchone()[0] > 0
    # While the wait lasts even the right passphrase is not looked at, and the page says how long.
    # (The wait is made a minute long here: a busy machine may take the real 2 s to send the next try.)
    _db(app).execute("UPDATE facilitator SET retry_after = retry_after + 60")
    r = client.post("/desk/signin", data={"passphrase": DESK_PASSPHRASE})
    assert r.status_code == 200 and re.search(r"Too many wrong tries. Wait \d+ seconds", r.get_data(as_text=True))
    assert client.get("/desk/workshops").status_code == 302
    _db(app).execute("UPDATE facilitator SET retry_after = 0")
    desk_sign_in(client)


def test_csrf_is_enforced_at_the_desk(data_dir):
    app = create_app({"TESTING": True, "DATA_DIR": str(data_dir)})
    client = app.test_client()
    assert client.post("/desk/setup", data={"passphrase": DESK_PASSPHRASE, "again": DESK_PASSPHRASE}).status_code == 400
    desk_sign_in(client)  # with the page's token
    assert client.post("/desk/workshops/new", data={"kit": "story-circle", "name": "X", "language": "ur"}).status_code == 400
    assert client.post("/desk/lock").status_code == 400
    assert client.get("/desk/workshops").status_code == 200  # the refused Lock changed nothing


def test_a_participant_session_never_opens_the_desk(app, client, circle):
    desk_sign_in(client)
    client.post("/desk/lock")
    assert participant_sign_in(client, circle["workshop"], circle["rose"], "4821").status_code == 302
    assert client.get("/story/consent").status_code == 200
    for path in DESK_PAGES:
        assert client.get(path).status_code == 302
    assert client.get(f"/desk/workshops/{circle['workshop']}/status.json", headers=FETCH).status_code == 401
    # A cookie that claims a desk token it was never given opens nothing either.
    with client.session_transaction() as s:
        s["desk"] = "0" * 32
    assert client.get("/desk/workshops").status_code == 302


def test_signing_in_at_the_desk_ends_her_session_in_that_browser(app, client, circle):
    participant_sign_in(client, circle["workshop"], circle["rose"], "4821")
    assert client.get("/story/consent").status_code == 200
    desk_sign_in(client)
    assert _db(app).execute("SELECT session_token FROM participants WHERE id = ?", (circle["rose"],)).fetchone()[0] == ""
    assert client.get("/story/consent").status_code == 302  # to her sign-in page


def test_the_desk_locks_when_idle_and_a_restart_forgets_it(app, client, data_dir):
    desk_sign_in(client)
    assert client.get("/desk/workshops").status_code == 200
    app.extensions[DESK_SEEN_EXTENSION] -= app.config.get("IDLE_LOCK_SECONDS", 300) + 1
    r = client.get("/desk/workshops")
    assert r.status_code == 302 and r.location.endswith("/desk/signin?locked=1")
    assert "The desk is locked" in client.get(r.location).get_data(as_text=True)
    desk_sign_in(client)
    # The same cookie means nothing to a new app: the token lived in the old one's memory.
    restarted = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False}).test_client()
    with client.session_transaction() as old, restarted.session_transaction() as new:
        new.update(old)
    assert restarted.get("/desk/workshops").status_code == 302


def test_the_lock_button_and_quick_exit_close_the_desk(client):
    desk_sign_in(client)
    page = client.get("/desk/workshops").get_data(as_text=True)
    assert 'id="lock" href="/desk/lock"' in page and 'data-idle-seconds="300"' in page
    client.get("/exit")
    assert client.get("/desk/workshops").status_code == 302


# ------------------------------------------------------------------ workshops from kits
@pytest.mark.parametrize("kit", KITS, ids=[k.id for k in KITS])
def test_a_workshop_from_each_kit_gives_her_its_welcome_prompts_and_consent(app, desk, kit):
    r = desk.post("/desk/workshops/new?lang=ur", data={"kit": kit.id, "name": "حلقہ", "language": "ur"})
    workshop = int(r.location.rsplit("/", 1)[1])
    conn = _db(app)
    assert conn.execute("SELECT kit FROM workshops WHERE id = ?", (workshop,)).fetchone()[0] == kit.id
    desk.post(f"/desk/workshops/{workshop}", data={"alias": "Rose", "pin": "4821"})
    rose = conn.execute("SELECT id FROM participants WHERE workshop_id = ?", (workshop,)).fetchone()[0]
    participant_sign_in(desk, workshop, rose, "4821")
    urdu = kit.text("ur")
    page = desk.get("/story/consent").get_data(as_text=True)
    assert urdu.consent.intro.split("\n")[0][:60] in page and urdu.consent.workshop in page and urdu.consent.public in page
    desk.post("/story/consent", data={"level": "workshop"})
    assert (
        stories.consent_history(conn, conn.execute("SELECT id FROM stories").fetchone()[0], workshop_key(app))[0].text_version
        == kit.consent_version
    )
    page = desk.get("/story/write").get_data(as_text=True)
    assert all(prompt in page for prompt in urdu.prompts)
    assert urdu.welcome.split("\n")[0][:60] in page
    # The English page shows the kit's English words.
    page = desk.get("/story/write?lang=en").get_data(as_text=True)
    assert kit.text("en").prompts[0] in page
    end_card = desk.get("/story/music?lang=en").get_data(as_text=True)
    assert kit.text("en").end_card.tips[0] in end_card
    # Until she chooses, the video has the kit's shape.
    assert re.search(
        rf'name="aspect" value="{re.escape(kit.shape)}" id="aspect-\d" checked', desk.get("/story/render").get_data(as_text=True)
    )


def test_desk_warns_while_the_kits_helplines_are_empty(app, desk):
    r = desk.post("/desk/workshops/new", data={"kit": "online-harassment", "name": "Circle", "language": "en"})
    page = desk.get(r.location).get_data(as_text=True)
    assert 'id="kit-gaps"' in page and "No helplines are on the end card yet" in page


def test_dashboard_warns_when_she_chose_public_while_the_helplines_are_empty(app, desk, circle):
    conn = _db(app)
    story = stories.story_of(conn, circle["rose"], "ur", workshop_key(app))
    url = f"/desk/workshops/{circle['workshop']}/status.json"
    stories.record_consent(conn, story.id, "organisation", "v1", "ur", workshop_key=workshop_key(app))
    assert not any("public campaign" in w for w in desk.get(url).get_json()["warnings"])
    stories.record_consent(conn, story.id, "public", "v1", "ur", workshop_key=workshop_key(app))
    assert any("Rose chose a public campaign" in w for w in desk.get(url).get_json()["warnings"])


def test_a_kit_that_is_not_offered_is_refused(desk):
    r = desk.post("/desk/workshops/new", data={"kit": "../../etc", "name": "Circle", "language": "en"})
    assert r.status_code == 200 and "Choose one of the kits." in r.get_data(as_text=True)


def test_home_is_her_entry_with_a_way_to_the_desk(client, circle):
    page = client.get("/").get_data(as_text=True)
    assert f'href="/story/signin?workshop={circle["workshop"]}"' in page and 'href="/desk/"' in page
    assert "/desk/workshops/" not in page


# ------------------------------------------------------------------ participants
def test_same_pseudonym_or_a_pin_of_letters_get_clear_messages(desk, circle):
    r = desk.post(f"/desk/workshops/{circle['workshop']}", data={"alias": "Rose", "pin": ""})
    assert "This pseudonym is already taken in this workshop; choose another." in r.get_data(as_text=True)
    r = desk.post(f"/desk/workshops/{circle['workshop']}", data={"alias": "Lily", "pin": "abcd"})
    assert "The PIN is 4 to 12 digits." in r.get_data(as_text=True)


def test_pin_cards_for_several_participants_shown_once(app, desk, circle):
    r = desk.post(f"/desk/workshops/{circle['workshop']}/cards", data={"aliases": "Lily\n\nTulip\nRose\n"})
    page = r.get_data(as_text=True)
    pins = re.findall(r'class="pin-once" dir="ltr">(\d{4})<', page)
    assert len(pins) == 2 and "Lily" in page and "Tulip" in page
    assert "Rose: This pseudonym is already taken" in page
    conn = _db(app)
    lily = conn.execute("SELECT id FROM participants WHERE alias = 'Lily'").fetchone()[0]
    assert people.sign_in(conn, circle["workshop"], lily, pins[0]).participant is not None
    assert pins[0] not in desk.get(f"/desk/workshops/{circle['workshop']}/cards").get_data(as_text=True)


def test_reset_pin_clears_her_wait_and_never_shows_her_story(app, desk, circle):
    conn = _db(app)
    story = stories.story_of(conn, circle["rose"], "ur", workshop_key(app))
    stories.save_script(conn, story.id, "Words only Rose may read", 0, workshop_key=workshop_key(app))
    for _ in range(people.FREE_TRIES + 1):
        people.sign_in(conn, circle["workshop"], circle["rose"], "0000")
    assert people.sign_in(conn, circle["workshop"], circle["rose"], "4821").checked is False
    page = desk.get(f"/desk/participants/{circle['rose']}/pin").get_data(as_text=True)
    assert "Words only Rose may read" not in page
    r = desk.post(f"/desk/participants/{circle['rose']}/pin", data={"pin": "12ab"})
    assert "The PIN is 4 to 12 digits." in r.get_data(as_text=True)
    page = desk.post(f"/desk/participants/{circle['rose']}/pin", data={"pin": ""}).get_data(as_text=True)
    new_pin = re.search(r'class="pin-once" dir="ltr">(\d{4})<', page).group(1)
    assert "Words only Rose may read" not in page
    assert people.sign_in(conn, circle["workshop"], circle["rose"], new_pin).participant is not None
    if new_pin != "4821":
        assert people.sign_in(conn, circle["workshop"], circle["rose"], "4821").participant is None


def test_remove_takes_her_story_and_vault_files_and_nobody_elses(app, desk, circle):
    conn = _db(app)
    rose, jasmine = (stories.story_of(conn, circle[who], "ur", workshop_key(app)) for who in ("rose", "jasmine"))
    vault = story_vault(app, rose.id)
    rose_files = [vault.put_bytes(b"her narration", ".webm"), vault.put_bytes(b"her photo", ".jpg")]
    masked = vault.put_bytes(b"masked copy", ".jpg")
    stories.add_asset(conn, rose.id, "narration", rose_files[0])
    stories.add_asset(conn, rose.id, "photo", rose_files[1], meta={"masked": masked})
    kept = story_vault(app, jasmine.id).put_bytes(b"jasmine's", ".webm")
    stories.add_asset(conn, jasmine.id, "narration", kept)
    page = desk.get(f"/desk/participants/{circle['rose']}/remove").get_data(as_text=True)
    assert "Her story goes with her" in page and 'id="confirm-remove"' in page
    assert conn.execute("SELECT count(*) FROM participants").fetchone()[0] == 2  # asking removed nothing
    r = desk.post(f"/desk/participants/{circle['rose']}/remove", follow_redirects=True)
    assert "Rose and her story are removed" in r.get_data(as_text=True)
    assert not any(vault.exists(name) for name in [*rose_files, masked])
    assert vault.exists(kept)
    assert conn.execute("SELECT count(*) FROM stories WHERE id = ?", (rose.id,)).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM assets WHERE story_id = ?", (rose.id,)).fetchone()[0] == 0
    assert people.get_participant(conn, circle["jasmine"]) is not None


# ------------------------------------------------------------------ the dashboard
def test_dashboard_shows_steps_and_jobs_never_her_words(app, desk, circle):
    from storyteller.jobs import state

    conn = _db(app)
    story = stories.story_of(conn, circle["rose"], "ur", workshop_key(app))
    stories.save_script(conn, story.id, "Words only Rose may read", 0, workshop_key=workshop_key(app))
    stories.set_step(conn, story.id, "record")
    running = state.create_job(conn, "render_story", {"quality": "final"}, story_id=story.id)
    state.claim(conn, running)
    state.report(conn, running, 0.4, "rendering")
    failed = state.create_job(conn, "subtitles", {}, story_id=story.id)
    state.fail(conn, failed, "The recording is too quiet to make subtitles from.")
    data = desk.get(f"/desk/workshops/{circle['workshop']}/status.json", headers=FETCH).get_json()
    rose = next(p for p in data["participants"] if p["alias"] == "Rose")
    assert rose["step"] == "record" and rose["step_words"] == "Record"
    assert {(j["state"], j["progress"]) for j in rose["jobs"]} == {("running", 0.4), ("failed", 0.0)}
    assert any("too quiet to make subtitles" in w for w in data["warnings"])
    page = desk.get(f"/desk/workshops/{circle['workshop']}").get_data(as_text=True)
    for shown in (str(data), page):
        assert "Words only Rose may read" not in shown
    stories.set_step(conn, story.id, "pictures")  # she moves on: the next poll says so
    data = desk.get(f"/desk/workshops/{circle['workshop']}/status.json", headers=FETCH).get_json()
    assert next(p for p in data["participants"] if p["alias"] == "Rose")["step"] == "pictures"


def test_dashboard_warns_when_the_disk_is_nearly_full(app, desk, circle):
    assert not any("disk is nearly full" in w for w in desk.get(f"/desk/workshops/{circle['workshop']}/status.json").get_json()["warnings"])
    app.config["LOW_DISK_BYTES"] = 1 << 60  # more than any disk has free
    warnings = desk.get(f"/desk/workshops/{circle['workshop']}/status.json").get_json()["warnings"]
    assert any("The disk is nearly full" in w for w in warnings)


def test_polling_the_dashboard_does_not_keep_the_desk_open(app, desk, circle):
    app.extensions[DESK_SEEN_EXTENSION] -= 301
    assert desk.get(f"/desk/workshops/{circle['workshop']}/status.json", headers=FETCH).status_code == 401


# ------------------------------------------------------------------ her weaker voice, agreed at the desk
def _rose_chooses_a_voice(app, circle, level: str, method: str):
    """Rose, in her own browser, consents to ``level`` and chooses ``method``: her client and story id."""
    conn = _db(app)
    story = stories.story_of(conn, circle["rose"], "ur", workshop_key(app))
    stories.record_consent(conn, story.id, level, "v1", "ur", workshop_key=workshop_key(app))
    her = app.test_client()
    participant_sign_in(her, circle["workshop"], circle["rose"], "4821")
    assert her.post("/story/voice", data={"method": method}).status_code == 302
    return her, story.id


def test_the_desk_shows_her_weaker_voice_with_its_honest_label_and_agrees(app, desk, circle):
    her, story = _rose_chooses_a_voice(app, circle, "public", "pitch")
    rose = circle["rose"]
    status = desk.get(f"/desk/workshops/{circle['workshop']}/status.json", headers=FETCH).get_json()
    row = next(p for p in status["participants"] if p["alias"] == "Rose")
    assert row["voice"] == "asked" and any("Rose chose a voice that protects less" in w for w in status["warnings"])
    dashboard = desk.get(f"/desk/workshops/{circle['workshop']}").get_data(as_text=True)
    assert f'href="/desk/participants/{rose}/voice" class="voice-link" data-voice="asked">' in dashboard
    page = desk.get(f"/desk/participants/{rose}/voice").get_data(as_text=True)
    assert "<strong>Your voice, higher or lower</strong> · Changes the sound, does not hide who you are." in page
    assert "Her consent: a public campaign" in page and "her video uses “A computer voice reads your words”" in page
    assert 'name="method" value="pitch"' in page and 'id="withdraw-voice"' not in page
    assert "Until a facilitator agrees" in her.get("/story/voice").get_data(as_text=True)
    r = desk.post(f"/desk/participants/{rose}/voice/confirm", data={"method": "pitch", "audience": "public"}, follow_redirects=True)
    assert "You agreed. Her video will use the voice she chose." in r.get_data(as_text=True)
    assert 'id="withdraw-voice"' in r.get_data(as_text=True) and 'id="confirm-voice"' not in r.get_data(as_text=True)
    assert plans.voice_for_render(plans.plan_or_new(stories.get_story(_db(app), story, workshop_key(app)).plan), "public") == "pitch"
    mine = her.get("/story/voice").get_data(as_text=True)
    assert "A facilitator agreed to this choice. Changes the sound, does not hide who you are." in mine
    assert 'id="voice-used"' not in mine
    status = desk.get(f"/desk/workshops/{circle['workshop']}/status.json", headers=FETCH).get_json()
    assert next(p for p in status["participants"] if p["alias"] == "Rose")["voice"] == "agreed"
    assert not any("protects less" in w for w in status["warnings"])
    # Taken back: her video uses the default again, and her page says so.
    r = desk.post(f"/desk/participants/{rose}/voice/withdraw", follow_redirects=True)
    assert "Your agreement is taken back." in r.get_data(as_text=True) and 'id="confirm-voice"' in r.get_data(as_text=True)
    assert 'id="voice-used"' in her.get("/story/voice").get_data(as_text=True)


def test_the_desk_agrees_only_to_what_it_showed_and_for_her_audience_then(app, desk, circle):
    her, story = _rose_chooses_a_voice(app, circle, "organisation", "pitch")
    rose = circle["rose"]
    page = desk.get(f"/desk/participants/{rose}/voice").get_data(as_text=True)
    assert 'name="audience" value="organisation"' in page
    her.post("/story/voice", data={"method": "own"})  # she chooses again while the desk looks
    r = desk.post(f"/desk/participants/{rose}/voice/confirm", data={"method": "pitch", "audience": "organisation"}, follow_redirects=True)
    assert "has changed since this page was shown" in r.get_data(as_text=True)
    assert 'id="voice-used"' in her.get("/story/voice").get_data(as_text=True)
    desk.post(f"/desk/participants/{rose}/voice/confirm", data={"method": "own", "audience": "organisation"})
    assert 'id="voice-confirmed"' in her.get("/story/voice").get_data(as_text=True)
    # She widens her consent to a public campaign: the yes given for the organisation does not carry over.
    stories.record_consent(_db(app), story, "public", "v1", "ur", workshop_key=workshop_key(app))
    assert 'id="voice-used"' in her.get("/story/voice").get_data(as_text=True)
    assert 'data-state="asked"' in desk.get(f"/desk/participants/{rose}/voice").get_data(as_text=True)
    r = desk.post(f"/desk/participants/{rose}/voice/confirm", data={"method": "own", "audience": "organisation"}, follow_redirects=True)
    assert "has changed since this page was shown" in r.get_data(as_text=True)


def test_the_voice_page_at_the_desk_needs_the_passphrase_and_csrf(app, desk, circle, data_dir):
    her, story = _rose_chooses_a_voice(app, circle, "public", "own")
    rose, jasmine = circle["rose"], circle["jasmine"]
    # A stronger or equal choice asks nothing and shows nothing of what she chose.
    stories.record_consent(_db(app), story, "workshop", "v1", "ur", workshop_key=workshop_key(app))
    page = desk.get(f"/desk/participants/{rose}/voice").get_data(as_text=True)
    assert 'id="voice-nothing"' in page and "Your own voice" not in page
    assert desk.get("/desk/participants/999999/voice").status_code == 404
    # Jasmine has never signed in: nothing to agree to, and the desk makes no story for her.
    assert 'id="voice-nothing"' in desk.get(f"/desk/participants/{jasmine}/voice").get_data(as_text=True)
    assert desk.post(f"/desk/participants/{jasmine}/voice/confirm", data={"method": "own", "audience": "public"}).status_code == 404
    assert _db(app).execute("SELECT count(*) FROM stories WHERE participant_id = ?", (jasmine,)).fetchone()[0] == 0
    desk.post("/desk/lock")
    assert desk.get(f"/desk/participants/{rose}/voice").status_code == 302
    assert desk.post(f"/desk/participants/{rose}/voice/confirm", data={"method": "own", "audience": "workshop"}).status_code == 401
    assert desk.post(f"/desk/participants/{rose}/voice/withdraw").status_code == 401
    # Her own session never reaches it.
    assert her.post(f"/desk/participants/{rose}/voice/confirm", data={"method": "own", "audience": "workshop"}).status_code == 401
    strict = create_app({"TESTING": True, "DATA_DIR": str(data_dir)}).test_client()  # CSRF on, as in the field
    desk_sign_in(strict)
    assert strict.post(f"/desk/participants/{rose}/voice/confirm", data={"method": "own", "audience": "workshop"}).status_code == 400


# ------------------------------------------------------------------ the screening playlist
def _ready_story(app, conn, participant: int, consent: str | None) -> int:
    story = stories.story_of(conn, participant, "ur", workshop_key(app))
    name = story_vault(app, story.id).put_bytes(b"\x00\x00\x00\x18ftypmp42 a final video", ".mp4")
    stories.add_asset(conn, story.id, "export", name, media_type="video/mp4", meta={"quality": "final"})
    stories.set_status(conn, story.id, "ready")
    if consent:
        stories.record_consent(conn, story.id, consent, "v1", "ur", workshop_key=workshop_key(app))
    return story.id


def test_playlist_plays_only_what_consent_allows_checked_at_each_video(app, desk, circle):
    conn = _db(app)
    rose = _ready_story(app, conn, circle["rose"], "workshop")
    jasmine = _ready_story(app, conn, circle["jasmine"], None)
    page = desk.get(f"/desk/workshops/{circle['workshop']}/screening").get_data(as_text=True)
    assert f'data-story="{rose}"' in page and f'data-story="{jasmine}"' not in page
    assert 'id="held-back"' in page and "Jasmine" in page
    play = desk.get(f"/desk/workshops/{circle['workshop']}/screening/play").get_data(as_text=True)
    assert f"/desk/screening/video/{rose}" in play and f"/desk/screening/video/{jasmine}" not in play
    assert "data-idle-seconds" not in play  # a long screening does not lock itself
    assert desk.get(f"/desk/screening/video/{rose}").status_code == 200
    assert desk.get(f"/desk/screening/video/{jasmine}").status_code == 404
    stories.record_consent(conn, jasmine, "public", "v1", "ur", workshop_key=workshop_key(app))
    assert desk.get(f"/desk/screening/video/{jasmine}").status_code == 200
    # Her consent goes away during the circle: her video is refused at once.
    conn.execute("DELETE FROM consents WHERE story_id = ?", (rose,))
    assert desk.get(f"/desk/screening/video/{rose}").status_code == 404
    # A story she took back to change is not played either.
    stories.set_status(conn, jasmine, "draft")
    assert desk.get(f"/desk/screening/video/{jasmine}").status_code == 404


def test_playlist_order_is_set_and_kept(app, desk, circle):
    conn = _db(app)
    first = _ready_story(app, conn, circle["rose"], "workshop")
    second = _ready_story(app, conn, circle["jasmine"], "organisation")
    url = f"/desk/workshops/{circle['workshop']}/screening"

    def order():
        return [int(n) for n in re.findall(r'data-story="(\d+)"', desk.get(url).get_data(as_text=True))]

    assert order() == [first, second]
    desk.post(url + "/move", data={"story": second, "direction": "up"})
    assert order() == [second, first]
    desk.post(url + "/move", data={"story": second, "direction": "up"})  # already first: stays
    assert order() == [second, first]
    assert desk.post(url + "/move", data={"story": second, "direction": "sideways"}).status_code == 400


# ------------------------------------------------------------------ laptop, export, wipe
def test_laptop_check_names_disk_models_and_fonts(desk):
    model = whisper_model_or_skip()
    page = desk.get("/desk/laptop").get_data(as_text=True)
    assert 'id="check-disk"' in page and "NotoNastaliqUrdu-Regular.ttf" in page
    assert 'id="check-models" class="good"' in page and model.name in page
    assert 'id="check-microphone"' in page and 'id="time-render"' in page


@pytest.mark.slow
def test_timing_a_render_gives_minutes_for_a_three_minute_story(data_dir):
    app = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False, "JOBS_IMMEDIATE": True})
    client = app.test_client()
    desk_sign_in(client)
    job = client.post("/desk/laptop/timing", headers=FETCH).get_json()["job"]
    data = client.get(f"/desk/laptop/timing/{job}.json").get_json()
    assert data["state"] == "done", data
    assert re.search(r"A 3-minute story takes about \d+ minutes to make\.", data["message"])
    assert client.get("/desk/laptop/timing/999.json").status_code == 404


def test_export_follows_consent_and_wipe_needs_the_name(app, desk, circle):
    conn = _db(app)
    story = stories.story_of(conn, circle["rose"], "ur", workshop_key(app))
    page = desk.get(f"/desk/workshops/{circle['workshop']}").get_data(as_text=True)
    assert f'action="/desk/stories/{story.id}/export"' in page and 'id="to-wipe"' in page
    # Her consent covers only the workshop screening: the export is refused, no job is made.
    stories.record_consent(conn, story.id, "workshop", "v1", "ur", workshop_key=workshop_key(app))
    r = desk.post(f"/desk/stories/{story.id}/export", follow_redirects=True)
    assert "may not leave the laptop" in r.get_data(as_text=True)
    assert conn.execute("SELECT count(*) FROM jobs WHERE kind = 'export'").fetchone()[0] == 0
    stories.record_consent(conn, story.id, "organisation", "v1", "ur", workshop_key=workshop_key(app))
    desk.post(f"/desk/stories/{story.id}/export")
    assert conn.execute("SELECT story_id FROM jobs WHERE kind = 'export'").fetchone()[0] == story.id
    # The wipe page says honestly what no program can promise, in the words the CLI prints.
    page = desk.get(f"/desk/workshops/{circle['workshop']}/wipe?lang=ur").get_data(as_text=True)
    assert "فلیش ڈسک (SSD یا USB اسٹک)" in page
    page = desk.get(f"/desk/workshops/{circle['workshop']}/wipe?lang=en").get_data(as_text=True)
    assert html.escape(SSD_WARNING) in page
    # A wipe asks for the workshop's name; a wrong one wipes nothing, the right one wipes it all.
    r = desk.post(f"/desk/workshops/{circle['workshop']}/wipe", data={"confirm": "Lahore circle"})
    assert "The name is not the same. Nothing was wiped." in r.get_data(as_text=True)
    assert conn.execute("SELECT count(*) FROM participants").fetchone()[0] == 2
    r = desk.post(f"/desk/workshops/{circle['workshop']}/wipe", data={"confirm": " Lahore  story circle "}, follow_redirects=True)
    assert "is wiped from this laptop" in r.get_data(as_text=True)
    assert conn.execute("SELECT count(*) FROM participants").fetchone()[0] == 0
