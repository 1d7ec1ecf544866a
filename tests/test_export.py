"""The export package: only what her consent allows, every file clean of metadata and randomly named.

One test renders for real (the journey's render path, for shapes she never rendered);
the others start from a finished video made with ffmpeg that carries every tag a phone
or an editor might leave (title, creation time, a GPS location, a handler named after
her), so the stripping is tested against something to strip.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from storyteller.cli import main as cli
from storyteller.jobs import story_build
from storyteller.jobs.export import ExportRefused, export_story
from storyteller.jobs.intake import receive_picture
from storyteller.pipeline.media.ffmpeg import run_ffmpeg
from storyteller.pipeline.render.encode import render_story
from storyteller.store import passphrase, plans, stories
from storyteller.store.db import db_path, open_database
from storyteller.store.participants import add_participant
from storyteller.store.vault import plaintext_folders, vault_for
from storyteller.store.workshops import create_workshop
from tests.render_helpers import picture, tone

ALIAS, WORKSHOP = "Sitara", "Swat spring circle"
# Keys a muxer writes about the format itself; anything else is a tag that could say something.
TECHNICAL_CONTAINER_KEYS = {"major_brand", "minor_version", "compatible_brands"}
TECHNICAL_STREAM_KEYS = {"language", "handler_name", "vendor_id"}
GENERIC_HANDLERS = {"VideoHandler", "SoundHandler", "SubtitleHandler"}


@pytest.fixture
def conn(data_dir):
    conn = open_database(db_path(data_dir))
    yield conn
    conn.close()


PASSPHRASE = "a river in spring"


@pytest.fixture
def vault(data_dir, conn):
    """``vault(story_id)``: the vault with that story's key, under a facilitator passphrase set here."""
    workshop_key = passphrase.set_first(conn, PASSPHRASE)

    def of(story_id):
        return vault_for(data_dir).with_key(stories.media_key(conn, story_id, workshop_key))

    of.key = workshop_key  # her words in the database need it too
    return of


def new_story(conn, key: bytes, level: str | None = "organisation") -> int:
    workshop = create_workshop(conn, WORKSHOP, "en")
    story = stories.story_of(conn, add_participant(conn, workshop, ALIAS, "4821"), "en", key)
    if level:
        stories.record_consent(conn, story.id, level, "2026-11-30", "en", text="Inside the organisation", workshop_key=key)
    return story.id


def tagged_video(tmp_path: Path, seconds: float = 2.0) -> Path:
    """A finished video carrying identifying tags on the container and every stream, and subtitles."""
    srt = tmp_path / "cues.srt"
    srt.write_text("1\n00:00:00,200 --> 00:00:01,500\nمیری کہانی\n", encoding="utf-8")
    out = tmp_path / "tagged.mp4"
    run_ffmpeg(
        [
            *("-f", "lavfi", "-i", f"testsrc2=duration={seconds}:size=320x240:rate=10"),
            *("-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}"),
            *("-i", str(srt)),
            *("-map", "0:v", "-map", "1:a", "-map", "2:s", "-c:v", "libx264", "-c:a", "aac", "-c:s", "mov_text"),
            *("-metadata", f"title={ALIAS}", "-metadata", "creation_time=2026-11-29T10:00:00Z"),
            *("-metadata", "location=+34.7717+072.3600/", "-metadata", f"comment={WORKSHOP}"),
            *("-metadata:s:v:0", f"handler_name={ALIAS}'s phone", "-metadata:s:a:0", "title=her voice"),
            *("-y", str(out)),
        ]
    )
    return out


def add_finished(conn, vault, story_id: int, video: Path, aspect: str) -> int:
    """Her final video in ``aspect``, kept the way the journey's render job keeps it."""
    return stories.add_asset(
        conn, story_id, "export", vault.put_file(video, ".mp4"), media_type="video/mp4", meta={"quality": "final", "aspect": aspect}
    )


def assert_clean_video(path: Path) -> None:
    with av.open(str(path)) as container:
        assert set(container.metadata) <= TECHNICAL_CONTAINER_KEYS, container.metadata
        for stream in container.streams:
            assert set(stream.metadata) <= TECHNICAL_STREAM_KEYS, (stream.type, stream.metadata)
            assert stream.metadata.get("handler_name", "VideoHandler") in GENERIC_HANDLERS, stream.metadata
    data = path.read_bytes()
    for telltale in (ALIAS.encode(), WORKSHOP.encode(), b"x264 - core", b"Lavf", b"Lavc", b"+34.77"):
        assert telltale not in data, telltale


def assert_clean_png(path: Path) -> None:
    with Image.open(path, formats=["PNG"]) as im:
        assert not im.getexif() and not im.info, im.info
        im.load()
    assert not {b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"tIME"} & set(re.findall(rb"tEXt|iTXt|zTXt|eXIf|tIME", path.read_bytes()))


