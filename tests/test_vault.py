"""The encrypted vault: the file format, the keys, the plaintext folders, crypto-shredding."""

import io
import json
import os
import secrets
import struct

import pytest

from storyteller.fsutil import atomic_output, atomic_write_bytes
from storyteller.store import crypto
from storyteller.store.vault import TooLarge, Vault, VaultError, WorkshopLocked, make_plaintext_folder, sweep_plaintext
from tests.conftest import unlock, workshop_key

KEY = bytes(range(32))


@pytest.fixture
def vault(tmp_path):
    return Vault(tmp_path / "data" / "vault", KEY)


def _records(path) -> list[tuple[int, int]]:
    """(offset, length) of each record of a sealed file, for the tamper tests."""
    with open(path, "rb") as f:
        _header, records, _end = crypto.scan(f)
    return [(r.offset, 4 + r.sealed_size) for r in records]


# ----------------------------------------------------------------- the format
@pytest.mark.parametrize("size", [0, 1, crypto.CHUNK - 1, crypto.CHUNK, crypto.CHUNK + 1, 3 * crypto.CHUNK])
def test_round_trip_exact_for_every_size(vault, size):
    data = secrets.token_bytes(size)
    name = vault.put_bytes(data, ".bin")
    with vault.open(name) as f:
        assert f.read() == data
    assert vault.size(name) == size
    stored = (vault.root / name).read_bytes()
    if size >= 64:
        assert data[:64] not in stored  # ciphertext on disk, not her bytes
    assert len(stored) == crypto.HEADER_BYTES + size + max(1, -(-size // crypto.CHUNK)) * (4 + crypto.TAG_BYTES)


def test_seek_and_range_reads_match_the_plain_bytes(vault):
    data = secrets.token_bytes(2 * crypto.CHUNK + 1000)
    name = vault.put_bytes(data, ".mp4")
    with vault.open(name) as f:
        for start, n in [(0, 10), (crypto.CHUNK - 5, 10), (2 * crypto.CHUNK + 990, 100), (12345, crypto.CHUNK + 7)]:
            f.seek(start)
            assert f.read(n) == data[start : start + n]


def test_a_different_key_opens_nothing(vault):
    name = vault.put_bytes(b"her voice", ".wav")
    with pytest.raises(VaultError):
        Vault(vault.root, bytes(32)).open(name).read()


def test_a_keyless_vault_says_the_workshop_is_locked(vault):
    name = vault.put_bytes(b"x", ".wav")
    keyless = Vault(vault.root)
    assert keyless.exists(name)
    with pytest.raises(WorkshopLocked, match="unlock"):
        keyless.open(name)
    with pytest.raises(WorkshopLocked):
        keyless.put_bytes(b"x", ".wav")


def _must_not_open(vault, name):
    with pytest.raises(VaultError):
        with vault.open(name) as f:
            f.read()


@pytest.mark.parametrize("where", ["header", "first record", "last tag"])
def test_one_flipped_byte_fails(vault, where):
    name = vault.put_bytes(secrets.token_bytes(2 * crypto.CHUNK + 10), ".wav")
    path = vault.root / name
    raw = bytearray(path.read_bytes())
    at = {"header": 20, "first record": crypto.HEADER_BYTES + 4 + 100, "last tag": len(raw) - 1}[where]
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))
    _must_not_open(vault, name)


@pytest.mark.parametrize("cut", ["a whole last record", "inside a record", "one byte"])
def test_a_truncated_file_fails(vault, cut):
    name = vault.put_bytes(secrets.token_bytes(2 * crypto.CHUNK + 10), ".wav")
    path = vault.root / name
    raw = path.read_bytes()
    last_offset, _ = _records(path)[-1]
    keep = {"a whole last record": last_offset, "inside a record": last_offset - 500, "one byte": len(raw) - 1}[cut]
    path.write_bytes(raw[:keep])
    _must_not_open(vault, name)


def test_reordered_records_fail(vault):
    name = vault.put_bytes(secrets.token_bytes(3 * crypto.CHUNK + 10), ".wav")
    path = vault.root / name
    raw = path.read_bytes()
    (a, la), (b, lb) = _records(path)[:2]
    assert la == lb
    path.write_bytes(raw[:a] + raw[b : b + lb] + raw[a : a + la] + raw[b + lb :])
    with pytest.raises(VaultError):
        with vault.open(name) as f:
            f.read(10)


