"""Soak: 30 cycles of create, record, render and delete against the real server and worker.

    PYTHONPATH=. .venv/bin/python tests/bench/soak.py [--cycles 30] [--json FILE]

`storyteller serve --no-worker` (waitress on a free loopback port) and `storyteller worker`
over a fresh data folder. Each cycle: a workshop, a participant and her story are made with
the store functions; she signs in over HTTP, adds a picture (the upload route; the worker
masks it), uploads a 5-second narration (the upload route) and starts a preview render
(the render route); when it is done every asset of the story is removed with the store's
remove_asset and the workshop row is deleted (participants, stories, jobs go with it).

Measured before the first cycle, after the first (the warm-up: imports, models and pools
are loaded once) and after the last: open file descriptors of the server and of the worker,
files in the data folder (vault and its temp and recording folders), temp entries in the
temp folder (TMPDIR) the two processes are given, and the database size after a WAL checkpoint and VACUUM. None may grow
from the warm-up to the end. Exit status 1 when one does.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import PIN, Tab, free_port, photo, set_passphrase, speech_like, start_server, start_worker, stop, wav_bytes  # noqa: E402


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def files_under(folder: Path) -> int:
    return sum(len(files) for _root, _dirs, files in os.walk(folder))


def db_bytes_after_vacuum(data: Path) -> int:
    from storyteller.store.db import db_path

    path = db_path(data)
    conn = sqlite3.connect(path, timeout=30)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return Path(path).stat().st_size


def temp_entries(folder: Path) -> int:
    """Files and folders left in the server's and worker's own temp folder (their TMPDIR)."""
    return sum(1 for _ in folder.rglob("*"))


def wait_done(conn, job_id: int, seconds: float = 600) -> str:
    from storyteller.jobs import state

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = state.get_job(conn, job_id)
        if job.finished:
            return job.state
        time.sleep(0.3)
    return "timed out"


def cycle(n: int, base: str, data: Path, tmp: Path, picture: bytes, take: bytes, key: bytes) -> str:
    from storyteller.store import stories
    from storyteller.store.db import db_path, open_database
    from storyteller.store.participants import add_participant
    from storyteller.store.vault import vault_for
    from storyteller.store.workshops import create_workshop

    conn = open_database(db_path(data))
    try:
        workshop = create_workshop(conn, f"Soak {n}", "en")
        participant = add_participant(conn, workshop, f"P{n}", PIN)
        story = stories.story_of(conn, participant, "en", key)
        stories.record_consent(conn, story.id, "workshop", "soak", "en", workshop_key=key)
        tab = Tab(base)
        tab.sign_in(workshop, participant)
        tab.page("/story/pictures")
        _ms, status, reply = tab.post("/story/pictures/add", {"kind": "photo"}, {"picture": ("p.jpg", picture, "image/jpeg")})
        if status != 200 or wait_done(conn, reply["job"]) != "done":
            return f"picture: {status} {reply}"
        tab.page("/story/record")
        fields = {"csrf_token": tab.token}
        _ms, status, _reply = tab.post("/story/record/upload", fields, {"audio": ("take.wav", take, "audio/wav")})
        if not stories.narration_takes(conn, story.id):
            return f"narration: {status}"
        job = tab.start_render("preview")
        outcome = wait_done(conn, job)
        if outcome != "done":
            return f"render: {outcome}"
        vault = vault_for(data)
        for asset in stories.story_assets(conn, story.id):
            stories.remove_asset(conn, vault, asset)
        conn.execute("DELETE FROM workshops WHERE id = ?", (workshop,))
        conn.commit()
        return "ok"
    finally:
        conn.close()


def measure(server, worker, data: Path, tmp: Path) -> dict:
    return {
        "server_fds": fds(server.pid),
        "worker_fds": fds(worker.pid),
        "data_files": files_under(data),
        "temp_entries": temp_entries(tmp / "tmpdir"),
        "db_bytes": db_bytes_after_vacuum(data),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=30)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-") as d:
        tmp, data = Path(d), Path(d) / "data"
        data.mkdir()
        picture = photo(tmp / "p.jpg", 3, size=(1200, 900)).read_bytes()
        take = wav_bytes(speech_like(5.0, seed=5))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # Their own TMPDIR, so that what they leave there is counted apart from other programs.
        (tmp / "tmpdir").mkdir()
        own_temp = {"TMPDIR": str(tmp / "tmpdir")}
        key = set_passphrase(data)
        server = start_server(port, data, tmp / "server.log", **own_temp)
        worker = start_worker(data, tmp / "worker.log", key, **own_temp)
        seconds, failures = 0.0, ["did not start"]
        try:
            import urllib.request

            for _ in range(300):
                try:
                    urllib.request.urlopen(base + "/", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.2)
            time.sleep(1.0)
            points = {"start": measure(server, worker, data, tmp)}
            t0 = time.perf_counter()
            failures = []
            for n in range(1, args.cycles + 1):  # bounded: --cycles
                outcome = cycle(n, base, data, tmp, picture, take, key)
                if outcome != "ok":
                    failures.append(f"cycle {n}: {outcome}")
                if n == 1:
                    time.sleep(1.0)
                    points["after 1"] = measure(server, worker, data, tmp)
            time.sleep(1.0)
            points[f"after {args.cycles}"] = measure(server, worker, data, tmp)
            seconds = time.perf_counter() - t0
        finally:
            stop(worker)
            stop(server)
        leftover = sorted(str(p.relative_to(tmp / "tmpdir")) for p in (tmp / "tmpdir").rglob("*"))
        keys = list(points["start"])
        print(
            f"{args.cycles} cycles of create, picture, narration, preview render, delete in {seconds:.0f} s; failures: {failures or 'none'}"
        )
        print(f"{'':12}" + "".join(f"{k:>14}" for k in keys))
        for label, row in points.items():
            print(f"{label:12}" + "".join(f"{row[k]:>14}" for k in keys))
        warm, end = points["after 1"], points[f"after {args.cycles}"]
        grew = {k: end[k] - warm[k] for k in keys if end[k] > warm[k]}
        print(f"growth from the warm-up to the end: {grew or 'none'}; left in the temp folder: {leftover[:5] or 'nothing'}")
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(
                    json.dumps({"cycles": args.cycles, "seconds": seconds, "failures": failures, "points": points, "grew": grew}) + "\n"
                )
        sys.exit(1 if grew or failures else 0)


if __name__ == "__main__":
    main()
