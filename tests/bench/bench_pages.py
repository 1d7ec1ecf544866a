"""Page latency while a render runs: what a facilitator feels clicking around during a render.

    .venv/bin/python tests/bench/bench_pages.py [--requests 60] [--json FILE]

`storyteller serve` runs as a real process (waitress and its worker) on a free loopback
port with a fresh data folder. A plain loopback client asks for the home page, one
request at a time, first with nothing else running (the anchor), then while
`storyteller render media/sample` (720p final, the same work a render job does) runs in
another process; then idle again. p50 and p95 of each, and the p95 ratio, from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_ms(url: str) -> float:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as r:
        r.read()
    return 1000 * (time.perf_counter() - t)


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20, method="inclusive")[18]


def sample(url: str, n: int, until=None) -> list[float]:
    out = []
    while len(out) < n and (until is None or until()):
        out.append(get_ms(url))
        time.sleep(0.05)  # a person clicking, not a load test
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as d:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "storyteller.cli", "serve", "--port", str(port), "--data", f"{d}/data"],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=ENV,
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    get_ms(url)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        sys.exit("the server did not start")
                    time.sleep(0.2)
            load0 = os.getloadavg()[0]
            idle = sample(url, args.requests)
            render = subprocess.Popen(
                [sys.executable, "-m", "storyteller.cli", "render", str(ROOT / "media" / "sample"), "-o", f"{d}/sample.mp4"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=ENV,
            )
            time.sleep(1.0)  # past the start-up, into the frame loop
            busy = sample(url, args.requests, until=lambda: render.poll() is None)
            render.wait()
            idle += sample(url, args.requests // 2)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)
    row = {
        "bench": "page latency during a 720p render",
        "requests_idle": len(idle),
        "requests_busy": len(busy),
        "idle_p50_ms": statistics.median(idle),
        "idle_p95_ms": p95(idle),
        "busy_p50_ms": statistics.median(busy),
        "busy_p95_ms": p95(busy),
        "load": [load0, os.getloadavg()[0]],
    }
    row["ratio_p95"] = row["busy_p95_ms"] / row["idle_p95_ms"]
    print(
        f"GET / idle: p50 {row['idle_p50_ms']:.1f} ms, p95 {row['idle_p95_ms']:.1f} ms ({len(idle)} requests); "
        f"during a render: p50 {row['busy_p50_ms']:.1f} ms, p95 {row['busy_p95_ms']:.1f} ms ({len(busy)} requests); "
        f"p95 ratio {row['ratio_p95']:.2f}; load {load0:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    if args.json:
        with open(args.json, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
