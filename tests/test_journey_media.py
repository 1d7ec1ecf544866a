"""Steps 5-10 through the web views, with the jobs run for real in the request (huey immediate):
pictures masked on arrival and corrected by her, voice that follows consent, subtitles she
edits, a preview and a final video, the screening. Permissions for every URL are walked
generically in test_journey_routes.py; here, what each step does."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from storyteller.pipeline.media.probe import probe
from storyteller.store import plans, stories
from storyteller.store.db import db_path, open_database
from storyteller.store.participants import add_participant
from storyteller.store.vault import vault_for
from storyteller.store.workshops import create_workshop
from tests.conftest import shared_data, story_vault, unlock, workshop_key
from tests.render_helpers import picture, tone

FETCH = {"X-Requested-With": "fetch"}


@pytest.fixture
def app(data_dir):
    from storyteller.app import create_app

    app = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False, "JOBS_IMMEDIATE": True})
    unlock(app)  # jobs run in this process, with the app's key
    return app


@pytest.fixture
def db(app):
    conn = open_database(db_path(app.config["DATA_DIR"]))
    yield conn
    conn.close()


def her(db, client, level: str = "workshop", alias: str = "Sitara", language: str = "en") -> stories.Story:
    """A participant signed in on ``client`` with her consent given; returns her story."""
    workshop = create_workshop(db, f"Circle of {alias}", language)
    pid = add_participant(db, workshop, alias, "4821")
    key = workshop_key(client.application)
    story = stories.story_of(db, pid, language, key)
    stories.record_consent(db, story.id, level, "test", language, workshop_key=key)
    reply = client.post("/story/signin", data={"workshop": workshop, "participant": pid, "pin": "4821"})
    assert reply.status_code == 302
    return story


def plan_of(app, db, story_id: int) -> plans.Plan:
    return plans.plan_or_new(stories.get_story(db, story_id, workshop_key(app)).plan)


def upload(client, path_or_bytes, kind: str = "photo"):
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    return client.post(
        "/story/pictures/add",
        headers=FETCH,
        content_type="multipart/form-data",
        data={"picture": (io.BytesIO(data), "p.jpg"), "kind": kind},
    )


@pytest.mark.slow
def test_her_photo_is_masked_on_arrival_and_her_corrections_are_kept(app, client, db):
    story = her(db, client)
    reply = upload(client, shared_data("faces", "two_people.jpg"))
    assert reply.status_code == 200, reply.json
    asset_id = reply.json["asset"]
    status = client.get(f"/story/work/{reply.json['job']}").json
    assert status["state"] == "done" and status["result"]["faces"] == 2
    page = client.get("/story/pictures").get_data(as_text=True)
    assert f"/story/media/{asset_id}?masked=1" in page and "Faces covered: 2" in page
    masked = client.get(f"/story/media/{asset_id}?masked=1")
    assert masked.status_code == 200 and masked.mimetype == "image/jpeg"
    assert not Image.open(io.BytesIO(masked.data)).getexif()

    meta = stories.story_asset(db, story.id, asset_id).meta
    shown = meta["boxes"][0][:4]
    reply = client.post(f"/story/pictures/{asset_id}/boxes", headers=FETCH, json={"remove": [shown], "add": [[5, 5, 80, 80]]})
    assert client.get(f"/story/work/{reply.json['job']}").json["state"] == "done"
    meta = stories.story_asset(db, story.id, asset_id).meta
    assert meta["remove"] == [shown] and sorted(b[4] for b in meta["boxes"]) == ["detected", "manual"]
    assert "Show this face (your decision)" in client.get("/story/pictures").get_data(as_text=True)


@pytest.mark.parametrize("lands", ["as the job keeps its copy", "before the job keeps a copy"])
def test_her_box_edit_that_lands_while_the_face_job_runs_is_kept_and_its_copy_not_orphaned(app, client, db, tmp_path, monkeypatch, lands):
    """Her edit and the face job write the same picture's meta: neither may put back what the other replaced."""
    from storyteller.pipeline.faces import anonymize as faces

    story = her(db, client)
    asset_id = upload(client, picture(tmp_path / "p.png").read_bytes()).json["asset"]
    first_copy = stories.story_asset(db, story.id, asset_id).meta["masked_asset"]
    real_add, real_anonymize, landed, kept = stories.add_asset, faces.anonymize, [], []

    def her_edit_lands():  # as her next request would, meanwhile
        landed.append(stories.merge_asset_meta(db, asset_id, {"add": [[5, 5, 80, 80]]}))

    def add_asset(*args, **kwargs):
        new_id = real_add(*args, **kwargs)
        if kwargs.get("meta", {}).get("role") == "masked":
            kept.append(new_id)
            if lands == "as the job keeps its copy" and not landed:
                her_edit_lands()
        return new_id

    def anonymize(*args, **kwargs):
        result = real_anonymize(*args, **kwargs)
        if lands == "before the job keeps a copy":
            her_edit_lands()
        return result

    monkeypatch.setattr(stories, "add_asset", add_asset)
    monkeypatch.setattr(faces, "anonymize", anonymize)
    reply = client.post(f"/story/pictures/{asset_id}/boxes", headers=FETCH, json={"add": [], "remove": []})
    status = client.get(f"/story/work/{reply.json['job']}").json
    assert landed and status["state"] == "done" and status["result"] == {"stale": True}
    meta = stories.story_asset(db, story.id, asset_id).meta
    assert meta["add"] == [[5, 5, 80, 80]] and meta["masked_asset"] == first_copy
    copies = [a.id for a in stories.story_assets(db, story.id, "other") if a.meta.get("of") == asset_id]
    assert copies == [first_copy]
    assert len(kept) == (1 if lands == "as the job keeps its copy" else 0)  # seen early, no copy is made in vain