def test_a_record_from_another_file_fails(vault):
    one = vault.put_bytes(secrets.token_bytes(2 * crypto.CHUNK + 10), ".wav")
    other = vault.put_bytes(secrets.token_bytes(2 * crypto.CHUNK + 10), ".wav")
    (a, la) = _records(vault.root / one)[0]
    (b, lb) = _records(vault.root / other)[0]
    raw, foreign = (vault.root / one).read_bytes(), (vault.root / other).read_bytes()
    (vault.root / one).write_bytes(raw[:a] + foreign[b : b + lb] + raw[a + la :])
    _must_not_open(vault, one)


def test_a_file_renamed_to_another_name_fails(vault):
    one = vault.put_bytes(b"first take", ".wav")
    other = vault.put_bytes(b"second take", ".wav")
    os.replace(vault.root / one, vault.root / other)
    _must_not_open(vault, other)


# ----------------------------------------------------------------- keys
def test_story_keys_are_wrapped_and_bound_to_their_owner():
    workshop, story = crypto.new_key(), crypto.new_key()
    wrapped = crypto.wrap_key(workshop, story, "story:1")
    assert story not in wrapped
    assert crypto.unwrap_key(workshop, wrapped, "story:1") == story
    with pytest.raises(VaultError):
        crypto.unwrap_key(workshop, wrapped, "story:2")
    with pytest.raises(VaultError):
        crypto.unwrap_key(crypto.new_key(), wrapped, "story:1")


def test_wrong_passphrase_opens_nothing(data_dir):
    """A wrong passphrase gives no key; a key from another passphrase opens no story."""
    from storyteller.store import passphrase, stories
    from storyteller.store.db import db_path, open_database

    conn = open_database(db_path(data_dir))
    key = passphrase.set_first(conn, "river stone lantern")
    assert passphrase.unlock(conn, "river stone lanterns").workshop_key is None
    conn.execute("INSERT INTO workshops (name) VALUES ('w')")
    conn.execute("INSERT INTO participants (workshop_id, alias) VALUES (1, 'a')")
    story = stories.story_of(conn, 1, "ur", key)
    story_key = stories.media_key(conn, story.id, key)
    assert stories.media_key(conn, story.id, key) == story_key  # made once, then read back
    (data_dir / "other").mkdir()
    other = open_database(db_path(data_dir / "other"))
    wrong = passphrase.set_first(other, "river stone lanterns")
    with pytest.raises(VaultError):
        stories.media_key(conn, story.id, wrong)
    name = Vault(data_dir / "vault", story_key).put_bytes(b"her voice", ".wav")
    with pytest.raises(VaultError):
        Vault(data_dir / "vault", crypto.derive_key(wrong, b"x")).open(name).read()


# ----------------------------------------------------------------- writing
@pytest.mark.parametrize("bad", ["../secret", "/etc/passwd", "abc", "0" * 32 + "/../x", ""])
def test_path_traversal_refused(vault, bad):
    with pytest.raises(VaultError):
        vault.open(bad)


def test_put_and_read_back_with_random_name(vault):
    name = vault.put_bytes(b"hello", ".webm")
    assert name.endswith(".webm") and len(name) == 32 + 5
    assert vault.open(name).read() == b"hello"
    assert vault.put_bytes(b"hello", ".webm") != name


def test_unsafe_suffix_refused(vault):
    with pytest.raises(VaultError):
        vault.put_bytes(b"x", ".sh;rm")


def test_too_large_upload_leaves_nothing(vault):
    with pytest.raises(TooLarge):
        vault.put_stream(io.BytesIO(b"x" * (3 << 20)), ".wav", max_bytes=1 << 20)
    assert list(vault.root.iterdir()) == []


def test_failed_write_keeps_old_file(tmp_path):
    target = tmp_path / "story.json"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["story.json"]


def test_new_file_appears_only_on_success_and_leaves_no_plain_copy(vault):
    with vault.new_file(".png") as (name, plain):
        plain.write_bytes(b"pixels")
        assert not vault.exists(name)
        folder = plain.parent
        assert folder.stat().st_mode & 0o777 == 0o700
    assert vault.exists(name) and vault.open(name).read() == b"pixels"
    assert not folder.exists()
    with pytest.raises(RuntimeError):
        with vault.new_file(".png") as (failed, plain):
            plain.write_bytes(b"half")
            raise RuntimeError("killed")
    assert not vault.exists(failed) and not plain.parent.exists()


