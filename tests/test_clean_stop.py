"""`storyteller serve` stopped with SIGTERM or Ctrl+C (SIGINT) takes its worker with it.

The real command runs as a subprocess on a free loopback port, with her render running
in its worker. After the stop: no process it started is left, nothing listens on the
port, and the render is back in line (interrupted, its attempt given back); the next
start renders it to the end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from storyteller.jobs import state
from storyteller.jobs.queue import enqueue, make_huey
from storyteller.store import passphrase
from storyteller.store.db import db_path, open_database
from storyteller.store.vault import plaintext_folders
from tests.conftest import free_port
from tests.journey_helpers import spawn_cli
from tests.test_kill import RENDER_AT_10, alive, descendants, make_her_story, wait_for

PASSPHRASE = "a long facilitator passphrase"


def kill_all(serve: subprocess.Popen, started: set[int]) -> None:
    """After a failure: serve and everything it started (its worker has a process group of its own)."""
    for pid in [serve.pid, *started]:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    serve.wait()


def start_serve(data_dir: Path, port: int) -> subprocess.Popen:
    """`storyteller serve --unlock`: the facilitator's passphrase on its stdin, so its worker gets the key."""
    proc = spawn_cli(
        ["serve", "--port", str(port), "--unlock"],
        data_dir,
        feed=PASSPHRASE.encode() + b"\n",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("serve did not answer: " + proc.stderr.read().decode(errors="replace")) from None
            time.sleep(0.2)


def command_line(pid: int) -> list[bytes]:
    """The process's arguments; none when it ended since it was listed (a render's short-lived ffmpeg)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def worker_of(serve: subprocess.Popen) -> int:
    workers = [p for p in descendants(serve.pid) if b"worker" in command_line(p)]
    assert len(workers) == 1, workers
    return workers[0]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop_and_check(serve: subprocess.Popen, port: int, sig: signal.Signals) -> None:
    started = descendants(serve.pid)
    assert started, "serve started no worker"
    serve.send_signal(sig)
    serve.wait(timeout=40)
    err = serve.stderr.read().decode(errors="replace")
    assert serve.returncode == 0, err
    assert "Traceback" not in err, err
    deadline = time.monotonic() + 5
    while any(alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in started if alive(p)], "a process started by serve outlived it"
    assert not listening(port)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_resume_after_serve_is_stopped_mid_render(data_dir, tmp_path, sig):
    conn = open_database(db_path(data_dir))
    her = make_her_story(data_dir, tmp_path / "her", workshop_key=passphrase.set_first(conn, PASSPHRASE))
    job_id = state.create_job(conn, "render_story", {"quality": "final"}, story_id=her.story_id)
    enqueue(make_huey(data_dir), job_id, data_dir)
    port = free_port()
    serve = start_serve(data_dir, port)
    started = descendants(serve.pid)
    try:
        wait_for(conn, job_id, RENDER_AT_10.reached, 300, "the render")
        assert alive(worker_of(serve))
        stop_and_check(serve, port, sig)
    finally:
        kill_all(serve, started)
    job = state.get_job(conn, job_id)
    assert (job.state, job.attempt) == ("interrupted", 0)  # a stop is not the job's fault: no attempt used
    assert not list(plaintext_folders(data_dir))  # no plain copy of her media is left behind
    assert not list((data_dir / "work").glob("*"))

    serve = start_serve(data_dir, port)
    started = descendants(serve.pid)
    try:
        job = wait_for(conn, job_id, lambda j: j.state == "done", 300, "the resumed render")
        stop_and_check(serve, port, signal.SIGTERM)
    finally:
        kill_all(serve, started)
    assert job.attempt == 1
