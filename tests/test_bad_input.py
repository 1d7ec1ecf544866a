"""Every file of the bad-input corpus (tests/data/bad) through every entry point that takes files.

The only acceptable results are a clean error (a plain sentence: no traceback, errno, library
text or hidden direction marks; a 4xx or a plain message for the web) or a correct output,
checked for what it is. The manifest (CASES in tests/data/bad/make_bad.py) says what each file
must come to: a "refused" file is accepted nowhere, an "audio" file gives a disguised voice, an
"image" file a picture, a "video" file a masked video. The entry points that decode a
whole recording or run Whisper are marked slow.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from storyteller.errors import SOMETHING_WENT_WRONG

BAD = Path(__file__).resolve().parent / "data" / "bad"
_spec = importlib.util.spec_from_file_location("make_bad", BAD / "make_bad.py")
make_bad = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_bad)
CASES, UPLOAD_NAMES = make_bad.CASES, make_bad.UPLOAD_NAMES
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}
FETCH = {"X-Requested-With": "fetch"}
TINY = "whisper-tiny.en"

# Words that belong to a library or the system, never to a sentence for a participant.
LIBRARY_TEXT = re.compile(
    r"Traceback|Errno|errno|Error:|Exception|exit code|ffmpeg|libav|PIL|Pillow|cannot identify|"
    r"NoneType|object has no|codec|demux|Invalid data|/etc/|\\x[0-9a-f]{2}|\bNaN\b|\bnan\b|\binf\b",
)
DIRECTION_MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def assert_plain(message: str, where: str, name: str = "") -> None:
    """``message`` is a sentence a participant may read (the file's own name, which may say anything, aside)."""
    assert message and message.strip(), f"{where}: an empty message"
    assert message != SOMETHING_WENT_WRONG, f"{where}: an unexpected error was hidden behind the generic sentence"
    assert not DIRECTION_MARKS.search(message), f"{where}: a hidden direction mark in {message!r}"
    words = message
    for shown in filter(None, (name, UPLOAD_NAMES.get(name), Path(UPLOAD_NAMES.get(name, "")).name)):
        words = words.replace(DIRECTION_MARKS.sub("", shown), "FILE")
    assert not LIBRARY_TEXT.search(words), f"{where}: library or system text in {message!r}"
    assert "\n" not in words.strip(), f"{where}: more than one line: {message!r}"
    # A story.json check names the field first ("scenes[0].image: x.wav is not a picture file ..."), for its author.
    field, words = re.match(r"((?:[a-z_]+(?:\[\d+\])?\.?)+: )?(.*)", words.strip()).groups()
    assert words[0].isupper() or words[0] in "'\"" or field, f"{where}: not a sentence: {message!r}"
    assert words.strip()[-1] in ".!?", f"{where}: not a sentence: {message!r}"


def expect(name: str) -> str:
    return CASES[name][1]


def corpus() -> list:
    """Every corpus file, as pytest params named for the case (the RTL override spelled out in the id)."""
    return [pytest.param(n, id=n.encode("ascii", "backslashreplace").decode()) for n in sorted(CASES)]


def test_bad_input_corpus_is_whole_and_small():
    """The manifest and the folder agree, each file is small, and the count is what the report says."""
    on_disk = {p.name for p in BAD.iterdir() if p.name != "make_bad.py" and not p.name.startswith(("sec-", "_", "."))}
    assert on_disk == set(CASES), on_disk ^ set(CASES)
    assert all((BAD / n).stat().st_size < 100_000 for n in CASES)
    assert len(CASES) >= 40
    assert {c for _, c in CASES.values()} <= {"refused", "audio", "image", "video", "either"}


# ----------------------------------------------------------------- checks of an output
def check_audio_output(path: Path, written: bool = True) -> None:
    """The sound decodes to finite samples, within full scale when Storyteller wrote it (16-bit PCM)."""
    from storyteller.pipeline.media.audio import decode_audio

    samples = decode_audio(path, 16000)
    assert samples.size > 0, "an empty recording was written"
    assert np.isfinite(samples).all(), "NaN or infinity in the decoded sound"
    if written:
        assert float(np.max(np.abs(samples))) <= 1.0


def check_picture(pixels: np.ndarray) -> None:
    assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
    assert pixels.shape[0] >= 1 and pixels.shape[1] >= 1


def check_video_output(path: Path) -> None:
    from storyteller.pipeline.media.probe import probe

    info = probe(path)
    assert info.video is not None and info.video.width > 0 and info.video.height > 0
    assert (info.duration or 0) > 0


def run_cli(args: list[str]):
    from storyteller.cli import main

    return CliRunner().invoke(main, args)


def cli_outcome(result, name: str, where: str) -> bool:
    """True when the command succeeded; else check the failure is one plain line and exit 1."""
    if result.exit_code == 0:
        return True
    assert isinstance(result.exception, SystemExit), f"{where} {name}: crashed with {result.exception!r}"
    assert result.exit_code == 1, f"{where} {name}: exit code {result.exit_code}: {result.output}"
    lines = [ln for ln in result.output.splitlines() if ln.strip() and not ln.lstrip().startswith(("warning:", "\r"))]
    error_lines = [ln for ln in lines if ln.startswith("Error: ")]
    assert error_lines, f"{where} {name}: no error line in {result.output!r}"
    assert_plain(error_lines[-1].removeprefix("Error: "), f"{where} {name}", name)
    return False


def must_match(name: str, accepted: bool, entry: str) -> None:
    if expect(name) == "refused":
        assert not accepted, f"{entry} accepted {name}, which must be refused"


# ----------------------------------------------------------------- the picture loader and upload
@pytest.mark.parametrize("name", corpus())
def test_bad_input_image_loader(name):
    from storyteller.pipeline.media.images import ImageError, load_photo

    try:
        pixels = load_photo(BAD / name, fit_within=(1280, 720))
    except ImageError as exc:
        assert_plain(str(exc), f"load_photo {name}", name)
        assert expect(name) != "image", f"load_photo refused the usable picture {name}: {exc}"
        return
    check_picture(pixels)
    must_match(name, True, "load_photo")


from tests.conftest import story_vault, unlock, workshop_key  # noqa: E402


@pytest.fixture
def journey(data_dir):
    """A participant signed in (consent given) on a test client; the jobs are queued, not run."""
    from storyteller.app import create_app
    from storyteller.store import stories
    from storyteller.store.db import db_path, open_database
    from storyteller.store.participants import add_participant
    from storyteller.store.workshops import create_workshop

    app = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False})
    unlock(app)  # the facilitator has signed in: her media can be stored
    client = app.test_client()
    db = open_database(db_path(data_dir))
    workshop = create_workshop(db, "Circle", "en")
    pid = add_participant(db, workshop, "Sitara", "4821")
    story = stories.story_of(db, pid, "en", workshop_key(app))
    stories.record_consent(db, story.id, "workshop", "test", "en", workshop_key=workshop_key(app))
    assert client.post("/story/signin", data={"workshop": workshop, "participant": pid, "pin": "4821"}).status_code == 302
    yield client, db, story
    db.close()