def read_package(result) -> tuple[dict, dict[str, Path]]:
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    by_role: dict[str, list[Path]] = {}
    for entry in manifest["files"]:
        path = result.folder / entry["name"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert re.fullmatch(r"[0-9a-f]{16}\.(mp4|srt|vtt|png|json)", entry["name"]), entry["name"]
        by_role.setdefault(entry["role"], []).append(path)
    assert sorted(p.name for p in result.folder.iterdir()) == sorted([e["name"] for e in manifest["files"]] + ["manifest.json"])
    return manifest, by_role


def test_package_from_finished_video_is_clean_and_randomly_named(tmp_path, conn, vault):
    story_id = new_story(conn, vault.key)
    add_finished(conn, vault(story_id), story_id, tagged_video(tmp_path), "16:9")
    raw = stories.add_asset(
        conn, story_id, "narration", vault(story_id).put_file(tone(tmp_path / "raw.wav", 2.0, 220)), meta={"part": "whole"}
    )
    raw_sha = hashlib.sha256(vault(story_id).open(stories.story_asset(conn, story_id, raw).vault_name).read()).hexdigest()

    result = export_story(conn, vault(story_id), story_id, tmp_path / "out", shapes=("16:9",), workshop_key=vault.key)
    manifest, files = read_package(result)

    assert result.rendered == ()
    assert sorted(files) == ["consent", "poster", "subtitles", "video"]
    assert raw_sha not in {e["sha256"] for e in manifest["files"]}  # her raw recording never leaves
    (video,) = files["video"]
    assert_clean_video(video)
    with av.open(str(video)) as container:  # the content itself is all there
        assert {s.type for s in container.streams} == {"video", "audio", "subtitle"}
        assert sum(1 for _ in container.decode(video=0)) == 20
    srt, vtt = sorted(files["subtitles"], key=lambda p: p.suffix)
    assert "میری کہانی" in srt.read_text(encoding="utf-8") and "-->" in srt.read_text(encoding="utf-8")
    assert vtt.read_text(encoding="utf-8").startswith("WEBVTT")
    (poster,) = files["poster"]
    assert_clean_png(poster)
    with Image.open(poster) as im:
        assert im.size == (320, 240) and np.asarray(im).std() > 10  # a real frame, not a blank
    (receipt_path,) = files["consent"]
    receipt = json.loads(receipt_path.read_text(encoding="utf-8"))
    assert receipt["level"] == "organisation" and receipt["recorded_by"] == "participant" and len(receipt["text_sha256"]) == 64
    everything = b"".join(p.read_bytes() for p in result.folder.iterdir())
    assert ALIAS.encode() not in everything and WORKSHOP.encode() not in everything


@pytest.mark.parametrize("level", [None, "workshop"])
def test_refused_without_consent_that_allows_it(tmp_path, conn, vault, level):
    story_id = new_story(conn, vault.key, level)
    add_finished(conn, vault(story_id), story_id, tagged_video(tmp_path), "16:9")
    with pytest.raises(ExportRefused):
        export_story(conn, vault(story_id), story_id, tmp_path / "out", workshop_key=vault.key)
    assert not (tmp_path / "out").exists()


def test_withdrawal_is_read_when_the_export_runs(tmp_path, conn, vault):
    story_id = new_story(conn, vault.key, "public")
    add_finished(conn, vault(story_id), story_id, tagged_video(tmp_path), "16:9")
    stories.withdraw_consent(conn, story_id, vault.key)
    with pytest.raises(ExportRefused):
        export_story(conn, vault(story_id), story_id, tmp_path / "out", shapes=("16:9",), workshop_key=vault.key)
    assert not (tmp_path / "out").exists()


def test_a_withdrawal_while_the_package_is_made_leaves_nothing(tmp_path, conn, vault):
    story_id = new_story(conn, vault.key, "public")
    add_finished(conn, vault(story_id), story_id, tagged_video(tmp_path), "16:9")

    def withdraw_midway(fraction: float) -> None:
        if 0 < fraction < 1:
            stories.withdraw_consent(conn, story_id, vault.key)

    with pytest.raises(ExportRefused):
        export_story(conn, vault(story_id), story_id, tmp_path / "out", shapes=("16:9",), progress=withdraw_midway, workshop_key=vault.key)
    assert list((tmp_path / "out").iterdir()) == []  # not even the half-made package


@pytest.mark.slow
def test_missing_shapes_are_rendered_from_her_plan(tmp_path, conn, vault):
    """A 16:9 final exists; the 9:16 the campaign asks for is rendered through the journey's render path."""
    story_id = new_story(conn, vault.key, "public")
    with open(picture(tmp_path / "p.png", size=(640, 480)), "rb") as fh:
        pic = receive_picture(vault(story_id), fh)
    photo = stories.add_asset(conn, story_id, "photo", pic.vault_name, meta={"masked": pic.vault_name, "width": 640, "height": 480})
    take = stories.add_asset(
        conn, story_id, "narration", vault(story_id).put_file(tone(tmp_path / "n.wav", 3.0, 220, on=(0.2, 2.8))), meta={"part": "whole"}
    )
    parts = story_build.narration_parts(conn, story_id)
    plan = plans.plan_from_dict(
        {
            "pictures": [{"asset_id": photo}],
            "voice": "pitch",
            "voice_confirmed": True,
            "voice_confirmed_for": "public",
            "cues": [{"start": 0.3, "end": 2.0, "text": "Hello from the tone"}],
            "cues_for": story_build.narration_key(parts),
        }
    )
    stories.save_plan(conn, story_id, plan.to_dict(), vault.key)
    wide = render_story(
        story_build.build_story_folder(conn, vault(story_id), story_id, tmp_path / "wide", workshop_key=vault.key),
        tmp_path / "wide.mp4",
        aspect="16:9",
    )
    add_finished(conn, vault(story_id), story_id, wide.path, "16:9")

    result = export_story(conn, vault(story_id), story_id, tmp_path / "out", shapes=("16:9", "9:16"), workshop_key=vault.key)
    manifest, files = read_package(result)

    assert result.rendered == ("9:16",)
    sizes = {}
    for entry in manifest["files"]:
        if entry["role"] == "video":
            path = result.folder / entry["name"]
            assert_clean_video(path)
            with av.open(str(path)) as container:
                sizes[entry["shape"]] = (container.streams.video[0].width, container.streams.video[0].height)
    assert sizes["16:9"][0] > sizes["16:9"][1] and sizes["9:16"][0] < sizes["9:16"][1]
    assert "Hello from the tone" in next(p for p in files["subtitles"] if p.suffix == ".srt").read_text(encoding="utf-8")
    assert_clean_png(files["poster"][0])
    assert stories.story_asset(conn, story_id, take) is not None  # the export changes nothing in her story


def test_cli_export_writes_the_package_and_refuses_plainly(tmp_path, data_dir, runner, conn, vault):
    story_id = new_story(conn, vault.key, "public")
    add_finished(conn, vault(story_id), story_id, tagged_video(tmp_path), "1:1")
    out = tmp_path / "usb"
    r = runner.invoke(cli, ["export", str(story_id), "-o", str(out), "--shape", "1:1", "--data", str(data_dir)], input=PASSPHRASE + "\n")
    assert r.exit_code == 0, r.output
    (package,) = out.iterdir()
    assert str(package) in r.output and (package / "manifest.json").is_file()

    stories.withdraw_consent(conn, story_id, vault.key)
    r = runner.invoke(cli, ["export", str(story_id), "-o", str(out), "--shape", "1:1", "--data", str(data_dir)], input=PASSPHRASE + "\n")
    assert r.exit_code == 1 and "may not leave the laptop" in r.output and "Traceback" not in r.output
    assert len(list(out.iterdir())) == 1


def test_cli_export_keeps_her_plain_video_out_of_the_system_temp_folder(tmp_path, data_dir, runner, conn, vault, monkeypatch):
    """Decrypted, her video is in plain form: the CLI keeps it where a job would (a 0700 plaintext folder), never in /tmp."""
    from storyteller.jobs import export

    story_id = new_story(conn, vault.key, "public")
    add_finished(conn, vault(story_id), story_id, tagged_video(tmp_path), "1:1")
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    written_to_system_temp, plain_inputs = [], []
    run_ffmpeg_for_real = export.run_ffmpeg

    def watching(args, **kwargs):
        written_to_system_temp.extend(system_temp.rglob("*"))
        source = Path(args[args.index("-i") + 1])
        plain_inputs.append((source.name, any(source.is_relative_to(f) for f in plaintext_folders(data_dir))))
        return run_ffmpeg_for_real(args, **kwargs)

    monkeypatch.setattr(export, "run_ffmpeg", watching)
    r = runner.invoke(
        cli, ["export", str(story_id), "-o", str(tmp_path / "usb"), "--shape", "1:1", "--data", str(data_dir)], input=PASSPHRASE + "\n"
    )
    assert r.exit_code == 0, r.output
    assert written_to_system_temp == [] and list(system_temp.iterdir()) == []
    name, in_a_plaintext_folder = plain_inputs[0]  # the finished video, decrypted for its clean copy
    assert name.startswith("finished-") and in_a_plaintext_folder
    assert not list(plaintext_folders(data_dir))  # wiped when the export ended
