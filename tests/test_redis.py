"""Scale-out on one machine: the web app and two worker processes share a real Redis queue.

With ``STORYTELLER_REDIS_URL`` set, the app queues jobs in Redis (RedisHuey) instead of
the SQLite queue file, and any number of workers take them; the job table stays the
truth. The Redis server is the one `.ci/run` starts (``STORYTELLER_TEST_REDIS_URL``), or
one started here from the ``redis-server`` on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from storyteller.jobs import state
from storyteller.jobs.unlock import send_key
from storyteller.store.db import db_path, open_database
from storyteller.store.vault import plaintext_folders
from tests.conftest import free_port
from tests.journey_helpers import spawn_cli
from tests.test_kill import KEY, HerVaults

STALE_AFTER = 3.0
JOBS = 4


@pytest.fixture
def redis_url(tmp_path):
    redis = pytest.importorskip("redis", reason="the redis package is not installed (pip install -e '.[test]')")
    url = os.environ.get("STORYTELLER_TEST_REDIS_URL")
    server = None
    if not url:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("no redis-server on PATH: `apt-get install redis-server` (.ci/run installs and starts one)")
        port = free_port()
        server = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not answer"
            time.sleep(0.1)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()
    if server is not None:
        server.terminate()
        server.wait(timeout=10)


def start_worker(data_dir: Path, redis_url: str, log: Path) -> subprocess.Popen:
    """A laptop's worker on the Redis queue, handed the workshop key down its stdin as `serve` does."""
    proc = spawn_cli(
        ["worker", "--stale-after", str(STALE_AFTER), "--key-from-stdin"],
        data_dir,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),  # noqa: SIM115 - the child writes its log there
        STORYTELLER_REDIS_URL=redis_url,
    )
    send_key(proc.stdin, KEY)
    return proc


def started_jobs(log: Path) -> set[int]:
    """The jobs a worker says it started (runner.run_job logs each start)."""
    return {int(line.split()[2].rstrip(":")) for line in log.read_text().splitlines() if " started: " in line and "job " in line}


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout:.0f} s")


@pytest.mark.slow
def test_redis_two_workers_share_the_queue_and_a_killed_one_loses_no_job(redis_url, data_dir, tmp_path, monkeypatch):
    from storyteller.app import create_app

    # The laptop's app is up (its database made) before workers join, as under `storyteller serve`.
    monkeypatch.setenv("STORYTELLER_REDIS_URL", redis_url)
    app = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False})
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers = [start_worker(data_dir, redis_url, log) for log in logs]
    try:
        for log in logs:  # both take work from the start, so neither can run everything alone
            wait_until(lambda log=log: "consumer started" in log.read_text(), 60, "worker start")
        client = app.test_client()
        ids = [int(client.post("/demo").headers["Location"].rsplit("/", 1)[1]) for _ in range(JOBS)]
        assert not (data_dir / "queue.sqlite3").exists()  # the queue is Redis, not the file

        conn = open_database(db_path(data_dir))
        # The queue is spread: each worker takes a render while the other is busy with one.
        wait_until(lambda: all(started_jobs(log) for log in logs), 120, "a job started on each worker")
        victim = wait_until(
            lambda: next((j for j in map(lambda i: state.get_job(conn, i), ids) if j.state == "running" and j.progress >= 0.3), None),
            300,
            "render at 30%",
        )
        owner = next(i for i, log in enumerate(logs) if victim.id in started_jobs(log))
        workers[owner].kill()  # mid-render, with the job's queue message already taken out of Redis
        workers[owner].wait()

        jobs = wait_until(
            lambda: (found := [state.get_job(conn, i) for i in ids]) and all(j.finished for j in found) and found, 600, "all jobs done"
        )
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=30)
    assert [j.state for j in jobs] == ["done"] * JOBS, [(j.id, j.state, j.error) for j in jobs]
    ran = [started_jobs(log) for log in logs]
    assert next(j for j in jobs if j.id == victim.id).attempt == 2
    assert victim.id in ran[1 - owner]  # the survivor took the killed worker's job up again
    assert not list(plaintext_folders(data_dir))  # the killed worker's plain copies were wiped too
    assert not list((data_dir / "work").glob("*"))


# ----------------------------------------------------------------- a render machine with its own empty folder
SECRET = "the organisation's render secret"


def start_render_machine(folder: Path, redis_url: str, log: Path) -> subprocess.Popen:
    folder.mkdir(exist_ok=True)
    return spawn_cli(
        ["worker", "--render-machine"],
        folder,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),  # noqa: SIM115 - the child writes its log there
        STORYTELLER_REDIS_URL=redis_url,
        STORYTELLER_RENDER_SECRET=SECRET,
    )


def files_under(folder: Path) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]


def test_redis_a_render_machine_needs_the_same_secret():
    from storyteller.jobs import remote

    sealed = remote.seal(b"one secret", b"her story", "storyteller:render:abc")
    assert remote.unseal(b"one secret", sealed, "storyteller:render:abc") == b"her story"
    assert b"her story" not in sealed
    for secret, key in ((b"another secret", "storyteller:render:abc"), (b"one secret", "storyteller:render:xyz")):
        with pytest.raises(remote.RenderMachineError, match="same render secret"):
            remote.unseal(secret, sealed, key)