def upload_name(name: str) -> str:
    return UPLOAD_NAMES.get(name, name)


def flashed(client) -> list[str]:
    with client.session_transaction() as session:
        return [message for _category, message in session.get("_flashes", [])]


@pytest.mark.parametrize("name", corpus())
def test_bad_input_web_picture_upload(journey, name, data_dir):
    from storyteller.pipeline.media.images import load_photo
    from storyteller.store import stories

    client, db, story = journey
    reply = client.post(
        "/story/pictures/add",
        headers=FETCH,
        content_type="multipart/form-data",
        data={"picture": (io.BytesIO((BAD / name).read_bytes()), upload_name(name)), "kind": "photo"},
    )
    assert reply.status_code in (200, 400, 413, 415), f"{name}: {reply.status_code}"
    assert_plain(reply.get_json()["message"], f"picture upload {name}", name)
    pictures = stories.story_assets(db, story.id, "photo")
    if reply.status_code != 200:
        assert not pictures
        assert expect(name) != "image", f"the usable picture {name} was refused: {reply.get_json()['message']}"
        return
    must_match(name, True, "the picture upload")
    (asset,) = pictures
    with story_vault(client.application, story.id).plain(asset.vault_name) as stored:
        pixels = load_photo(stored)
    check_picture(pixels)
    assert pixels.shape[:2] == (asset.meta["height"], asset.meta["width"])