def test_adopt_seals_and_removes_the_plain_file(vault):
    with vault.scratch("job7") as folder:
        out = folder / "story.mp4"
        out.write_bytes(b"video bytes")
        name = vault.adopt(out)
        assert not out.exists()
    assert vault.open(name).read() == b"video bytes"
    assert b"video bytes" not in (vault.root / name).read_bytes()


def test_sweep_partials(vault):
    (vault.root / ".abc.123.part.wav").write_bytes(b"x")
    kept = vault.put_bytes(b"kept", ".wav")
    assert vault.sweep_partials() == 1
    assert [p.name for p in vault.root.iterdir()] == [kept]


def test_full_disk_is_plain(tmp_path, monkeypatch):
    from storyteller import fsutil

    real_replace = os.replace

    def no_space(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsutil.os, "replace", no_space)
    with pytest.raises(fsutil.DiskFullError, match="disk is full"):
        atomic_write_bytes(tmp_path / "a.bin", b"x")
    monkeypatch.setattr(fsutil.os, "replace", real_replace)
    assert not any(".part" in p.name for p in tmp_path.iterdir())


# ----------------------------------------------------------------- growing recordings
def test_a_growing_recording_is_sealed_piece_by_piece(vault):
    pieces = [secrets.token_bytes(n) for n in (3000, 1, 70_000, 2 * crypto.CHUNK + 3)]
    name = vault.start_growing(".webm")
    offset = 0
    for piece in pieces:
        offset = vault.append_growing(name, piece, offset)
        assert vault.growing_size(name) == offset
    assert vault.append_growing(name, pieces[-1], offset - len(pieces[-1])) == offset  # a retry is ignored
    part = vault.root / "recording" / f"{name}.part"
    assert pieces[2][:64] not in part.read_bytes()
    vault.finish_growing(name)
    assert vault.open(name).read() == b"".join(pieces)


def test_a_recording_cut_off_by_a_crash_keeps_what_arrived(vault):
    name = vault.start_growing(".webm")
    first = secrets.token_bytes(5000)
    vault.append_growing(name, first, 0)
    part = vault.root / "recording" / f"{name}.part"
    with open(part, "ab") as f:  # the server died while writing the next piece
        f.write(struct.pack(">I", 4000) + b"\x00" * 1000)
    assert vault.growing_size(name) == len(first)
    second = secrets.token_bytes(10)
    vault.append_growing(name, second, len(first))
    vault.finish_growing(name)
    assert vault.open(name).read() == first + second


def test_an_unsealed_or_cut_recording_does_not_open_as_finished(vault):
    name = vault.start_growing(".webm")
    vault.append_growing(name, b"a" * 100, 0)
    vault.append_growing(name, b"b" * 100, 100)
    vault.finish_growing(name)
    path = vault.root / name
    last_offset, _ = _records(path)[-1]
    path.write_bytes(path.read_bytes()[:last_offset])  # the seal removed
    _must_not_open(vault, name)


# ----------------------------------------------------------------- plaintext folders
def test_plaintext_folders_are_private_and_swept_unless_their_job_runs(tmp_path):
    data = tmp_path / "data"
    running = make_plaintext_folder(data, "job5")
    ended = make_plaintext_folder(data, "job6")
    request = make_plaintext_folder(data, "read")
    export = make_plaintext_folder(data, "export")
    other_workshop = make_plaintext_folder(tmp_path / "other", "job6")
    try:
        for folder in (running, ended, request, export):
            assert folder.stat().st_mode & 0o777 == 0o700
            (folder / "plain.wav").write_bytes(b"her voice")
        assert sweep_plaintext(data, {5}) == 1
        assert running.exists() and not ended.exists() and request.exists() and other_workshop.exists()
        old = 1_000_000_000
        (export / "render").mkdir()
        (export / "render" / "video.mp4").write_bytes(b"a long export still rendering")
        for path in (request, request / "plain.wav", export, export / "plain.wav", export / "render"):
            os.utime(path, (old, old))
        sweep_plaintext(data, set())
        assert not running.exists() and not request.exists() and export.exists() and other_workshop.exists()
        os.utime(export / "render" / "video.mp4", (old, old))
        sweep_plaintext(data, set())
        assert not export.exists()
    finally:
        sweep_plaintext(tmp_path / "other", set())
    assert not other_workshop.exists()


def test_plaintext_goes_to_the_data_folder_when_memory_is_short(tmp_path, monkeypatch):
    from storyteller.store import vault as vault_module

    monkeypatch.setattr(vault_module, "_shm_has_room", lambda needed: False)
    v = Vault(tmp_path / "data" / "vault", KEY)
    name = v.put_bytes(b"a photo", ".jpg")
    with v.plain(name) as path:
        assert path.read_bytes() == b"a photo"
        assert path.parent.parent == tmp_path / "data" / "work"
        assert path.parent.stat().st_mode & 0o777 == 0o700
    assert not path.parent.exists()


