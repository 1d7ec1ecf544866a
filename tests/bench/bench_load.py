"""Load: page times while a render runs and a 10-minute narration arrives; 10 renders on one worker.

    PYTHONPATH=. .venv/bin/python tests/bench/bench_load.py [--short] [--json FILE]

The real server (`storyteller serve --no-worker`, waitress on a free loopback port) and the
real worker (`storyteller worker`, the process `serve` would start, here started by this
script so that it can be measured and restarted) over a fresh data folder.

(1) A participant starts a render of her story (8 pictures, 90 s of narration; final quality,
    preview with --short). While it runs, a 10-minute narration (speech-like noise, 16 kHz WAV,
    19 MB) goes up through the record page's chunked route (256 KB pieces) and 3 tabs poll the
    render's progress every second. Every request is timed; p50/p95 of the polls, of the chunks,
    and of all requests. Target: p95 < 500 ms.
(2) Ten participants each start a preview render (2 pictures, 20 s narration) on the one worker.
    When half are done the worker is killed (SIGKILL, its process group) and started again.
    All ten must finish; the worker's peak memory (RSS of it and its children, sampled every
    0.2 s) is reported against the 1.5 GB budget.
Every loop is bounded (a request count or a deadline). Writes only to a temp folder.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
PIN = "4821"
PASSPHRASE = "the bench's facilitator passphrase"
CHUNK_BYTES = 256 << 10
BUDGET_MB = 1536


# ----------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], log: Path, **env: str) -> subprocess.Popen:
    """`storyteller ARGS` with a pipe on its stdin (kept open: a worker stops when it closes)."""
    return subprocess.Popen(
        [sys.executable, "-m", "storyteller.cli", *args],
        cwd=ROOT,
        env={**ENV, **env},
        start_new_session=True,
        stdin=subprocess.PIPE,
        stdout=open(log, "ab"),  # noqa: SIM115 - the child keeps it
        stderr=subprocess.STDOUT,
    )


def set_passphrase(data: Path) -> bytes:
    """Set the facilitator passphrase of a new data folder; returns the workshop key."""
    from storyteller.store import passphrase
    from storyteller.store.db import db_path, open_database

    conn = open_database(db_path(data))
    try:
        return passphrase.set_first(conn, PASSPHRASE)
    finally:
        conn.close()


def start_server(port: int, data: Path, log: Path, **env: str) -> subprocess.Popen:
    """`storyteller serve --no-worker --unlock`, the passphrase typed on its stdin: the app holds the key."""
    server = start(["serve", "--no-worker", "--unlock", "--port", str(port), "--data", str(data)], log, **env)
    server.stdin.write(PASSPHRASE.encode() + b"\n")
    server.stdin.flush()
    return server


def start_worker(data: Path, log: Path, key: bytes, **env: str) -> subprocess.Popen:
    """`storyteller worker`, handed the workshop key down its stdin as `serve` does."""
    from storyteller.jobs.unlock import send_key

    worker = start(["worker", "--data", str(data), "--key-from-stdin"], log, **env)
    send_key(worker.stdin, key)
    return worker


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (ffmpeg children included), in MB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total / 2**20


class PeakMemory(threading.Thread):
    """Samples the worker's tree every 0.2 s; ``peak`` in MB. Follows a restarted worker."""

    def __init__(self, pid_of):
        super().__init__(daemon=True)
        self.pid_of, self.peak, self.done = pid_of, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.peak = max(self.peak, tree_rss_mb(self.pid_of()))