def test_storyboard_order_motion_and_delete(app, client, db, tmp_path):
    story = her(db, client)
    ids = [upload(client, picture(tmp_path / f"p{i}.png", seed=i).read_bytes()).json["asset"] for i in range(3)]
    assert plan_of(app, db, story.id).picture_ids() == tuple(ids)
    client.post(f"/story/pictures/{ids[2]}/move", data={"direction": "up"})
    assert plan_of(app, db, story.id).picture_ids() == (ids[0], ids[2], ids[1])
    assert client.post("/story/pictures/order", headers=FETCH, json={"order": [ids[1], ids[0], ids[2]]}).json["saved"]
    assert plan_of(app, db, story.id).picture_ids() == (ids[1], ids[0], ids[2])
    bad = client.post("/story/pictures/order", headers=FETCH, json={"order": [ids[1], ids[0], 99999]})
    assert bad.status_code == 400 and bad.json["message"] == "The new order does not match the pictures of this story."
    client.post(f"/story/pictures/{ids[0]}/motion", data={"motion": "none"})
    assert [p.motion for p in plan_of(app, db, story.id).pictures] == ["auto", "none", "auto"]
    masked = stories.story_asset(db, story.id, ids[0]).meta["masked_asset"]
    client.post(f"/story/pictures/{ids[0]}/delete")
    assert plan_of(app, db, story.id).picture_ids() == (ids[1], ids[2])
    assert stories.story_asset(db, story.id, ids[0]) is None and stories.story_asset(db, story.id, masked) is None


def test_a_file_that_is_not_a_picture_gets_a_plain_answer(app, client, db):
    her(db, client)
    reply = upload(client, b"%PDF-1.4 this is not a picture")
    assert reply.status_code == 400 and "not a picture we can use" in reply.json["message"]
    assert not list(vault_for(app.config["DATA_DIR"]).root.iterdir())


def test_voice_default_follows_consent_and_a_weaker_choice_is_labelled(app, client, db):
    story = her(db, client, level="public")
    page = client.get("/story/voice").get_data(as_text=True)
    assert 'value="synthetic" id="voice-synthetic" checked' in page
    assert "Changes the sound, does not hide who you are." in page
    client.post("/story/voice", data={"method": "pitch"})
    assert plan_of(app, db, story.id).voice == "pitch"
    page = client.get("/story/voice").get_data(as_text=True)
    assert 'id="voice-used"' in page and "Until a facilitator agrees, your video uses: A computer voice reads your words." in page
    assert client.post("/story/voice", data={"method": "robot"}, headers=FETCH).status_code == 400
    assert client.post("/story/voice/preview", data={"method": "disguise"}, headers=FETCH).status_code == 409


def test_the_facilitator_confirms_a_weaker_voice_for_the_choice_shown_only(app, client, db):
    story = her(db, client, level="public")
    client.post("/story/voice", data={"method": "pitch"})
    with pytest.raises(plans.PlanError, match="changed since"):
        plans.confirm_weaker_voice(db, story.id, "disguise", workshop_key(app))  # the desk showed an older choice
    assert plans.voice_for_render(plan_of(app, db, story.id), "public") == "synthetic"
    plans.confirm_weaker_voice(db, story.id, "pitch", workshop_key(app))
    assert plans.voice_for_render(plan_of(app, db, story.id), "public") == "pitch"
    page = client.get("/story/voice").get_data(as_text=True)
    assert 'id="voice-used"' not in page
    assert "A facilitator agreed to this choice. Changes the sound, does not hide who you are." in page
    client.post("/story/voice", data={"method": "own"})  # choosing again needs a new confirmation
    assert plans.voice_for_render(plan_of(app, db, story.id), "public") == "synthetic"
    assert 'id="voice-used"' in client.get("/story/voice").get_data(as_text=True)