# ----------------------------------------------------------------- crypto-shredding and the marker
FETCH = {"X-Requested-With": "fetch"}


def _wav_with_marker(marker: bytes, seconds: float = 3.0, rate: int = 16000) -> bytes:
    """A spoken-loud tone as WAV, with ``marker`` in a chunk of its own (decoders skip it; a plain copy keeps it)."""
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"mrkr" + struct.pack("<I", len(marker)) + marker
    chunks += b"data" + struct.pack("<I", len(pcm)) + pcm
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def _png_with_marker(marker: bytes) -> bytes:
    """A photo whose file carries ``marker`` in a private chunk (Pillow skips it; the stored picture must not keep it)."""
    import zlib

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 140, 200)).save(buf, format="PNG")
    png = buf.getvalue()
    chunk = b"stMk" + marker
    private = struct.pack(">I", len(marker)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return png[:33] + private + png[33:]  # after the 8-byte signature and the IHDR chunk


def _places_holding(marker: bytes, data_dir, since: float) -> list[str]:
    """Every file that holds ``marker``: the data folder (vault, SQLite and its -wal, the queue), the
    plaintext folders in /dev/shm, and what was written to the temp folder since the test began."""
    import tempfile
    from pathlib import Path

    def files_under(root: Path, newer_than: float | None = None):
        for dirpath, _dirs, filenames in os.walk(root):
            for name in filenames:
                path = Path(dirpath) / name
                try:
                    info = path.stat()
                except OSError:
                    continue
                if (newer_than is None or info.st_mtime >= newer_than) and info.st_size < 200 << 20:
                    yield path

    candidates = list(files_under(data_dir))
    candidates += [p for d in Path("/dev/shm").glob("storyteller-*") for p in files_under(d)]
    temp = Path(tempfile.gettempdir())
    for entry in temp.iterdir():
        if entry.name.startswith(("pytest-of-", "bash_jobs")):
            continue  # other runs' folders; this test's own tmp_path is the data folder, scanned whole above
        if entry.is_file():
            candidates += [entry] if entry.stat().st_mtime >= since else []
        elif entry.is_dir():
            candidates += list(files_under(entry, since))
    found = []
    for path in candidates:
        try:
            if marker in path.read_bytes():
                found.append(str(path))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_her_marker_bytes_never_lie_on_disk_in_plain_form(data_dir):
    """Her narration and photo carry a random marker; through upload, face masking, a preview render
    and delete, no file on disk (or in /dev/shm or the temp folder) ever holds it in plain form,
    nor the workshop key."""
    import time

    from storyteller.app import create_app
    from storyteller.jobs import state
    from storyteller.jobs.runner import run_job
    from storyteller.jobs.tasks import HANDLERS
    from storyteller.store import stories
    from storyteller.store.db import db_path, open_database
    from storyteller.store.participants import add_participant
    from storyteller.store.vault import vault_for
    from storyteller.store.workshops import create_workshop
    from tests.conftest import unlock

    started = time.time() - 1
    marker = secrets.token_bytes(16)
    app = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False, "JOBS_IMMEDIATE": True})
    key = unlock(app)
    conn = open_database(db_path(data_dir))
    workshop = create_workshop(conn, "Circle", "en")
    pid = add_participant(conn, workshop, "Sitara", "4821")
    story = stories.story_of(conn, pid, "en", workshop_key(app))
    stories.record_consent(conn, story.id, "workshop", "test", "en", workshop_key=workshop_key(app))
    client = app.test_client()
    assert client.post("/story/signin", data={"workshop": workshop, "participant": pid, "pin": "4821"}).status_code == 302

    picture = client.post(
        "/story/pictures/add",
        headers=FETCH,
        content_type="multipart/form-data",
        data={"picture": (io.BytesIO(_png_with_marker(marker)), "p.png"), "kind": "photo"},
    )
    assert picture.status_code == 200, picture.json
    assert client.get(f"/story/work/{picture.json['job']}").json["state"] == "done"
    narration = _wav_with_marker(marker)
    reply = client.post("/story/record/upload", content_type="multipart/form-data", data={"audio": (io.BytesIO(narration), "n.wav")})
    assert reply.status_code == 302
    take = stories.narration_takes(conn, story.id)["whole"]
    heard = client.get(f"/story/record/take/{take.id}")
    assert heard.status_code == 200 and heard.data == narration  # she hears exactly what she recorded
    part = client.get(f"/story/record/take/{take.id}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == narration[100:200]

    # A job that works on her raw take itself (a plain copy of it sits in the job's folder while it runs).
    disguise = state.create_job(conn, "voice", {"asset": take.vault_name}, story_id=story.id)
    assert run_job(disguise, str(data_dir), HANDLERS, key) == "done", state.get_job(conn, disguise).error
    reply = client.post("/story/render", headers=FETCH, data={"quality": "preview", "aspect": "16:9"})
    status = client.get(f"/story/work/{reply.json['job']}").json
    assert status["state"] == "done", status
    video = client.get(status["asset_url"])
    assert video.status_code == 200 and video.data[4:8] == b"ftyp"

    # The real point: while her story exists, her bytes are on disk only as ciphertext, and the
    # workshop key that opens them is in memory only (not as bytes, not written out in hex).
    secrets_on_disk = {"marker": marker, "workshop key": key, "workshop key in hex": key.hex().encode()}
    assert {what: _places_holding(secret, data_dir, started) for what, secret in secrets_on_disk.items()} == dict.fromkeys(
        secrets_on_disk, []
    )
    assert sum(1 for _ in vault_for(data_dir).root.glob("*.*")) >= 3

    stories.delete_story(conn, vault_for(data_dir), story.id)
    assert conn.execute("SELECT count(*) FROM stories WHERE id = ?", (story.id,)).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM assets WHERE story_id = ?", (story.id,)).fetchone()[0] == 0
    assert not [p for p in vault_for(data_dir).root.rglob("*") if p.is_file()]
    assert {what: _places_holding(secret, data_dir, started) for what, secret in secrets_on_disk.items()} == dict.fromkeys(
        secrets_on_disk, []
    )
    conn.close()


def test_delete_destroys_the_wrapped_key_first_then_the_files(data_dir):
    from storyteller.store import stories
    from storyteller.store.db import db_path, open_database
    from storyteller.store.vault import vault_for

    conn = open_database(db_path(data_dir))
    conn.execute("INSERT INTO workshops (name) VALUES ('w')")
    conn.execute("INSERT INTO participants (workshop_id, alias) VALUES (1, 'a')")
    workshop_key = crypto.new_key()
    story = stories.story_of(conn, 1, "ur", workshop_key)
    vault = vault_for(data_dir).with_key(stories.media_key(conn, story.id, workshop_key))
    name = vault.put_bytes(b"her voice", ".wav")
    stories.add_asset(conn, story.id, "narration", name)
    growing = vault.start_growing(".webm")
    stories.add_asset(conn, story.id, "narration", growing, meta={"growing": True})
    wrapped = bytes(conn.execute("SELECT wrapped_key FROM stories WHERE id = ?", (story.id,)).fetchone()[0])
    copy = (vault.root / name).read_bytes()  # a copy someone made earlier (a backup, an old disk block)

    stories.delete_story(conn, vault_for(data_dir), story.id)
    assert conn.execute("SELECT count(*) FROM stories WHERE id = ?", (story.id,)).fetchone()[0] == 0
    assert not vault.exists(name) and not (vault.root / "recording" / f"{growing}.part").exists()
    for path in (data_dir / "storyteller.sqlite3", data_dir / "storyteller.sqlite3-wal"):
        assert not path.exists() or wrapped not in path.read_bytes()  # no page keeps the wrapped key
    with pytest.raises(stories.StoryError):
        stories.media_key(conn, story.id, workshop_key)  # nothing can bring the key back
    assert copy  # and without the key the old copy is only noise
    conn.close()


# ----------------------------------------------------------------- a locked workshop
def test_a_locked_workshop_says_so_in_her_language(locked_app, data_dir):
    from storyteller.store import stories
    from storyteller.store.db import db_path, open_database
    from storyteller.store.participants import add_participant
    from storyteller.store.workshops import create_workshop

    conn = open_database(db_path(data_dir))
    workshop = create_workshop(conn, "Circle", "ur")
    pid = add_participant(conn, workshop, "Sitara", "4821")
    stories.record_consent(conn, stories.story_of(conn, pid, "ur", KEY).id, "workshop", "test", "ur", workshop_key=KEY)
    conn.close()
    client = locked_app.test_client()
    assert client.post("/story/signin", data={"workshop": workshop, "participant": pid, "pin": "4821"}).status_code == 302
    page = client.get("/story/record?lang=en")
    assert page.status_code == 503 and "Ask your facilitator to unlock the workshop" in page.get_data(as_text=True)
    page = client.get("/story/record?lang=ur")
    assert page.status_code == 503 and "اپنے سہولت کار سے کہیں کہ ورکشاپ کھول دیں" in page.get_data(as_text=True)
    fetch = client.post("/story/record/chunk?lang=en", headers=FETCH, data={"offset": "0", "chunk": (io.BytesIO(b"x"), "c")})
    assert fetch.status_code == 503 and "unlock" in fetch.get_json()["message"]


def test_a_job_without_the_key_waits_visibly_and_runs_once_unlocked(locked_app, data_dir):
    from storyteller.jobs import state
    from storyteller.jobs.runner import run_job
    from storyteller.store.db import db_path, open_database

    conn = open_database(db_path(data_dir))
    job = state.create_job(conn, "ok")
    handlers = {"ok": lambda ctx: {"sealed": ctx.vault.put_bytes(b"x", ".bin")}}
    assert run_job(job, str(data_dir), handlers, None) == "waiting"
    waiting = state.get_job(conn, job)
    assert waiting.state == "queued" and waiting.stage == "locked"  # not failed
    shown = locked_app.test_client().get(f"/jobs/{job}.json").get_json()
    assert shown["state"] == "queued" and shown["stage"] == "locked"
    assert run_job(job, str(data_dir), handlers, crypto.new_key()) == "done"
    assert state.get_job(conn, job).stage == "done"
    conn.close()


@pytest.mark.slow
def test_the_worker_takes_the_key_from_its_pipe_only(data_dir):
    """A worker with no key leaves jobs waiting; the key down its stdin starts them. It is never in argv or env."""
    import time

    from storyteller.jobs import state
    from storyteller.jobs.queue import enqueue, make_huey
    from storyteller.jobs.unlock import send_key
    from storyteller.store.db import db_path, open_database
    from tests.journey_helpers import start_worker, stop_process

    conn = open_database(db_path(data_dir))
    job = state.create_job(conn, "demo", {"quality": "preview"})
    enqueue(make_huey(data_dir), job, data_dir)
    worker = start_worker(data_dir)
    key = crypto.new_key()
    try:
        deadline = time.monotonic() + 60
        while state.get_job(conn, job).stage != "locked" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert state.get_job(conn, job).stage == "locked" and state.get_job(conn, job).state == "queued"
        send_key(worker.stdin, key)
        deadline = time.monotonic() + 240
        while not state.get_job(conn, job).finished and time.monotonic() < deadline:
            time.sleep(0.3)
        assert state.get_job(conn, job).state == "done", state.get_job(conn, job).error
        for leak in (f"/proc/{worker.pid}/cmdline", f"/proc/{worker.pid}/environ"):
            raw = open(leak, "rb").read()
            assert key.hex().encode() not in raw and key not in raw
    finally:
        output = stop_process(worker)
    assert key.hex() not in output  # nor in its log
    conn.close()


# ----------------------------------------------------------------- her words sealed in the database
FETCH = {"X-Requested-With": "fetch"}


def _database_bytes(data_dir) -> dict[str, bytes]:
    """The raw bytes of the database file and its write-ahead log, as a thief with the disk reads them."""
    out = {}
    for name in ("storyteller.sqlite3", "storyteller.sqlite3-wal"):
        path = data_dir / name
        out[name] = path.read_bytes() if path.exists() else b""
    return out


def _holding(data_dir, markers: dict[str, bytes]) -> list[tuple[str, str]]:
    """(file, what) for every file under the data folder holding one of ``markers``."""
    found = []
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        found += [(str(path.relative_to(data_dir)), what) for what, marker in markers.items() if marker in raw]
    return found


def _checkpoint(data_dir) -> None:
    from storyteller.store.db import connect, db_path

    conn = connect(db_path(data_dir))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def test_sealed_her_words_through_the_routes_never_reach_the_disk(app, client, data_dir, tmp_path, monkeypatch):
    from storyteller.store import stories
    from storyteller.store.db import db_path, open_database
    from storyteller.store.participants import add_participant
    from storyteller.store.vault import vault_for
    from storyteller.store.workshops import create_workshop
    from storyteller.web.journey import words
    from tests.render_helpers import tone

    markers = {what: f"{what}-{secrets.token_hex(8)}".encode() for what in ("title", "script", "hidden", "cue", "version")}
    text = {what: marker.decode() for what, marker in markers.items()}
    # The consent wording's version is the kit's or the built-in one; a random one here shows it is sealed too.
    monkeypatch.setattr(words, "CONSENT_TEXT_VERSION", text["version"])
    conn = open_database(db_path(data_dir))
    workshop = create_workshop(conn, "Circle", "en")
    pid = add_participant(conn, workshop, "Sitara", "4821")
    assert client.post("/story/signin", data={"workshop": workshop, "participant": pid, "pin": "4821"}).status_code == 302

    assert client.post("/story/consent", data={"level": "organisation"}).status_code == 302
    saved = client.post(
        "/story/write/save", data={"script": f"My story. {text['script']} was there.", "title": text["title"], "revision": 0}, headers=FETCH
    )
    assert saved.get_json()["saved"], saved.get_data(as_text=True)
    take = tone(tmp_path / "take.wav", 2.0, 220.0)
    client.post("/story/record/upload", data={"audio": (take.open("rb"), "take.wav")}, content_type="multipart/form-data")
    made = client.post("/story/subtitles/make", data={"hidden": text["hidden"]}, headers=FETCH)  # the job is queued, not run
    assert made.status_code == 200, made.get_data(as_text=True)
    edit = client.post("/story/subtitles/save", headers=FETCH, json={"cues": [{"start": 0.5, "end": 2.0, "text": text["cue"]}]})
    assert edit.get_json()["saved"], edit.get_data(as_text=True)

    # Everything she gave is there for whoever holds the key...
    key = workshop_key(app)
    story = stories.story_of(conn, pid, "en", key)
    assert story.title == text["title"] and text["script"] in story.script
    assert story.plan["hidden_words"] == [text["hidden"]] and story.plan["cues"][0]["text"] == text["cue"]
    consent = stories.current_consent(conn, story.id, key)
    assert (consent.level, consent.text_version) == ("organisation", text["version"])
    # ...and nowhere on the disk: not in the database, its log before or after a checkpoint, nor any other file.
    assert _holding(data_dir, markers) == []
    assert _database_bytes(data_dir)["storyteller.sqlite3-wal"], "the write-ahead log should still hold the writes"
    assert b"organisation" not in b"".join(_database_bytes(data_dir).values())  # her consent level is sealed too
    _checkpoint(data_dir)
    assert _holding(data_dir, markers) == [] and b"organisation" not in _database_bytes(data_dir)["storyteller.sqlite3"]

    stories.delete_story(conn, vault_for(data_dir), story.id)
    assert _holding(data_dir, markers) == []
    conn.close()


def test_sealed_words_moved_to_another_row_or_altered_do_not_open(data_dir):
    from storyteller.store import stories
    from storyteller.store.db import db_path, open_database
    from storyteller.store.participants import add_participant
    from storyteller.store.workshops import create_workshop

    conn = open_database(db_path(data_dir))
    workshop = create_workshop(conn, "Circle", "en")
    rose, jasmine = (stories.story_of(conn, add_participant(conn, workshop, alias, "4821"), "en", KEY) for alias in ("Rose", "Jasmine"))
    for story in (rose, jasmine):
        stories.save_script(conn, story.id, f"words of story {story.id}", 0, title="A title", workshop_key=KEY)
        stories.record_consent(conn, story.id, "public", "v1", "en", workshop_key=KEY)
        stories.record_consent(conn, story.id, "workshop", "v2", "en", workshop_key=KEY)

    def sealed(table: str, row_id: int) -> bytes:
        return bytes(conn.execute(f"SELECT sealed FROM {table} WHERE id = ?", (row_id,)).fetchone()[0])

    # Rose's words put on Jasmine's row: the same workshop key, but they belong to another story.
    conn.execute("UPDATE stories SET sealed = ? WHERE id = ?", (sealed("stories", rose.id), jasmine.id))
    with pytest.raises(VaultError) as refused:
        stories.get_story(conn, jasmine.id, KEY)
    assert str(refused.value) == "Saved words of this story are damaged or belong elsewhere, so they cannot be opened."
    # One flipped byte in Rose's own row.
    blob = bytearray(sealed("stories", rose.id))
    blob[len(blob) // 2] ^= 0x01
    conn.execute("UPDATE stories SET sealed = ? WHERE id = ?", (bytes(blob), rose.id))
    with pytest.raises(VaultError):
        stories.get_story(conn, rose.id, KEY)
    # Her older consent row copied over the newer one (a wider consent brought back): refused, not read.
    older, newer = [r[0] for r in conn.execute("SELECT id FROM consents WHERE story_id = ? ORDER BY id", (jasmine.id,))]
    conn.execute("UPDATE consents SET sealed = ? WHERE id = ?", (sealed("consents", older), newer))
    with pytest.raises(VaultError):
        stories.consent_now(conn, jasmine.id, KEY)
    # Another workshop key opens none of it.
    with pytest.raises(VaultError):
        stories.consent_history(conn, rose.id, crypto.new_key())
    conn.close()


def test_sealed_plain_rows_of_the_previous_schema_are_sealed_at_the_first_unlock(data_dir):
    from storyteller.app import create_app
    from storyteller.store import stories
    from storyteller.store.db import MIGRATIONS, connect, db_path, open_database

    markers = {what: f"{what}-{secrets.token_hex(8)}".encode() for what in ("title", "script", "plan", "version")}
    text = {what: marker.decode() for what, marker in markers.items()}
    # A database as the schema before sealing left it, with her words in plain columns.
    conn = connect(db_path(data_dir))
    sealing_step = next(i for i, script in enumerate(MIGRATIONS) if "consents_sealed" in script)
    for number, script in enumerate(MIGRATIONS[:sealing_step], start=1):
        for statement in (s.strip() for s in script.split(";")):
            if statement:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute("INSERT INTO workshops (name) VALUES ('Circle')")
    conn.execute("INSERT INTO participants (workshop_id, alias) VALUES (1, 'Sitara')")
    plan = {"hidden_words": [text["plan"]], "title": text["plan"]}
    conn.execute(
        "INSERT INTO stories (participant_id, title, script, plan, voice_secret, step) VALUES (1, ?, ?, ?, 'secret', 'record')",
        (text["title"], f"Once {text['script']} said", json.dumps(plan)),
    )
    conn.execute("INSERT INTO consents (story_id, level, text_version, language) VALUES (1, 'public', ?, 'en')", (text["version"],))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert {what for _file, what in _holding(data_dir, markers)} == set(markers)  # the test's premise: plain on the disk

    app = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False})  # migrates; no key yet
    key = unlock(app)  # the facilitator's sign-in: the first time the key is at hand

    assert _holding(data_dir, markers) == []  # sealed, and the freed plain bytes zeroed (secure_delete)
    conn = open_database(db_path(data_dir))
    story = stories.get_story(conn, 1, key)
    assert (story.title, story.script, story.plan, story.step) == (text["title"], f"Once {text['script']} said", plan, "record")
    (consent,) = stories.consent_history(conn, 1, key)
    assert (consent.level, consent.text_version, consent.language, consent.withdrawn) == ("public", text["version"], "en", False)
    plain = conn.execute("SELECT title, script, plan FROM stories").fetchone()
    assert tuple(plain) == ("", "", "{}") and conn.execute("SELECT plain FROM consents").fetchone()[0] == ""
    assert stories.seal_plain_rows(conn, key) == 0  # once only
    conn.close()


