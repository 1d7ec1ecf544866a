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
import sys
import time
from pathlib import Path

import pytest

from storyteller.jobs import state
from storyteller.store.db import db_path, open_database
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
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
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STORYTELLER_REDIS_URL": redis_url}
    return subprocess.Popen(
        [sys.executable, "-m", "storyteller.cli", "worker", "--data", str(data_dir), "--stale-after", str(STALE_AFTER)],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),  # the child writes its log there
    )


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

    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers = [start_worker(data_dir, redis_url, log) for log in logs]
    try:
        for log in logs:  # both take work from the start, so neither can run everything alone
            wait_until(lambda log=log: "consumer started" in log.read_text(), 60, "worker start")
        monkeypatch.setenv("STORYTELLER_REDIS_URL", redis_url)
        app = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False})
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
    assert not [p for p in (data_dir / "work").iterdir()]
