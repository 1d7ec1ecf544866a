"""Her story from database rows to a rendered video: the plan, the picture intake, and the
journey's jobs run for real (face detector, voice chain, Whisper, ffmpeg)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from storyteller.jobs import state, story_build
from storyteller.jobs.intake import PictureRefused, receive_picture
from storyteller.jobs.runner import run_job
from storyteller.jobs.tasks import HANDLERS
from storyteller.pipeline.media.probe import probe
from storyteller.store import plans, stories
from storyteller.store.db import db_path, open_database
from storyteller.store.participants import add_participant
from storyteller.store.vault import plaintext_folders, vault_for
from storyteller.store.workshops import create_workshop
from tests.conftest import shared_data, whisper_model_or_skip
from tests.render_helpers import picture, tone

CLIP = ("speech", "librispeech-test-other", "1688", "1688-142285-0000.flac")


@pytest.fixture
def conn(data_dir):
    return open_database(db_path(data_dir))


KEY = bytes(range(32))  # the workshop key these tests unlock with


class StoryVaults:
    """The data folder's vault, opened with the key of one story (``of``) as a job opens it."""

    def __init__(self, conn, data_dir):
        self.conn, self.keyless = conn, vault_for(data_dir)
        self.root = self.keyless.root

    def of(self, story_id):
        return self.keyless.with_key(stories.media_key(self.conn, story_id, KEY))

    def exists(self, name):
        return self.keyless.exists(name)


@pytest.fixture
def vault(conn, data_dir):
    return StoryVaults(conn, data_dir)


def plain(vault, story_id, name: str, folder: Path) -> Path:
    """A plain copy of a vault item, to look at it."""
    return vault.of(story_id).decrypt_to(name, folder / name)


def new_story(conn, alias: str = "Sitara", language: str = "en", level: str = "workshop", key: bytes = KEY) -> stories.Story:
    workshop = create_workshop(conn, "Spring circle", language)
    participant = add_participant(conn, workshop, alias, "4821")
    story = stories.story_of(conn, participant, language, key)
    stories.record_consent(conn, story.id, level, "v1", language, workshop_key=key)
    return story


def run(conn, data_dir, kind: str, story_id: int, **params) -> state.Job:
    job_id = state.create_job(conn, kind, params, story_id=story_id)
    run_job(job_id, str(data_dir), HANDLERS, KEY)
    return state.get_job(conn, job_id)


def add_picture(conn, vault, story_id: int, path: Path) -> int:
    with open(path, "rb") as fh:
        pic = receive_picture(vault.of(story_id), fh)
    return stories.add_asset(
        conn, story_id, "photo", pic.vault_name, media_type=pic.media_type, meta={"width": pic.width, "height": pic.height}
    )


def spread(pixels: np.ndarray) -> float:
    """How much a patch varies within each colour: near 0 for a solid fill."""
    return float(pixels.reshape(-1, 3).std(axis=0).max())


def add_take(conn, vault, story_id: int, path: Path, part) -> int:
    name = vault.of(story_id).put_file(path)
    return stories.add_asset(conn, story_id, "narration", name, media_type="audio/wav", meta={"part": part})


# ----------------------------------------------------------------- the plan
def test_plan_round_trip_and_plain_refusals():
    plan = plans.plan_from_dict(
        {
            "pictures": [{"asset_id": 3}, {"asset_id": 5, "motion": "none"}],
            "voice": "disguise",
            "cues": [{"start": 1.0, "end": 2.5, "text": "سلام", "doubtful": ["سلام"]}],
            "hidden_words": [" Lahore ", "Lahore", ""],
            "music": "dawn",
            "aspect": "9:16",
        }
    )
    assert plans.plan_from_dict(json.loads(plan.to_json())) == plan
    assert plan.hidden_words == ("Lahore",)
    for bad, says in [
        ({"voice": "whisper"}, "voice"),
        ({"aspect": "4:3"}, "shapes"),
        ({"cues": [{"start": 2, "end": 1, "text": "x"}]}, "ends before"),
        ({"pictures": [{"asset_id": 1}, {"asset_id": 1}]}, "twice"),
        ({"music": "../../etc/passwd"}, "music"),
        ({"music_volume": 7}, "volume"),
    ]:
        with pytest.raises(plans.PlanError, match=says):
            plans.plan_from_dict(bad)
    assert plans.plan_or_new({"voice": 12}) == plans.Plan()