# ----------------------------------------------------------------- media
def speech_like(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Noise shaped like speech: 300-3000 Hz, syllables at about 4 a second, pauses between phrases."""
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    noise = sosfilt(butter(4, (300, 3000), "bandpass", fs=rate, output="sos"), rng.standard_normal(n))
    t = np.arange(n) / rate
    syllables = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, None) ** 2
    phrases = (np.sin(2 * np.pi * t / 5.0) > -0.6).astype(float)
    y = noise * syllables * phrases
    return (0.25 * y / (np.max(np.abs(y)) + 1e-9)).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    import io

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((samples * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def photo(path: Path, seed: int, size=(1600, 1200)) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = rng.integers(40, 220, (size[1] // 40, size[0] // 40, 3), dtype=np.uint8)
    Image.fromarray(small).resize(size, Image.BICUBIC).save(path, quality=90)
    return path


def masked_pictures(data: Path, tmp: Path, count: int, key: bytes) -> list[tuple[Path, Path]]:
    """(picture, masked copy) pairs, each masked once by the real photo_faces job in a scratch story.

    Masking takes seconds a picture on a busy machine; the stories below reuse the results
    instead of masking the same pixels again before the measurement starts.
    """
    from storyteller.jobs import state
    from storyteller.jobs.intake import receive_picture
    from storyteller.jobs.runner import run_job
    from storyteller.jobs.tasks import HANDLERS
    from storyteller.store import stories
    from storyteller.store.db import db_path, open_database
    from storyteller.store.participants import add_participant
    from storyteller.store.vault import vault_for
    from storyteller.store.workshops import create_workshop

    conn = open_database(db_path(data))
    story = stories.story_of(conn, add_participant(conn, create_workshop(conn, "Scratch", "en"), "Scratch", PIN), "en", key)
    vault = vault_for(data).with_key(stories.media_key(conn, story.id, key))
    pairs = []
    for i in range(count):
        with open(photo(tmp / f"picture-{i}.jpg", i), "rb") as fh:
            pic = receive_picture(vault, fh)
        asset = stories.add_asset(
            conn, story.id, "photo", pic.vault_name, media_type=pic.media_type, meta={"width": pic.width, "height": pic.height}
        )
        run_job(state.create_job(conn, "photo_faces", {"asset": asset}, story_id=story.id), str(data), HANDLERS, key)
        meta = stories.story_asset(conn, story.id, asset).meta
        pairs.append(
            (vault.decrypt_to(pic.vault_name, tmp / f"original-{i}.jpg"), vault.decrypt_to(meta["masked"], tmp / f"masked-{i}.jpg"))
        )
    conn.close()
    return pairs


def make_story(
    data: Path, tmp: Path, alias: str, pictures: list[tuple[Path, Path]], narration_seconds: float, seed: int, key: bytes
) -> tuple[int, int]:
    """A participant with consent, masked pictures, a narration and a plan; returns (workshop, participant)."""
    from storyteller.store import plans, stories
    from storyteller.store.db import db_path, open_database
    from storyteller.store.participants import add_participant
    from storyteller.store.vault import vault_for
    from storyteller.store.workshops import create_workshop

    conn = open_database(db_path(data))
    workshop = create_workshop(conn, f"Circle {alias}", "en")
    participant = add_participant(conn, workshop, alias, PIN)
    story = stories.story_of(conn, participant, "en", key)
    vault = vault_for(data).with_key(stories.media_key(conn, story.id, key))
    stories.record_consent(conn, story.id, "workshop", "bench", "en", workshop_key=key)
    chosen = []
    for original, masked in pictures:
        masked_name = vault.put_file(masked)
        masked_id = stories.add_asset(conn, story.id, "other", masked_name, media_type="image/jpeg", meta={"role": "masked"})
        meta = {"masked": masked_name, "masked_asset": masked_id, "boxes": []}
        asset = stories.add_asset(conn, story.id, "photo", vault.put_file(original), media_type="image/jpeg", meta=meta)
        chosen.append(plans.Picture(asset))
    take = tmp / f"{alias}-take.wav"
    take.write_bytes(wav_bytes(speech_like(narration_seconds, seed=seed)))
    stories.add_asset(
        conn, story.id, "narration", vault.put_file(take), media_type="audio/wav", meta={"part": "whole", "seconds": narration_seconds}
    )
    stories.save_plan(conn, story.id, plans.Plan(pictures=tuple(chosen), voice="own", title=f"Story of {alias}").to_dict(), key)
    conn.close()
    return workshop, participant


# ----------------------------------------------------------------- a browser tab, roughly
class Tab:
    """One participant's browser: her cookies, the CSRF token of her pages, timed requests."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.token = ""

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None) -> tuple[float, int, bytes]:
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        t = time.perf_counter()
        try:
            with self.opener.open(req, timeout=60) as r:
                body, status = r.read(), r.status
        except urllib.error.HTTPError as exc:
            body, status = exc.read(), exc.code
        return 1000 * (time.perf_counter() - t), status, body

    def page(self, path: str) -> str:
        _ms, status, body = self.request(path)
        text = body.decode("utf-8", "replace")
        found = re.search(r'name="csrf-token" content="([^"]+)"', text)
        if found:
            self.token = found[1]
        return text

    def post(self, path: str, fields: dict, files: dict | None = None) -> tuple[float, int, dict]:
        boundary = uuid.uuid4().hex
        parts = []
        for k, v in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
        for k, (name, content, kind) in (files or {}).items():
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\nContent-Type: {kind}\r\n\r\n'
            parts.append(head.encode() + content + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-CSRFToken": self.token,
            "X-Requested-With": "fetch",
        }
        ms, status, body = self.request(path, b"".join(parts), headers)
        try:
            return ms, status, json.loads(body or b"{}")
        except ValueError:
            return ms, status, {"raw": body[:200].decode("utf-8", "replace")}

    def sign_in(self, workshop: int, participant: int) -> None:
        self.page(f"/story/signin?workshop={workshop}")
        _ms, status, _ = self.post(
            "/story/signin", {"workshop": workshop, "participant": participant, "pin": PIN, "csrf_token": self.token}
        )
        if status not in (200, 302):
            raise SystemExit(f"sign-in failed: {status}")
        self.page("/story/record")

    def start_render(self, quality: str) -> int:
        self.page("/story/render")
        _ms, status, reply = self.post("/story/render", {"quality": quality, "aspect": "16:9", "csrf_token": self.token})
        if status != 200 or "job" not in reply:
            raise SystemExit(f"the render did not start: {status} {reply}")
        return int(reply["job"])


