"""Faults injected where the disk, ffmpeg and the database can let her down.

A full disk (ENOSPC) or a failing one (EIO) is injected into the writes, the fsync and
the rename of the one atomic write and of the vault; ffmpeg is made missing, failing and
hanging (a script that sleeps stands in for a hung ffmpeg, which the real one cannot be
made to do); the database's write lock is held by another connection. Each time: what was
saved before is intact, nothing half-written sits under a real name, the database passes
its integrity check, no process is left behind, and the sentence she reads is plain.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from storyteller.errors import plain_message
from storyteller.fsutil import atomic_write_bytes
from storyteller.jobs import state
from storyteller.jobs.runner import run_job
from storyteller.jobs.tasks import HANDLERS
from storyteller.pipeline.media import ffmpeg
from storyteller.store.db import db_path, open_database
from storyteller.store.vault import Vault, plaintext_folders
from tests.conftest import workshop_key
from tests.test_kill import processes

ERRNOS = {"enospc": errno.ENOSPC, "eio": errno.EIO}
DISK_TROUBLE_STATUS = {errno.ENOSPC: 507, errno.EIO: 500}  # a page in her words either way
SITES = ("write", "fsync", "replace")
OLD, NEW = b"what she saved yesterday" * 100, b"what she tried to save today" * 100000
KEY = bytes(range(32))  # the workshop key the jobs here are run with (the vault opens only with a key)


def assert_plain(message: str) -> None:
    """A sentence for a person: no errno, no library text, no path."""
    assert message and message[0].isupper() and message.rstrip().endswith(".")
    for bad in ("Errno", "errno", "Traceback", "No space left on device", "Input/output error", "/", "ffmpeg exit"):
        assert bad not in message, message


class _HalfWriter:
    """A file whose write stores half the data and then fails, as a disk filling up does."""

    def __init__(self, fh, code: int):
        self._fh, self._code = fh, code

    def write(self, data) -> int:
        data = bytes(data)
        self._fh.write(data[: len(data) // 2])
        self._fh.flush()
        raise OSError(self._code, os.strerror(self._code))

    def fileno(self):  # no descriptor: writers such as Pillow's must go through write()
        raise io.UnsupportedOperation("fileno")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()

    def __getattr__(self, name):
        return getattr(self._fh, name)


def inject(monkeypatch, site: str, code: int, under: Path) -> None:
    """Make ``site`` fail with ``code`` for files under ``under`` (writes) or everywhere (fsync, replace)."""

    def fail(*_args, **_kwargs):
        raise OSError(code, os.strerror(code))

    if site == "fsync":
        monkeypatch.setattr(os, "fsync", fail)
    elif site == "replace":
        monkeypatch.setattr(os, "replace", fail)
    else:
        real_open = builtins.open

        def open_failing(file, mode="r", *args, **kwargs):
            fh = real_open(file, mode, *args, **kwargs)
            inside = isinstance(file, (str, os.PathLike)) and Path(file).resolve().is_relative_to(under.resolve())
            writing = any(m in mode for m in "wa+")  # a growing recording is opened r+b
            return _HalfWriter(fh, code) if inside and writing else fh

        monkeypatch.setattr(builtins, "open", open_failing)
        monkeypatch.setattr(io, "open", open_failing)


# ----------------------------------------------------------------- the one atomic write
@pytest.mark.parametrize("code", ERRNOS.values(), ids=ERRNOS.keys())
@pytest.mark.parametrize("site", SITES)
def test_enospc_atomic_write_keeps_the_old_file(monkeypatch, tmp_path, site, code):
    target = tmp_path / "story.json"
    target.write_bytes(OLD)
    inject(monkeypatch, site, code, tmp_path)
    with pytest.raises(OSError) as failure:
        atomic_write_bytes(target, NEW)
    monkeypatch.undo()
    assert target.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["story.json"]  # no .part file left beside it
    assert_plain(plain_message(failure.value))
    if code == errno.ENOSPC:
        assert plain_message(failure.value).startswith("The disk is full.")


# ----------------------------------------------------------------- the vault
@pytest.mark.parametrize("code", ERRNOS.values(), ids=ERRNOS.keys())
@pytest.mark.parametrize("site", SITES)
def test_enospc_vault_put_keeps_what_was_stored(monkeypatch, tmp_path, site, code):
    vault = Vault(tmp_path / "vault", KEY)
    kept = vault.put_bytes(OLD, ".webm")
    inject(monkeypatch, site, code, vault.root)
    for put in (lambda: vault.put_stream(io.BytesIO(NEW), ".webm"), lambda: vault.put_bytes(NEW, ".jpg")):
        with pytest.raises(OSError) as failure:
            put()
        assert_plain(plain_message(failure.value))
    monkeypatch.undo()
    assert sorted(p.name for p in vault.root.iterdir()) == [kept]
    with vault.open(kept) as stored:
        assert stored.read() == OLD


@pytest.mark.parametrize("code", ERRNOS.values(), ids=ERRNOS.keys())
@pytest.mark.parametrize("site", ("write", "fsync"))
def test_enospc_recording_chunk_keeps_the_chunks_before(monkeypatch, tmp_path, site, code):
    """A chunk that fails to land leaves the recording as it was, so the browser sends it again from there."""
    vault = Vault(tmp_path / "vault", KEY)
    take = vault.start_growing(".webm")
    first, second = b"a" * 5000, b"b" * 7000
    assert vault.append_growing(take, first, 0) == len(first)
    inject(monkeypatch, site, code, vault.root)
    with pytest.raises(OSError) as failure:
        vault.append_growing(take, second, len(first))
    assert_plain(plain_message(failure.value))
    monkeypatch.undo()
    assert vault.growing_size(take) == len(first)
    assert vault.append_growing(take, second, vault.growing_size(take)) == len(first) + len(second)
    with vault.open(vault.finish_growing(take)) as stored:
        assert stored.read() == first + second


def _sign_in(app, client):
    from storyteller.store import stories
    from storyteller.store.participants import add_participant
    from storyteller.store.workshops import create_workshop

    conn = open_database(db_path(app.config["DATA_DIR"]))
    workshop = create_workshop(conn, "Circle", "en")
    who = add_participant(conn, workshop, "Sitara", "4821")
    story = stories.story_of(conn, who, "en", workshop_key(app))
    stories.record_consent(conn, story.id, "workshop", "test", "en", workshop_key=workshop_key(app))
    assert client.post("/story/signin", data={"workshop": workshop, "participant": who, "pin": "4821"}).status_code == 302
    return conn, story


@pytest.mark.parametrize("code", ERRNOS.values(), ids=ERRNOS.keys())
@pytest.mark.parametrize("site", SITES)
def test_enospc_picture_upload_says_so_and_keeps_the_database_whole(monkeypatch, app, client, data_dir, tmp_path, site, code):
    from storyteller.store import stories
    from tests.render_helpers import picture

    conn, story = _sign_in(app, client)
    photo = picture(tmp_path / "p.png").read_bytes()
    inject(monkeypatch, site, code, data_dir / "vault")
    for headers in ({"X-Requested-With": "fetch"}, {}):
        reply = client.post(
            "/story/pictures/add",
            headers=headers,
            content_type="multipart/form-data",
            data={"picture": (io.BytesIO(photo), "p.png")},
        )
        assert_disk_trouble_page(reply, code, fetch=bool(headers))
    monkeypatch.undo()
    assert not stories.story_assets(conn, story.id)
    assert not [p for p in (data_dir / "vault").rglob("*") if p.is_file()]
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def assert_disk_trouble_page(reply, code: int, *, fetch: bool) -> None:
    """A full disk is 507 (Insufficient Storage), a failing one 500; either way her words, never the errno."""
    page = reply.get_data(as_text=True)
    assert reply.status_code == DISK_TROUBLE_STATUS[code], page
    message = reply.json["message"] if fetch else page
    assert plain_message(OSError(code, "")) in message
    assert "Errno" not in page and "Traceback" not in page and "database or disk" not in page


def test_enospc_picture_upload_when_the_database_cannot_grow_says_so(monkeypatch, app, client, data_dir, tmp_path):
    """The picture is sealed but the database's file cannot grow: SQLite says SQLITE_FULL, not an OSError.

    The request's connection gets a page limit it has reached (PRAGMA max_page_count), so the
    asset's row makes SQLite itself answer "database or disk is full", as a full disk would.
    """
    from storyteller.store import stories
    from tests.render_helpers import picture

    conn, story = _sign_in(app, client)
    photo = picture(tmp_path / "p.png").read_bytes()
    real_add_asset = stories.add_asset

    def add_asset_on_a_full_disk(db, *args, meta=None, **kwargs):
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        try:  # a row too large for the pages left, so SQLite must grow the file and cannot
            return real_add_asset(db, *args, meta={**(meta or {}), "pad": "x" * 200_000}, **kwargs)
        finally:
            db.execute("PRAGMA max_page_count = 1073741823")

    monkeypatch.setattr(stories, "add_asset", add_asset_on_a_full_disk)
    for fetch in (True, False):
        reply = client.post(
            "/story/pictures/add",
            headers={"X-Requested-With": "fetch"} if fetch else {},
            content_type="multipart/form-data",
            data={"picture": (io.BytesIO(photo), "p.png")},
        )
        assert_disk_trouble_page(reply, errno.ENOSPC, fetch=fetch)
    monkeypatch.undo()
    assert not stories.story_assets(conn, story.id)
    assert not [p for p in (data_dir / "vault").rglob("*") if p.is_file()]  # the sealed picture went with the row
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ----------------------------------------------------------------- ffmpeg
@pytest.fixture
def fake_ffmpeg(monkeypatch):
    """Point the one ffmpeg runner at another binary for one test (cached binary path reset around it)."""

    def use(path: Path | str) -> None:
        monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(path))
        ffmpeg.ffmpeg_binary.cache_clear()

    yield use
    monkeypatch.undo()
    ffmpeg.ffmpeg_binary.cache_clear()


def _hanging_ffmpeg(folder: Path) -> Path:
    """A stand-in for a hung ffmpeg: it and a child of its own sleep, reading and saying nothing."""
    script = folder / "ffmpeg"
    script.write_text("#!/bin/sh\nsleep 300 &\nwait\n")
    script.chmod(0o755)
    return script


@pytest.fixture
def started_groups(monkeypatch) -> list[int]:
    """The process groups of the children started during the test (each ffmpeg leads its own)."""
    groups: list[int] = []
    real_popen = subprocess.Popen

    def recording_popen(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        groups.append(proc.pid)
        return proc

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    return groups


def _members(group: int, settle: float = 5.0) -> list[int]:
    """Live processes in a process group (from /proc; zombies are dead), after a moment for SIGKILL to land."""
    import time

    deadline = time.monotonic() + settle
    while (found := _live_in_group(group)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def _live_in_group(group: int) -> list[int]:
    return [pid for pid, fields in processes().items() if int(fields[2]) == group and fields[0] != "Z"]


def test_fault_ffmpeg_missing_fails_the_job_plainly(fake_ffmpeg, data_dir, tmp_path):
    fake_ffmpeg(tmp_path / "nowhere" / "ffmpeg")
    with pytest.raises(ffmpeg.FFmpegError) as failure:
        ffmpeg.run_ffmpeg(["-version"])
    assert str(failure.value) == ffmpeg.MISSING
    conn = open_database(db_path(data_dir))
    job = state.create_job(conn, "demo", {"quality": "preview"})
    assert run_job(job, str(data_dir), HANDLERS, KEY) == "failed"
    # The sound and the pictures start together: either may be the first to say so.
    assert ffmpeg.MISSING in state.get_job(conn, job).error
    assert not list(plaintext_folders(data_dir))  # the job's work folder went with it
    assert not list((data_dir / "work").glob("*"))


def test_fault_no_ffmpeg_anywhere_is_plain(monkeypatch):
    import imageio_ffmpeg

    def nothing_found():
        raise RuntimeError(
            "No ffmpeg exe could be found. Install ffmpeg on your system, or set the IMAGEIO_FFMPEG_EXE environment variable."
        )

    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE", raising=False)
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", nothing_found)
    ffmpeg.ffmpeg_binary.cache_clear()
    try:
        with pytest.raises(ffmpeg.FFmpegError) as failure:
            ffmpeg.run_ffmpeg(["-version"])
    finally:
        monkeypatch.undo()
        ffmpeg.ffmpeg_binary.cache_clear()
    assert str(failure.value) == ffmpeg.MISSING


def test_fault_ffmpeg_failing_is_plain_with_details_kept(data_dir):
    bad = ["-f", "lavfi", "-i", "sine=duration=1", "-no_such_option", "1", "-f", "null", "-"]
    with pytest.raises(ffmpeg.FFmpegError) as failure:
        ffmpeg.run_ffmpeg(bad)
    assert_plain(str(failure.value))
    assert "no_such_option" in failure.value.detail  # ffmpeg's own words stay for developers
    conn = open_database(db_path(data_dir))
    job = state.create_job(conn, "encode")
    assert run_job(job, str(data_dir), {"encode": lambda ctx: ffmpeg.run_ffmpeg(bad) and {}}, KEY) == "failed"
    assert state.get_job(conn, job).error == str(failure.value)


@pytest.mark.parametrize("how", ["run", "pipe", "read"])
def test_fault_ffmpeg_hanging_is_killed_with_its_children(fake_ffmpeg, started_groups, tmp_path, how):
    fake_ffmpeg(_hanging_ffmpeg(tmp_path))
    with pytest.raises(ffmpeg.FFmpegError) as failure:
        if how == "run":
            ffmpeg.run_ffmpeg(["-i", "x.wav", "y.wav"], timeout=1)
        elif how == "pipe":  # it stops reading the frames: the write blocks until the watchdog ends it
            with ffmpeg.open_ffmpeg(["-i", "-", "y.mp4"], timeout=1) as pipe:
                for _ in range(64):
                    pipe.write(b"\0" * (1 << 20))
        else:  # it never says a word: the read blocks until the watchdog ends it
            for _ in ffmpeg.read_ffmpeg(["-i", "x.wav", "-f", "s16le", "pipe:1"], timeout=1):
                pass
    assert str(failure.value) == "Media processing took longer than 1 s and was stopped."
    assert len(started_groups) == 1 and _members(started_groups[0]) == []


def test_fault_ffmpeg_hanging_fails_the_job_and_leaves_no_process(fake_ffmpeg, started_groups, data_dir, tmp_path):
    fake_ffmpeg(_hanging_ffmpeg(tmp_path))
    conn = open_database(db_path(data_dir))
    job = state.create_job(conn, "encode")
    handlers = {"encode": lambda ctx: ffmpeg.run_ffmpeg(["-i", "x.wav", str(ctx.workdir / "y.wav")], timeout=1, cancel=ctx.cancelled)}
    assert run_job(job, str(data_dir), handlers, KEY) == "failed"
    assert state.get_job(conn, job).error == "Media processing took longer than 1 s and was stopped."
    assert len(started_groups) == 1 and _members(started_groups[0]) == []


# ----------------------------------------------------------------- the database's write lock
@contextlib.contextmanager
def served(app):
    """The app on waitress over loopback, four request threads as `storyteller serve` has; yields its URL."""
    from waitress import wasyncore
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="")
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.task_dispatcher.shutdown()
        wasyncore.close_all(server._map)
        thread.join(timeout=10)


def _signed_in_browser(url: str, workshop: int, participant: int, pin: str):
    import requests

    browser = requests.Session()
    reply = browser.post(f"{url}/story/signin", data={"workshop": workshop, "participant": participant, "pin": pin}, allow_redirects=False)
    assert reply.status_code == 302, reply.text
    return browser


def test_fault_write_lock_held_concurrent_requests_wait_and_none_fails(app, data_dir):
    """Another connection holds the write lock (a job finishing, a backup) while four requests arrive at once.

    Her script save, another participant's autosave, her writing page (which notes her step)
    and a job-status poll: none answers 500, each save lands once the lock is let go, and the
    database is whole. The order is kept by events: the lock is let go only after all four
    requests have reached the app, and a save can only finish after that.
    """
    from storyteller.store import stories
    from storyteller.store.participants import add_participant
    from storyteller.store.workshops import create_workshop

    conn = open_database(db_path(data_dir))
    workshop = create_workshop(conn, "Circle", "en")
    sitara, amina = add_participant(conn, workshop, "Sitara", "4821"), add_participant(conn, workshop, "Amina", "7315")
    her_story = stories.story_of(conn, sitara, "en", workshop_key(app))
    other_story = stories.story_of(conn, amina, "en", workshop_key(app))
    for story in (her_story, other_story):
        stories.record_consent(conn, story.id, "workshop", "test", "en", workshop_key=workshop_key(app))
    job = state.create_job(conn, "photo_faces", {}, story_id=her_story.id)

    arrived, all_arrived = [], threading.Event()
    serve_app = app.wsgi_app

    def count_arrivals(environ, start_response):  # tells the test when every request is inside the app
        arrived.append(environ["PATH_INFO"])
        if len(arrived) == 4:
            all_arrived.set()
        return serve_app(environ, start_response)

    with served(app) as url:
        her = _signed_in_browser(url, workshop, sitara, "4821")
        other = _signed_in_browser(url, workshop, amina, "7315")
        fetch = {"X-Requested-With": "fetch"}
        requests_at_once = {
            "her script save": lambda: her.post(
                f"{url}/story/write/save", data={"script": "My words, kept.", "title": "Kept", "revision": 0}
            ),
            "an autosave": lambda: other.post(f"{url}/story/write/save", headers=fetch, data={"script": "Her words too.", "revision": 0}),
            "her writing page": lambda: her.get(f"{url}/story/write"),
            "a job-status poll": lambda: her.get(f"{url}/jobs/{job}.json", headers=fetch),
        }
        app.wsgi_app = count_arrivals
        blocker = sqlite3.connect(str(db_path(data_dir)), isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        blocker.execute("UPDATE jobs SET stage = stage")
        released = threading.Event()
        replies: dict[str, tuple[int, bool, str]] = {}

        def send(name, request):
            reply = request()
            replies[name] = (reply.status_code, released.is_set(), reply.text)

        threads = [threading.Thread(target=send, args=item) for item in requests_at_once.items()]
        for thread in threads:
            thread.start()
        try:
            assert all_arrived.wait(timeout=60), arrived
            threading.Event().wait(2.0)  # the lock stays held a while with all four inside (no assertion rests on it)
        finally:
            released.set()  # before COMMIT: a write that finished can only have seen it set
            blocker.execute("COMMIT")
            blocker.close()
        for thread in threads:
            thread.join(timeout=120)
        app.wsgi_app = serve_app
    assert sorted(replies) == sorted(requests_at_once)
    for name, (status, after_release, text) in replies.items():
        assert status == 200, (name, status, text[:500])
        if name != "a job-status poll":  # a read needs no write lock; each of the others writes
            assert after_release, f"{name} finished while another connection held the write lock"
    assert stories.get_story(conn, her_story.id, workshop_key(app)).script == "My words, kept."
    assert stories.get_story(conn, her_story.id, workshop_key(app)).title == "Kept"
    assert stories.get_story(conn, other_story.id, workshop_key(app)).script == "Her words too."
    assert stories.get_story(conn, her_story.id, workshop_key(app)).step == "story"  # her page noted where she is
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ----------------------------------------------------------------- nothing sent, nothing left
def test_fault_onnxruntime_leaves_no_telemetry_files(tmp_path):
    """onnxruntime writes a device id, an event store to upload and a session file unless told not to."""
    env = {**os.environ, "HOME": str(tmp_path), "TMPDIR": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("ORT_DISABLE_TELEMETRY", None)
    subprocess.run([sys.executable, "-c", "import storyteller.pipeline.faces.detect, onnxruntime"], env=env, check=True)
    assert not list(tmp_path.rglob("*"))


# ----------------------------------------------------------------- what a person sees at the terminal
SAMPLE = Path(__file__).resolve().parents[1] / "media" / "sample"


def screen(text: str) -> list[str]:
    """What a terminal shows after ``text``: a carriage return goes back to the start of the line."""
    lines, line, col = [], [], 0
    for ch in text:
        if ch == "\n":
            lines.append("".join(line).rstrip())
            line, col = [], 0
        elif ch == "\r":
            col = 0
        else:
            line[col : col + 1] = [ch]
            col += 1
    lines.append("".join(line).rstrip())
    return [row for row in lines if row]


def bad_files(folder: Path) -> dict[str, Path]:
    """Files that are not what their names say: empty, noise, text, cut short."""
    import numpy as np

    rng = np.random.default_rng(16)
    clip = folder / "clip.mp4"
    ffmpeg.run_ffmpeg(["-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=10", "-pix_fmt", "yuv420p", str(clip)])
    contents = {
        "empty.wav": b"",
        "noise.wav": rng.bytes(6000),
        "text.wav": b"this is not a recording\n" * 50,
        "cut.ogg": (SAMPLE / "narration.ogg").read_bytes()[:3000],
        "empty.jpg": b"",
        "noise.jpg": rng.bytes(6000),
        "cut.jpg": (SAMPLE / "01.jpg").read_bytes()[:2000],
        "cut.mp4": clip.read_bytes()[: clip.stat().st_size // 3],
    }
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in contents}


def _cli_cases(folder: Path):
    from tests.conftest import whisper_model_or_skip

    model = whisper_model_or_skip("whisper-tiny.en").path
    files = bad_files(folder)
    for name, path in files.items():
        if path.suffix in (".wav", ".ogg"):
            yield ["transcribe", str(path), "--model", str(model), "-o", str(folder / f"{name}.srt")]
            yield ["voice", str(path), "-o", str(folder / f"{name}.out.wav")]
        else:
            yield ["faces", str(path), "-o", str(folder / f"out-{name}")]


def test_enospc_cli_errors_are_one_plain_line_after_the_bar_is_wiped(runner, tmp_path):
    """Bad files through transcribe, voice and faces: a clean error (one plain line, the bar gone) or a whole output."""
    from storyteller.cli import main

    tried = 0
    for args in _cli_cases(tmp_path):
        result = runner.invoke(main, args)
        tried += 1
        assert isinstance(result.exception, SystemExit | None), (args, result.exception)
        if result.exit_code == 0:  # a whole output is the other acceptable answer
            assert Path(result.stdout.strip()).stat().st_size > 0, args
            continue
        shown = screen(result.stderr)
        assert result.exit_code == 1 and len(shown) == 1 and shown[0].startswith("Error: "), (args, shown)
        assert_plain(shown[0].removeprefix("Error: "))
    assert tried == 12


def test_enospc_cli_full_disk_reads_plainly(runner, monkeypatch, tmp_path):
    from storyteller.cli import main

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(os, "replace", full)
    result = runner.invoke(main, ["faces", str(SAMPLE / "01.jpg"), "-o", str(out / "masked.jpg")])
    monkeypatch.undo()
    assert result.exit_code == 1
    assert screen(result.stderr) == ["Error: " + plain_message(OSError(errno.ENOSPC, ""))]
    assert not list(out.iterdir())