@pytest.mark.slow
@pytest.mark.parametrize("name", corpus())
def test_bad_input_web_narration_upload(journey, name, data_dir):
    from storyteller.store import stories

    client, db, story = journey
    reply = client.post(
        "/story/record/upload",
        content_type="multipart/form-data",
        data={"audio": (io.BytesIO((BAD / name).read_bytes()), upload_name(name))},
    )
    assert reply.status_code in (302, 400, 413, 415), f"{name}: {reply.status_code}"
    messages = flashed(client)
    assert len(messages) == 1, messages
    assert_plain(messages[0], f"narration upload {name}", name)
    takes = stories.story_assets(db, story.id, "narration")
    if not takes:
        return
    must_match(name, True, "the narration upload")
    (take,) = takes
    # The name she uploaded (which may climb folders or turn text around) is neither kept nor used.
    assert take.original_name == "" and re.fullmatch(r"[0-9a-f]+\.[a-z0-9]{1,5}", take.vault_name), take
    assert take.meta["seconds"] >= 1.0
    with story_vault(client.application, story.id).plain(take.vault_name) as stored:
        check_audio_output(stored, written=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", corpus())
def test_bad_input_web_recorded_take(journey, name):
    """The file arriving as a browser take (chunked), the way the record page sends it."""
    from storyteller.store import stories

    client, db, story = journey
    data = (BAD / name).read_bytes()
    take = None
    for offset in range(0, max(1, len(data)), 16384):
        form = {"chunk": (io.BytesIO(data[offset : offset + 16384]), "blob"), "offset": str(offset), "type": "audio/webm"}
        if take is None:
            form["part"] = "whole"
        else:
            form["take"] = str(take)
        reply = client.post("/story/record/chunk", headers=FETCH, content_type="multipart/form-data", data=form)
        if reply.status_code in (413, 415):  # refused by what its first bytes are, before anything is kept
            assert_plain(reply.get_json()["message"], f"recorded take {name}", name)
            assert expect(name) != "audio", f"the usable recording {name} was refused: {reply.get_json()['message']}"
            assert not [a for a in stories.story_assets(db, story.id, "narration") if not a.meta.get("growing")]
            return
        assert reply.status_code == 200, f"{name}: chunk at {offset}: {reply.status_code} {reply.get_data(as_text=True)[:200]}"
        take = reply.get_json()["take"]
    reply = client.post("/story/record/finish", headers=FETCH, data={"take": str(take)})
    assert reply.status_code in (200, 422), f"{name}: {reply.status_code}"
    if reply.status_code == 422:
        assert_plain(reply.get_json()["message"], f"recorded take {name}", name)
        assert not stories.story_assets(db, story.id, "narration")
        return
    must_match(name, True, "the recorded take")
    assert reply.get_json()["seconds"] >= 1.0


# ----------------------------------------------------------------- the command line
@pytest.mark.parametrize("name", corpus())
def test_bad_input_cli_faces(name, tmp_path):
    from storyteller.pipeline.media.images import load_photo

    src = BAD / name
    out = tmp_path / ("masked.png" if src.suffix.lower() in PHOTO_SUFFIXES else "masked.mp4")
    ok = cli_outcome(run_cli(["faces", str(src), "-o", str(out)]), name, "faces")
    if not ok:
        assert not out.exists(), "a failed face pass left a file at the output"
        assert expect(name) != "video", f"faces refused the usable video {name}"
        return
    must_match(name, True, "faces")
    if out.suffix == ".png":
        check_picture(load_photo(out))
    else:
        check_video_output(out)


@pytest.mark.slow
@pytest.mark.parametrize("name", corpus())
def test_bad_input_cli_voice(name, tmp_path):
    out = tmp_path / "disguised.wav"
    # The organisation's default (disguise) takes any sound; a public video's default (synthetic)
    # needs words, and tones are none: its refusals are tested in test_voice.py.
    ok = cli_outcome(run_cli(["voice", str(BAD / name), "-o", str(out), "--audience", "organisation", "--seed", "16"]), name, "voice")
    if not ok:
        assert not out.exists(), "a failed voice pass left a file at the output"
        assert expect(name) != "audio", f"voice refused the usable recording {name}"
        return
    must_match(name, True, "voice")
    check_audio_output(out)


@pytest.mark.slow
@pytest.mark.parametrize("name", corpus())
def test_bad_input_cli_transcribe(name, tmp_path):
    from tests.conftest import whisper_model_or_skip

    whisper_model_or_skip(TINY)
    out = tmp_path / "subtitles.srt"
    ok = cli_outcome(run_cli(["transcribe", str(BAD / name), "--model", TINY, "-o", str(out)]), name, "transcribe")
    if not ok:
        assert not out.exists(), "a failed transcription left a file at the output"
        return
    must_match(name, True, "transcribe")
    assert out.read_text(encoding="utf-8").strip()


def story_folder(tmp_path: Path, name: str, role: str) -> Path:
    """A one-scene story whose picture (role "picture") or narration (role "narration") is the corpus file."""
    import shutil

    from tests.render_helpers import picture

    folder = tmp_path / "story"
    folder.mkdir()
    shutil.copyfile(BAD / name, folder / name)
    data = {"scenes": [{"image": name if role == "picture" else "plain.png", "duration": 1.0}]}
    if role == "narration":
        picture(folder / "plain.png", size=(320, 240))
        data["narration"] = {"file": name}
    (folder / "story.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("role", ["picture", "narration"])
@pytest.mark.parametrize("name", corpus())
def test_bad_input_cli_render(name, role, tmp_path):
    """The file as a story's picture, then as its narration, through `storyteller render`."""
    out = tmp_path / "story.mp4"
    args = ["render", str(story_folder(tmp_path, name, role)), "-o", str(out), "--quality", "preview", "--aspect", "1:1"]
    ok = cli_outcome(run_cli(args), name, f"render ({role})")
    if not ok:
        assert not out.exists(), "a failed render left a file at the output"
        # A story.json names its pictures by their suffix: a picture named .wav is refused there, plainly.
        usable = role == "picture" and expect(name) == "image" and Path(name).suffix in PHOTO_SUFFIXES | {".gif", ".webp"}
        assert not usable, f"render refused the usable picture {name}"
        return
    must_match(name, True, f"render ({role})")
    check_video_output(out)


# ----------------------------------------------------------------- her phone (LAN mode)
@pytest.fixture(scope="module")
def phone_signed_in(tmp_path_factory):
    """One phone joined and signed in for the whole module: 2 x 56 cases would otherwise sign in 112 times."""
    from storyteller.app import create_app
    from storyteller.store import stories
    from storyteller.store.db import db_path, open_database
    from storyteller.store.participants import add_participant
    from storyteller.store.workshops import create_workshop
    from storyteller.web import lan
    from tests.test_lan import ROSE_PIN, joined_and_signed_in

    data_dir = tmp_path_factory.mktemp("phone") / "data"
    data_dir.mkdir()
    app = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False})
    unlock(app)
    db = open_database(db_path(data_dir))
    rose = add_participant(db, create_workshop(db, "Circle", "en"), "Rose", ROSE_PIN)
    phone = joined_and_signed_in(app.test_client(), lan.configure(app, "127.0.0.2", 5000), {"rose": rose})
    story = stories.story_of(db, rose, "en", workshop_key(app))
    yield phone, db, story, data_dir
    db.close()