def pct(xs: list[float], q: int) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1] if len(xs) > 1 else (xs[0] if xs else float("nan"))


# ----------------------------------------------------------------- (1) pages under load
def pages_under_load(base: str, workshop: int, participant: int, quality: str) -> dict:
    tab = Tab(base)
    tab.sign_in(workshop, participant)
    job = tab.start_render(quality)
    polls: list[float] = []
    chunks: list[float] = []
    errors: list[str] = []
    render_done = threading.Event()
    upload_done = threading.Event()
    states: list[str] = []

    def poll(n: int) -> None:
        # A tab asks every second, as the render page does; at most 20 minutes of asking.
        for _ in range(1200):
            ms, status, body = tab.request(f"/story/work/{job}", headers={"X-Requested-With": "fetch"})
            polls.append(ms)
            if status != 200:
                errors.append(f"poll {status}")
            elif n == 0:
                data = json.loads(body)
                states.append(data["state"])
                if data["finished"]:
                    render_done.set()
            if render_done.is_set() and upload_done.is_set():
                return
            time.sleep(max(0.0, 1.0 - ms / 1000))

    tabs = [threading.Thread(target=poll, args=(n,)) for n in range(3)]
    for t in tabs:
        t.start()
    take = wav_bytes(speech_like(600, seed=7))
    t0 = time.perf_counter()
    take_id = None
    for offset in range(0, len(take), CHUNK_BYTES):  # bounded: 75 pieces
        fields = {"offset": offset, "type": "audio/wav"} | ({"part": "whole"} if take_id is None else {"take": take_id})
        ms, status, reply = tab.post("/story/record/chunk", fields, {"chunk": ("blob", take[offset : offset + CHUNK_BYTES], "audio/wav")})
        chunks.append(ms)
        if status != 200:
            errors.append(f"chunk {status} {reply}")
            break
        take_id = reply["take"]
    upload_s = time.perf_counter() - t0
    finish_ms, finish_status, finish = tab.post("/story/record/finish", {"take": take_id})
    upload_done.set()
    for t in tabs:
        t.join(timeout=1300)
    everything = polls + chunks
    return {
        "render_state": states[-1] if states else "unknown",
        "render_quality": quality,
        "polls": len(polls),
        "poll_p50_ms": pct(polls, 50),
        "poll_p95_ms": pct(polls, 95),
        "chunks": len(chunks),
        "chunk_p50_ms": pct(chunks, 50),
        "chunk_p95_ms": pct(chunks, 95),
        "all_p50_ms": pct(everything, 50),
        "all_p95_ms": pct(everything, 95),
        "upload_mb": len(take) / 2**20,
        "upload_s": upload_s,
        "finish_ms": finish_ms,
        "finish_status": finish_status,
        "take_seconds": finish.get("seconds"),
        "errors": errors[:5],
    }