def test_storyboard_moves_and_reorders():
    plan = plans.Plan()
    for i in (1, 2, 3):
        plan = plans.with_picture(plan, i)
    assert plans.moved(plan, 3, -1).picture_ids() == (1, 3, 2)
    assert plans.moved(plan, 1, -1).picture_ids() == (1, 2, 3)  # the first stays first
    assert plans.reordered(plan, [3, 1, 2]).picture_ids() == (3, 1, 2)
    with pytest.raises(plans.PlanError):
        plans.reordered(plan, [3, 1, 9])
    assert plans.with_motion(plan, 2, "none").pictures[1].motion == "none"
    assert plans.without_picture(plan, 2).picture_ids() == (1, 3)


def test_voice_follows_consent():
    assert [plans.default_voice(a) for a in plans.AUDIENCES] == ["disguise", "disguise", "synthetic"]
    assert not plans.weaker_than_audience("own", "workshop")
    assert plans.weaker_than_audience("pitch", "organisation") and plans.weaker_than_audience("disguise", "public")
    weak = plans.Plan(voice="pitch")
    # a weaker choice than her audience needs is not used until a facilitator confirms it
    assert plans.voice_for_render(weak, "public") == "synthetic"
    assert plans.voice_for_render(plans.Plan(voice="pitch", voice_confirmed=True, voice_confirmed_for="public"), "public") == "pitch"
    # a yes given for the organisation does not carry over when she widens her consent
    assert (
        plans.voice_for_render(plans.Plan(voice="pitch", voice_confirmed=True, voice_confirmed_for="organisation"), "public") == "synthetic"
    )
    assert plans.voice_for_render(plans.Plan(voice="synthetic"), "workshop") == "synthetic"


# ----------------------------------------------------------------- pictures on arrival
def test_exif_and_gps_are_gone_on_arrival(vault, tmp_path):
    img = Image.new("RGB", (400, 300), (120, 80, 40))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # camera make
    exif[0x8825] = {1: "N", 2: (31.0, 33.0, 0.0)}  # GPS: Lahore
    exif[0x0112] = 6  # stored sideways
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    assert b"PhoneMaker" in buf.getvalue()
    pic = receive_picture(vault.of(None), io.BytesIO(buf.getvalue()))
    assert b"PhoneMaker" not in (vault.root / pic.vault_name).read_bytes()
    stored = plain(vault, None, pic.vault_name, tmp_path)
    assert b"PhoneMaker" not in stored.read_bytes()
    with Image.open(stored) as out:
        assert not out.getexif() and (out.width, out.height) == (300, 400)  # turned upright, then forgotten


def test_bad_pictures_are_refused_plainly(vault, tmp_path):
    with pytest.raises(PictureRefused, match="not a picture"):
        receive_picture(vault.of(None), io.BytesIO(b"RIFF....WAVEfmt this is a sound"))
    huge = io.BytesIO()
    Image.new("1", (20000, 20000)).save(huge, format="PNG")  # tiny file, 400 megapixels
    with pytest.raises(PictureRefused, match="too large"):
        receive_picture(vault.of(None), io.BytesIO(huge.getvalue()))
    assert not [p for p in vault.root.iterdir()]  # nothing of either was kept