def test_sealed_words_need_the_key_and_the_page_says_to_ask_the_facilitator(locked_app, data_dir):
    from storyteller.store import stories
    from storyteller.store.db import db_path, open_database
    from storyteller.store.participants import add_participant
    from storyteller.store.workshops import create_workshop

    conn = open_database(db_path(data_dir))
    workshop = create_workshop(conn, "Circle", "en")
    pid = add_participant(conn, workshop, "Sitara", "4821")
    story = stories.story_of(conn, pid, "en", KEY)
    stories.save_script(conn, story.id, "Her words", 0, workshop_key=KEY)
    with pytest.raises(WorkshopLocked):
        stories.get_story(conn, story.id, None)
    with pytest.raises(WorkshopLocked):
        stories.consent_now(conn, story.id, None)
    with pytest.raises(WorkshopLocked):
        stories.save_script(conn, story.id, "Other words", 1, workshop_key=None)
    conn.close()
    client = locked_app.test_client()
    assert client.post("/story/signin", data={"workshop": workshop, "participant": pid, "pin": "4821"}).status_code == 302
    for path in ("/story/write", "/story/consent"):
        page = client.get(f"{path}?lang=en")
        assert page.status_code == 503 and "Ask your facilitator to unlock the workshop" in page.get_data(as_text=True), path
    saved = client.post("/story/write/save", data={"script": "Other words", "revision": 1}, headers=FETCH)
    assert saved.status_code == 503 and "Ask your facilitator" in saved.get_json()["message"]