def phone_leftovers(db, data_dir: Path) -> dict:
    """What an upload that ended may not leave behind: pieces, upload rows, plaintext, vault files no asset owns."""
    from storyteller.store.vault import plaintext_folders

    vault = data_dir / "vault"
    owned = {row[0] for row in db.execute("SELECT vault_name FROM assets")}
    return {
        "pieces": sorted(p.name for p in (vault / "recording").glob("*.part")),
        "upload rows": db.execute("SELECT COUNT(*) FROM phone_uploads").fetchone()[0],
        "plaintext": sorted(p.name for p in plaintext_folders(data_dir)),
        "unowned vault files": sorted(p.name for p in vault.iterdir() if p.is_file() and p.name not in owned),
    }


def send_from_phone(phone, kind: str, name: str):
    """Announce, send in pieces and finish, as phone.js does; the answer that ended it (a refusal may come at the start)."""
    from storyteller.web.phone import CHUNK_BYTES
    from tests.test_lan import LAN, _send_pieces

    data = (BAD / name).read_bytes()
    form = {"kind": kind, "size": len(data), "name": upload_name(name), "type": ""}
    start = phone.post("/phone/upload", data=form, headers=FETCH, base_url=LAN)
    if start.status_code != 200:
        return start
    token = start.get_json()["upload"]
    _send_pieces(phone, token, data, 0, CHUNK_BYTES)
    return phone.post(f"/phone/upload/{token}/finish", headers=FETCH, base_url=LAN)