# ----------------------------------------------------------------- (2) ten renders, one worker, a restart
def ten_renders(base: str, data: Path, people: list[tuple[int, int]], restart, memory: PeakMemory) -> dict:
    from storyteller.jobs import state
    from storyteller.store.db import db_path, open_database

    jobs = []
    for workshop, participant in people:
        tab = Tab(base)
        tab.sign_in(workshop, participant)
        jobs.append(tab.start_render("preview"))
    conn = open_database(db_path(data))
    t0 = time.perf_counter()
    restarted_at = None
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        found = [state.get_job(conn, j) for j in jobs]
        finished = [j for j in found if j.finished]
        if restarted_at is None and len(finished) >= len(jobs) // 2:
            restarted_at = (len(finished), time.perf_counter() - t0)
            restart()
        if len(finished) == len(jobs):
            break
        time.sleep(0.5)
    found = [state.get_job(conn, j) for j in jobs]
    conn.close()
    return {
        "renders": len(jobs),
        "done": sum(j.state == "done" for j in found),
        "states": sorted({j.state for j in found}),
        "attempts": [j.attempt for j in found],
        "errors": [j.error for j in found if j.error][:3],
        "restarted_after_done": restarted_at[0] if restarted_at else None,
        "restarted_at_s": restarted_at[1] if restarted_at else None,
        "total_s": time.perf_counter() - t0,
        "peak_rss_mb": memory.peak,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true", help="a preview render in part 1 (final otherwise)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as d:
        tmp, data = Path(d), Path(d) / "data"
        data.mkdir()
        t = time.perf_counter()
        key = set_passphrase(data)
        pictures = masked_pictures(data, tmp, 4, key)
        first = make_story(data, tmp, "Sitara", pictures * 2, narration_seconds=90, seed=1, key=key)
        people = [
            make_story(data, tmp, f"P{i}", pictures[i % 4 : i % 4 + 1] * 2, narration_seconds=20, seed=10 + i, key=key) for i in range(10)
        ]
        print(f"setup: 4 pictures masked, 11 stories in {time.perf_counter() - t:.0f} s", flush=True)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(port, data, tmp / "server.log")
        worker = {"proc": start_worker(data, tmp / "worker.log", key)}
        memory = PeakMemory(lambda: worker["proc"].pid)
        memory.start()
        try:
            for _ in range(300):  # the server is up within 60 s
                try:
                    urllib.request.urlopen(base + "/", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.2)
            load = pages_under_load(base, *first, "preview" if args.short else "final")
            print(
                f"(1) during a {load['render_quality']} render ({load['render_state']}) and a 10-minute narration upload "
                f"({load['upload_mb']:.1f} MB in {load['chunks']} chunks, {load['upload_s']:.1f} s; finish {load['finish_ms']:.0f} ms, "
                f"status {load['finish_status']}, {load['take_seconds']} s kept):",
                flush=True,
            )
            print(f"    progress polls from 3 tabs: {load['polls']}, p50 {load['poll_p50_ms']:.0f} ms, p95 {load['poll_p95_ms']:.0f} ms")
            print(f"    upload chunks: p50 {load['chunk_p50_ms']:.0f} ms, p95 {load['chunk_p95_ms']:.0f} ms")
            print(f"    all requests: p50 {load['all_p50_ms']:.0f} ms, p95 {load['all_p95_ms']:.0f} ms (target p95 < 500 ms)")
            if load["errors"]:
                print(f"    errors: {load['errors']}")

            def restart() -> None:
                stop(worker["proc"], signal.SIGKILL)
                worker["proc"] = start_worker(data, tmp / "worker.log", key)

            renders = ten_renders(base, data, people, restart, memory)
            print(
                f"(2) {renders['renders']} preview renders on one worker, killed (SIGKILL) and restarted after "
                f"{renders['restarted_after_done']} finished ({renders['restarted_at_s']:.0f} s): {renders['done']} done "
                f"{renders['states']}, attempts {renders['attempts']}, {renders['total_s']:.0f} s; "
                f"peak worker memory {renders['peak_rss_mb']:.0f} MB (budget {BUDGET_MB} MB)"
            )
            if renders["errors"]:
                print(f"    errors: {renders['errors']}")
        finally:
            memory.done.set()
            stop(worker["proc"])
            stop(server)
            print("worker log tail:\n" + (tmp / "worker.log").read_text(errors="replace")[-1500:], file=sys.stderr)
        result = {**{f"load_{k}": v for k, v in load.items()}, **{f"renders_{k}": v for k, v in renders.items()}}
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(json.dumps(result) + "\n")
        ok = load["all_p95_ms"] < 500 and renders["done"] == renders["renders"] and renders["peak_rss_mb"] < BUDGET_MB
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