def test_subtitle_edits_are_checked(app, client, db):
    story = her(db, client)
    ok = client.post("/story/subtitles/save", headers=FETCH, json={"cues": [{"start": 0.5, "end": 2.0, "text": "My name is a secret."}]})
    assert ok.json["saved"] and plan_of(app, db, story.id).cues[0].text == "My name is a secret."
    bad = client.post("/story/subtitles/save", headers=FETCH, json={"cues": [{"start": 3, "end": 1, "text": "x"}]})
    assert bad.status_code == 400 and bad.json["message"] == "A subtitle line ends before it starts."
    assert plan_of(app, db, story.id).cues[0].text == "My name is a secret."  # nothing she made is lost


def test_another_participants_job_and_media_are_404(app, client, db, tmp_path):
    first = her(db, client)
    reply = upload(client, picture(tmp_path / "p.png").read_bytes())
    asset, job = reply.json["asset"], reply.json["job"]
    other = app.test_client()
    her(db, other, alias="Noor")
    for url in (f"/story/media/{asset}", f"/story/media/{asset}?masked=1", f"/story/work/{job}"):
        assert other.get(url, headers=FETCH).status_code == 404
        assert client.get(url, headers=FETCH).status_code == 200
    assert other.post(f"/story/work/{job}/stop", headers=FETCH).status_code == 404
    assert other.post(f"/story/pictures/{asset}/boxes", headers=FETCH, json={}).status_code == 404
    assert plan_of(app, db, first.id).picture_ids() == (asset,)


@pytest.mark.slow
def test_preview_then_final_then_ready_for_the_facilitator(app, client, db, tmp_path):
    story = her(db, client)
    vault = story_vault(app, story.id)
    stories.add_asset(
        db, story.id, "narration", vault.put_file(tone(tmp_path / "v.wav", 3.0, 220.0)), media_type="audio/wav", meta={"part": "whole"}
    )
    upload(client, picture(tmp_path / "p.png", size=(800, 600)).read_bytes())
    client.post("/story/music", data={"track": "river", "volume": "40", "title": "My story", "end_card": "Thank you"})
    assert plan_of(app, db, story.id).music == "river"
    assert client.get("/story/screening").get_data(as_text=True).count('id="mark-ready"') == 0

    reply = client.post("/story/render", headers=FETCH, data={"quality": "preview", "aspect": "1:1"})
    status = client.get(f"/story/work/{reply.json['job']}").json
    assert status["state"] == "done", status
    video = client.get(status["asset_url"])
    assert video.status_code == 200 and video.mimetype == "video/mp4"
    page = client.get("/story/render").get_data(as_text=True)
    assert status["asset_url"] in page and 'class="player"' in page and " controls" not in page.split('class="player"')[1][:300]

    reply = client.post("/story/render", headers=FETCH, data={"quality": "final", "aspect": "9:16"})
    status = client.get(f"/story/work/{reply.json['job']}").json
    assert status["state"] == "done", status
    final = stories.story_asset(db, story.id, status["result"]["asset"])
    info = probe(vault.decrypt_to(final.vault_name, tmp_path / "final.mp4"))
    assert (info.video.width, info.video.height) == (720, 1280) and info.duration == pytest.approx(3 + 3 + 4, abs=1.0)
    assert status["asset_url"] in client.get("/story/screening").get_data(as_text=True)
    client.post("/story/screening/ready", data={"ready": "1"})
    assert stories.get_story(db, story.id, workshop_key(app)).status == "ready"
    assert json.loads(json.dumps(plan_of(app, db, story.id).to_dict()))["aspect"] == "9:16"


def test_a_video_being_made_is_found_again_after_a_reload_or_a_restart(app, client, db):
    """The job is a row in her story's database, so a new page (or a new server) follows it on."""
    from storyteller.jobs import state

    story = her(db, client)
    job = state.create_job(db, "render_story", {"quality": "final", "aspect": "16:9"}, story_id=story.id)
    state.claim(db, job)
    state.report(db, job, 0.4, "rendering")
    page = client.get("/story/render").get_data(as_text=True)
    assert f'id="render-job" data-job="{job}"' in page
    status = client.get(f"/story/work/{job}", headers=FETCH).json
    assert status["progress"] == 0.4 and status["stage_words"] == "Making the video…" and status["quality"] == "final"
    busy = client.post("/story/render", headers=FETCH, data={"quality": "preview", "aspect": "16:9"})
    assert busy.status_code == 409 and busy.json["job"] == job  # one video at a time
    assert client.post(f"/story/work/{job}/stop", headers=FETCH).json["state"] == "running"
    assert state.get_job(db, job).cancel_requested