@pytest.mark.parametrize("kind", ["narration", "photo"])
@pytest.mark.parametrize("name", corpus())
def test_bad_input_phone_upload(phone_signed_in, name, kind):
    """The file sent from her phone in pieces, as her narration, then as a photo."""
    from storyteller.pipeline.media.images import load_photo
    from storyteller.store import stories

    phone, db, story, data_dir = phone_signed_in
    before = {a.id for a in stories.story_assets(db, story.id)}
    reply = send_from_phone(phone, kind, name)
    assert reply.status_code in (200, 400, 413, 415, 422), f"{name}: {reply.status_code} {reply.get_data(as_text=True)[:200]}"
    assert_plain(reply.get_json()["message"], f"phone {kind} {name}", name)
    added = [a for a in stories.story_assets(db, story.id) if a.id not in before]
    vault = story_vault(phone.application, story.id)
    try:
        left = phone_leftovers(db, data_dir)
        assert not any(left.values()), f"{name} as a {kind} left {left}"
        if reply.status_code != 200:
            assert not added, f"a refused {kind} was kept: {added}"
            if kind == "photo":
                assert expect(name) != "image", f"the usable picture {name} was refused: {reply.get_json()['message']}"
            return
        must_match(name, True, f"the phone's {kind} upload")
        (asset,) = added
        assert asset.kind == kind and asset.original_name == ""
        assert re.fullmatch(r"[0-9a-f]+\.[a-z0-9]{1,5}", asset.vault_name), asset
        if kind == "photo":
            with vault.plain(asset.vault_name) as stored:
                pixels = load_photo(stored)
            check_picture(pixels)
            assert pixels.shape[:2] == (asset.meta["height"], asset.meta["width"])
        else:
            from storyteller.jobs.uploads import stored_kind

            # Stored under the suffix of what it is (the laptop's rule), not of what the phone called it.
            assert stored_kind(asset.vault_name).media_type == asset.media_type, asset
            assert asset.meta["seconds"] >= 1.0
            with vault.plain(asset.vault_name) as stored:
                check_audio_output(stored, written=False)
    finally:
        # The next case starts from an empty story: her storyboard has room, and only its own leftovers count.
        for asset in added:
            stories.remove_asset(db, vault, asset)
        stories.save_plan(db, story.id, {}, workshop_key(phone.application))


# ----------------------------------------------------------------- a workshop kit
@pytest.mark.parametrize("part", ["kit.toml", "text.en.toml"])
@pytest.mark.parametrize("name", corpus())
def test_bad_input_kit_check(name, part, tmp_path):
    """A kit's file swapped for any corpus file: `kit check` refuses it, one plain line per problem
    naming the file, and never a parser's words."""
    import shutil

    kit = shutil.copytree(Path(__file__).resolve().parents[1] / "workshops" / "story-circle", tmp_path / "kit")
    shutil.copyfile(BAD / name, kit / part)
    result = run_cli(["kit", "check", str(kit)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), f"kit check {name}: {result.output!r}"
    problems = [ln for ln in result.output.splitlines() if ln.strip()]
    assert problems, f"kit check {name}: no problem named"
    for line in problems:
        assert line.startswith(f"{kit}/"), f"kit check {name}: a line that names no file: {line!r}"
        assert_plain(line.removeprefix(f"{kit}/"), f"kit check {name}", name)