# ----------------------------------------------------------------- faces on her picture
@pytest.mark.slow
def test_faces_found_removed_by_her_and_added(conn, data_dir, vault, tmp_path):
    story = new_story(conn)
    asset = add_picture(conn, vault, story.id, shared_data("faces", "two_people.jpg"))
    job = run(conn, data_dir, "photo_faces", story.id, asset=asset)
    assert job.state == "done", job.error
    meta = stories.story_asset(conn, story.id, asset).meta
    boxes = meta["boxes"]
    assert len(boxes) == 2 and all(b[4] == "detected" for b in boxes)
    first_masked = meta["masked"]
    original = np.asarray(Image.open(plain(vault, story.id, stories.story_asset(conn, story.id, asset).vault_name, tmp_path)))
    masked = np.asarray(Image.open(plain(vault, story.id, first_masked, tmp_path)))
    for x1, y1, x2, y2, _ in boxes:  # each face is covered by a solid fill
        inner = masked[y1 + (y2 - y1) // 3 : y2 - (y2 - y1) // 3, x1 + (x2 - x1) // 3 : x2 - (x2 - x1) // 3]
        before = original[y1 + (y2 - y1) // 3 : y2 - (y2 - y1) // 3, x1 + (x2 - x1) // 3 : x2 - (x2 - x1) // 3]
        assert spread(inner) < 8 < spread(before)

    # She shows the first face (her decision) and masks a patch of wall by hand.
    keep, x1, y1 = boxes[0], 10, 10
    meta = dict(meta, remove=[keep[:4]], add=[[x1, y1, x1 + 60, y1 + 60]])
    stories.set_asset_meta(conn, asset, meta)
    job = run(conn, data_dir, "photo_faces", story.id, asset=asset)
    assert job.state == "done", job.error
    meta = stories.story_asset(conn, story.id, asset).meta
    assert sorted(b[4] for b in meta["boxes"]) == ["detected", "manual"]
    assert not vault.exists(first_masked)  # the older masked copy is destroyed
    again = np.asarray(Image.open(plain(vault, story.id, meta["masked"], tmp_path)))
    kx1, ky1, kx2, ky2 = keep[:4]
    assert np.abs(again[ky1:ky2, kx1:kx2].astype(int) - original[ky1:ky2, kx1:kx2]).mean() < 6  # her face, as she chose
    assert spread(again[y1 + 10 : y1 + 50, x1 + 10 : x1 + 50]) < 8
    masks = [a for a in stories.story_assets(conn, story.id, "other") if a.meta.get("role") == "masked"]
    assert len(masks) == 1


def test_another_storys_picture_is_refused(conn, data_dir, vault, tmp_path):
    hers = new_story(conn)
    other = new_story(conn, alias="Noor")
    asset = add_picture(conn, vault, hers.id, picture(tmp_path / "p.png"))
    job = run(conn, data_dir, "photo_faces", other.id, asset=asset)
    assert job.state == "failed" and "no longer part of the story" in job.error


# ----------------------------------------------------------------- narration and voice
def test_narration_joins_the_latest_take_of_each_paragraph(conn, data_dir, vault, tmp_path):
    story = new_story(conn)
    add_take(conn, vault, story.id, tone(tmp_path / "a.wav", 1.0, 300.0), 0)
    add_take(conn, vault, story.id, tone(tmp_path / "b.wav", 0.5, 500.0), 1)
    retake = add_take(conn, vault, story.id, tone(tmp_path / "c.wav", 2.0, 700.0), 0)
    parts = story_build.narration_parts(conn, story.id)
    assert [p.meta["part"] for p in parts] == [0, 1] and parts[0].id == retake
    out = story_build.join_narration(vault.of(story.id), parts, tmp_path / "joined.wav")
    assert probe(out).duration == pytest.approx(2.0 + story_build.PARAGRAPH_GAP + 0.5, abs=0.02)


@pytest.mark.slow
def test_voice_preview_before_and_after(conn, data_dir, vault, tmp_path):
    story = new_story(conn)
    add_take(conn, vault, story.id, shared_data(*CLIP), "whole")
    job = run(conn, data_dir, "voice_preview", story.id, method="disguise")
    assert job.state == "done", job.error
    before = stories.story_asset(conn, story.id, job.result["before"])
    after = stories.story_asset(conn, story.id, job.result["after"])
    before_path, after_path = plain(vault, story.id, before.vault_name, tmp_path), plain(vault, story.id, after.vault_name, tmp_path)
    a, b = probe(before_path), probe(after_path)
    assert 5.0 < a.duration <= 10.01 and b.duration == pytest.approx(a.duration, abs=0.05)
    assert before_path.read_bytes() != after_path.read_bytes()
    again = run(conn, data_dir, "voice_preview", story.id, method="pitch")
    assert again.state == "done"
    previews = [x for x in stories.story_assets(conn, story.id, "other") if x.meta.get("role", "").startswith("voice-")]
    assert len(previews) == 2  # the older pair is gone


def test_preview_without_a_recording_says_so(conn, data_dir):
    story = new_story(conn)
    job = run(conn, data_dir, "voice_preview", story.id, method="disguise")
    assert job.state == "failed" and job.error == "There is no recording yet. Record your story first."


# ----------------------------------------------------------------- subtitles, then the video
@pytest.mark.slow
def test_subtitles_then_render_with_hidden_word_music_and_cards(conn, data_dir, vault, tmp_path):
    whisper_model_or_skip("whisper-tiny.en")
    story = new_story(conn, level="workshop")
    add_take(conn, vault, story.id, shared_data(*CLIP), "whole")
    pics = [add_picture(conn, vault, story.id, picture(tmp_path / f"p{i}.png", size=(800, 600), seed=i)) for i in range(2)]
    for asset in pics:
        assert run(conn, data_dir, "photo_faces", story.id, asset=asset).state == "done"
    plan = plans.Plan(
        pictures=tuple(plans.Picture(a) for a in pics),
        hidden_words=("harshly",),
        voice="own",
        music="dawn",
        music_volume=0.4,
        title="My story",
        end_card="Made in a workshop",
    )
    stories.save_plan(conn, story.id, plan.to_dict(), KEY)

    job = run(conn, data_dir, "subtitles", story.id, model="whisper-tiny.en")
    assert job.state == "done", job.error
    plan = plans.plan_or_new(stories.get_story(conn, story.id, KEY).plan)
    text = " ".join(c.text for c in plan.cues).lower()
    assert plan.cues and "harshly" not in text and "▇▇▇" in text
    assert len(plan.hidden_spans) == 1 and plan.cues_for
    assert not any("▇▇▇" in word for cue in plan.cues for word in cue.doubtful)  # a hidden word is not "to check"
    assert plan.music == "dawn" and plan.title == "My story"  # her other choices survive the job

    job = run(conn, data_dir, "render_story", story.id, quality="preview", aspect="9:16")
    assert job.state == "done", job.error
    video = stories.story_asset(conn, story.id, job.result["asset"])
    assert video.kind == "export" and video.meta["aspect"] == "9:16"
    info = probe(plain(vault, story.id, video.vault_name, tmp_path))
    assert info.has_audio and info.video.height > info.video.width
    # title card + her narration (+ end card): the voice starts after the title
    clip_seconds = probe(shared_data(*CLIP)).duration
    assert info.duration == pytest.approx(3.0 + clip_seconds + 4.0, abs=1.5)
    assert not list(plaintext_folders(data_dir))  # no plain copy of her media stays behind

    # She records again: the next video finds the hidden word in the new take before it is made.
    retake = add_take(conn, vault, story.id, shared_data(*CLIP), "whole")
    job = run(conn, data_dir, "render_story", story.id, quality="preview")
    assert job.state == "done", job.error
    plan = plans.plan_or_new(stories.get_story(conn, story.id, KEY).plan)
    assert plan.cues_for == str(retake) and len(plan.hidden_spans) == 1


@pytest.mark.slow
def test_her_script_is_kept_when_whisper_cannot_follow(conn, data_dir, vault):
    """Whisper is weak on Urdu; her own words must still be the subtitles, spread over her speech."""
    whisper_model_or_skip("whisper-tiny.en")
    story = new_story(conn)
    script = "Our garden by the river was full of mint. Lahore was far away. Grandmother sang every evening."
    stories.save_script(conn, story.id, script, story.revision, workshop_key=KEY)
    add_take(conn, vault, story.id, shared_data(*CLIP), "whole")  # says something else entirely
    stories.save_plan(conn, story.id, plans.Plan(hidden_words=("Lahore",)).to_dict(), KEY)
    job = run(conn, data_dir, "subtitles", story.id, model="whisper-tiny.en")
    assert job.state == "done", job.error
    plan = plans.plan_or_new(stories.get_story(conn, story.id, KEY).plan)
    words = " ".join(c.text for c in plan.cues).split()
    assert words == script.replace("Lahore", "▇▇▇").split()
    assert len(plan.hidden_spans) >= 1  # where the script puts the name, its sound is covered too
    assert any("spread over your speech" in w for w in job.result["warnings"])
    assert not any("what Whisper heard instead" in w for w in job.result["warnings"])


@pytest.mark.slow
def test_a_hidden_name_is_not_heard_in_the_synthetic_voice(conn, data_dir, vault, tmp_path):
    from storyteller.pipeline.speech.transcribe import transcribe
    from tests.journey_helpers import write_fake_mic_wav

    whisper_model_or_skip("whisper-tiny.en")
    story = new_story(conn, level="public")  # public: the synthetic voice reads her script
    script = "My sister lives in Lahore. She helped me when the messages started."
    stories.save_script(conn, story.id, script, story.revision, workshop_key=KEY)
    add_take(conn, vault, story.id, write_fake_mic_wav(script, "en", tmp_path / "take.wav"), "whole")
    asset = add_picture(conn, vault, story.id, picture(tmp_path / "p.png"))
    assert run(conn, data_dir, "photo_faces", story.id, asset=asset).state == "done"
    stories.save_plan(conn, story.id, plans.Plan(pictures=(plans.Picture(asset),), hidden_words=("Lahore",)).to_dict(), KEY)
    assert run(conn, data_dir, "subtitles", story.id, model="whisper-tiny.en").state == "done"
    built = story_build.build_story_folder(conn, vault.of(story.id), story.id, tmp_path / "folder", workshop_key=KEY)
    heard = transcribe(built.path("narration.wav"), "en", model="whisper-tiny.en").text.lower()
    assert "lahore" not in heard and "sister" in heard
    burned = " ".join(c.text for c in built.subtitles)
    assert "Lahore" not in burned and story_build.DRAWN_MARK in burned


def test_stop_while_rendering_keeps_nothing_half_made(conn, data_dir, vault, tmp_path):
    """Stop pressed once the video is being drawn: the render stops, no video is stored, her choices stay."""
    from storyteller.errors import Cancelled
    from storyteller.jobs.runner import JobCancelled, JobContext

    class StopWhenRendering(JobContext):
        def cancelled(self) -> bool:
            return self.stage_seen == "rendering"

        def progress(self, fraction, stage=None):
            if stage is not None:
                self.stage_seen = stage

    story = new_story(conn)
    add_take(conn, vault, story.id, tone(tmp_path / "v.wav", 20.0, 220.0), "whole")
    asset = add_picture(conn, vault, story.id, picture(tmp_path / "p.png"))
    assert run(conn, data_dir, "photo_faces", story.id, asset=asset).state == "done"
    stories.save_plan(
        conn,
        story.id,
        plans.Plan(
            pictures=(plans.Picture(asset),), voice="own", cues_for=story_build.narration_key(story_build.narration_parts(conn, story.id))
        ).to_dict(),
        KEY,
    )
    work = tmp_path / "work"
    work.mkdir()
    ctx = StopWhenRendering(0, data_dir, conn, vault.of(story.id), work, story.id, KEY)
    ctx.stage_seen = ""
    with pytest.raises((Cancelled, JobCancelled)):
        HANDLERS["render_story"](ctx, quality="final")
    assert not stories.story_assets(conn, story.id, "export")
    assert not list(work.glob("*.mp4"))
    assert plans.plan_or_new(stories.get_story(conn, story.id, KEY).plan).picture_ids() == (asset,)


def test_story_folder_refuses_until_pictures_are_masked(conn, vault, tmp_path):
    story = new_story(conn)
    asset = add_picture(conn, vault, story.id, picture(tmp_path / "p.png"))
    stories.save_plan(conn, story.id, plans.Plan(pictures=(plans.Picture(asset),)).to_dict(), KEY)
    with pytest.raises(story_build.BuildError, match="still being checked for faces"):
        story_build.build_story_folder(conn, vault.of(story.id), story.id, tmp_path / "folder", workshop_key=KEY)
    stories.save_plan(conn, story.id, plans.Plan().to_dict(), KEY)
    with pytest.raises(story_build.BuildError, match="no pictures yet"):
        story_build.build_story_folder(conn, vault.of(story.id), story.id, tmp_path / "folder", workshop_key=KEY)


def test_bundled_music_is_small_and_listed():
    names = story_build.music_tracks()
    assert len(names) >= 3
    readme = (story_build.MUSIC_DIR / "README.md").read_text(encoding="utf-8")
    for name in names:
        path = story_build.MUSIC_DIR / f"{name}.ogg"
        assert path.stat().st_size < 300_000 and f"`{name}.ogg`" in readme
        assert probe(path).duration > 20
    assert readme.count("generated, CC0") >= len(names)
