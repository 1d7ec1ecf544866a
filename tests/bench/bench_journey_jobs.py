"""The journey's waits, measured on the jobs themselves (issue 11, "Speed"):

    .venv/bin/python tests/bench/bench_journey_jobs.py

(a) faces shown masked on a 12-megapixel photo: the upload's intake (EXIF gone, made
    smaller) plus the photo_faces job. Target < 3 s.
(b) the voice preview job (10 s before and after, disguise) on a 3-minute take. Target < 2 s.
(c) a quick preview render of a 3-minute story (8 pictures, narration, music, cues),
    built from her rows like the web's render job. Target < 20 s.

Each is timed three times and the median printed; the time a worker takes to pick a
job from the queue and the page's polling come on top (about 0.5 s each at most).
Needs ../shared/data (a photo with faces, LibriSpeech speech); writes only to a temp folder.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from storyteller.jobs import state
from storyteller.jobs.intake import receive_picture
from storyteller.jobs.runner import run_job
from storyteller.jobs.tasks import HANDLERS
from storyteller.pipeline.media.audio import decode_audio, write_wav
from storyteller.store import plans, stories
from storyteller.store.db import db_path, open_database
from storyteller.store.participants import add_participant
from storyteller.store.vault import vault_for
from storyteller.store.workshops import create_workshop

SHARED = ROOT.parent / "shared" / "data"
KEY = bytes(range(32))  # the workshop key the jobs run with, as a worker holds it once the desk is unlocked


def timed(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        conn = open_database(db_path(data))
        story = stories.story_of(conn, add_participant(conn, create_workshop(conn, "Bench", "en"), "Bench", "4821"), "en", KEY)
        stories.record_consent(conn, story.id, "organisation", "bench", "en", workshop_key=KEY)
        vault = vault_for(data).with_key(stories.media_key(conn, story.id, KEY))

        def job(kind: str, **params) -> state.Job:
            job_id = state.create_job(conn, kind, params, story_id=story.id)
            run_job(job_id, str(data), HANDLERS, KEY)
            done = state.get_job(conn, job_id)
            assert done.state == "done", done.error
            return done

        # (a) a 12-megapixel photo: the two faces of the shared photo on a 4000 x 3000 canvas
        faces = Image.open(SHARED / "faces" / "two_people.jpg").convert("RGB")
        big = Image.new("RGB", (4000, 3000), (90, 110, 130))
        big.paste(faces.resize((faces.width * 3, faces.height * 3)), (200, 400))
        photo = Path(tmp) / "big.jpg"
        big.save(photo, quality=92)

        def masked_photo() -> None:
            with open(photo, "rb") as fh:
                pic = receive_picture(vault, fh)
            asset = stories.add_asset(
                conn, story.id, "photo", pic.vault_name, media_type=pic.media_type, meta={"width": pic.width, "height": pic.height}
            )
            assert job("photo_faces", asset=asset).result["faces"] >= 2

        print(f"(a) 12 MP photo, intake + faces masked: {timed(masked_photo):.2f} s (target < 3 s)")

        # (b) a 3-minute take: LibriSpeech utterances one after another
        clips = sorted((SHARED / "speech" / "librispeech-test-other").glob("*/*.flac"))
        speech = np.concatenate([decode_audio(c, 16000) for c in clips])
        take = write_wav(Path(tmp) / "take.wav", np.tile(speech, 2)[: 180 * 16000], 16000)
        stories.add_asset(conn, story.id, "narration", vault.put_file(take), media_type="audio/wav", meta={"part": "whole"})
        print(f"(b) voice preview (disguise, 3-minute take): {timed(lambda: job('voice_preview', method='disguise')):.2f} s (target < 2 s)")
        # the computer voice reads her script (as long as the take, spread over it): its first sentence is
        # published while the job runs, and the page plays it then
        sentence = "I walked to the river in the morning and waited there for my brother until the evening came. "
        stories.save_script(conn, story.id, sentence * 30, stories.get_story(conn, story.id, KEY).revision, workshop_key=KEY)
        firsts, wholes = [], []
        publish = state.publish

        def synthetic_preview() -> None:
            t = time.perf_counter()
            state.publish = lambda *a: (firsts.append(time.perf_counter() - t), publish(*a))
            try:
                job("voice_preview", method="synthetic")
            finally:
                state.publish = publish
            wholes.append(time.perf_counter() - t)

        timed(synthetic_preview)
        print(
            f"(b) voice preview (synthetic with her script, 3-minute take): first sentence {statistics.median(firsts):.2f} s "
            f"(target < 2 s), whole {statistics.median(wholes):.2f} s"
        )

        # (c) a 3-minute preview render from her rows
        pictures = []
        for i in range(8):
            rng = np.random.default_rng(i)
            img = Image.fromarray((rng.random((1500, 2000, 3)) * 60 + 100 + 30 * i % 90).astype(np.uint8))
            path = Path(tmp) / f"p{i}.jpg"
            img.save(path, quality=90)
            with open(path, "rb") as fh:
                pic = receive_picture(vault, fh)
            asset = stories.add_asset(
                conn, story.id, "photo", pic.vault_name, media_type=pic.media_type, meta={"width": pic.width, "height": pic.height}
            )
            job("photo_faces", asset=asset)
            pictures.append(plans.Picture(asset))
        cues = [{"start": float(t), "end": float(t) + 2.5, "text": f"Line {t // 3}"} for t in range(0, 177, 3)]
        parts = stories.narration_takes(conn, story.id)
        plan = plans.Plan(
            pictures=tuple(pictures),
            voice="own",
            music="river",
            title="Bench",
            cues=tuple(plans.PlanCue(c["start"], c["end"], c["text"]) for c in cues),
            cues_for=",".join(str(a.id) for a in parts.values()),
        )
        stories.save_plan(conn, story.id, plan.to_dict(), KEY)
        print(
            f"(c) 3-minute story, quick preview render: {timed(lambda: job('render_story', quality='preview'), runs=1):.2f} s (target < 20 s)"
        )


if __name__ == "__main__":
    main()