class RedisInADict:
    """The few Redis calls a render machine makes, without a Redis server."""

    def __init__(self):
        self.values: dict[str, bytes] = {}

    def get(self, key):
        return self.values.get(key)

    def exists(self, key):
        return key in self.values

    def set(self, key, value, ex=None):
        self.values[key] = value if isinstance(value, bytes) else str(value).encode()

    def incr(self, key):
        self.values[key] = str(int(self.values.get(key, b"0")) + 1).encode()

    def expire(self, key, seconds):
        pass

    def close(self):
        pass


def test_a_render_machine_renders_in_a_private_folder_that_takes_every_temporary_file_and_is_wiped(tmp_path, monkeypatch):
    """ffmpeg and the libraries write temporary files of her story too: they go into the 0700 plaintext folder, wiped after."""
    from storyteller.jobs import remote
    from storyteller.pipeline.render import encode

    monkeypatch.setenv("STORYTELLER_RENDER_SECRET", SECRET)
    monkeypatch.delenv("TMPDIR", raising=False)
    redis = RedisInADict()
    monkeypatch.setattr(remote, "_redis", lambda url=None: redis)
    story = tmp_path / "story"
    story.mkdir()
    (story / "story.json").write_text("{}")
    key = remote.PREFIX + "0123abcd"
    redis.set(key + ":in", remote.seal(SECRET.encode(), remote._pack(story, {"quality": "draft"}), key))
    machine = tmp_path / "render-machine"
    seen = {}

    def render_story(folder, out, *, quality, progress, cancel):
        work = folder.parent
        seen.update(
            work=work,
            mode=work.stat().st_mode & 0o777,
            one_of_its_plaintext_folders=work in list(plaintext_folders(machine)),
            tmpdir=os.environ.get("TMPDIR"),
            tempdir=tempfile.gettempdir(),
        )
        out.write_bytes(b"her video")
        return SimpleNamespace(path=out, duration=1.0, width=2, height=2)

    monkeypatch.setattr(encode, "render_story", render_story)
    assert remote.render_here(key, machine) == "done"
    assert seen["mode"] == 0o700 and seen["one_of_its_plaintext_folders"]
    assert seen["tmpdir"] == seen["tempdir"] == str(seen["work"])
    assert not seen["work"].exists() and not list(plaintext_folders(machine))
    assert "TMPDIR" not in os.environ and tempfile.gettempdir() != str(seen["work"])
    assert redis.exists(key + ":out")


@pytest.mark.slow
def test_redis_render_machine_with_an_empty_folder_renders_her_story_and_a_killed_one_is_replaced(
    redis_url, data_dir, tmp_path, monkeypatch
):
    """The laptop's worker builds her story; render machines that never see its database or vault render it."""
    import redis

    from storyteller.jobs.queue import enqueue, make_huey
    from storyteller.pipeline.media.probe import probe
    from tests.test_kill import make_her_story

    her = make_her_story(data_dir, tmp_path / "her")
    monkeypatch.setenv("STORYTELLER_RENDER_SECRET", SECRET)
    laptop_log, first_log, second_log = (tmp_path / f"{n}.log" for n in ("laptop", "render-1", "render-2"))
    machines = [tmp_path / "render-1", tmp_path / "render-2"]
    laptop = start_worker(data_dir, redis_url, laptop_log)
    first = start_render_machine(machines[0], redis_url, first_log)
    second = None
    conn = open_database(db_path(data_dir))
    try:
        job_id = state.create_job(conn, "render_story", {"quality": "final"}, story_id=her.story_id)
        enqueue(make_huey(data_dir, redis_url=redis_url), job_id, data_dir)
        # Its progress comes back through Redis into her job row.
        wait_until(lambda: (j := state.get_job(conn, job_id)).stage == "rendering" and j.progress >= 0.6, 300, "remote render at 60%")
        assert list(plaintext_folders(machines[0]))  # it renders in its own plaintext folder
        first.kill()  # the render machine loses power mid-render
        first.wait()
        second = start_render_machine(machines[1], redis_url, second_log)
        job = wait_until(lambda: (j := state.get_job(conn, job_id)).finished and j, 300, "the job's end")
    finally:
        for proc in (laptop, first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
    assert job.state == "done" and job.attempt == 1, job.error  # the laptop's job never stopped: only the render moved
    with HerVaults(conn, data_dir, her.workshop_key).of(her.story_id).plain(stories_export(conn, her.story_id)) as video:
        info = probe(video)
    assert info.has_video and info.has_audio and info.duration > her.narration_seconds
    assert "fell silent; sent again" in laptop_log.read_text()
    assert "done" in second_log.read_text()
    assert files_under(machines[1]) == [] and not list(plaintext_folders(machines[1]))  # no database, no vault, no copy of her story left
    restarted = start_render_machine(machines[0], redis_url, first_log)  # the killed one wipes its leftovers when it starts
    wait_until(lambda: not files_under(machines[0]) and not list(plaintext_folders(machines[0])), 60, "leftovers wiped")
    restarted.terminate()
    restarted.wait(timeout=30)
    client = redis.Redis.from_url(redis_url)
    assert client.keys("storyteller:render:*") == []  # nothing of hers stays in Redis
    client.close()


def stories_export(conn, story_id: int) -> str:
    from storyteller.store import stories

    (video,) = stories.story_assets(conn, story_id, "export")
    return video.vault_name
