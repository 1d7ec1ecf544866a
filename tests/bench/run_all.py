"""`make bench`: every benchmark in tests/bench in a short mode, then ONE table.

    .venv/bin/python tests/bench/run_all.py        # 2 cores: 13 min quiet, 30 min at load 7-13

Each row is ours against its anchor measured in the same run of the same benchmark
(medians where it repeats), with the command behind it. A row whose anchor is not on
this machine says so instead of showing a number. Benchmarks that need ../shared data
say "skipped" without it. Each benchmark's full output is kept in the log folder printed
at the end (a temp folder; nothing is written into the repository).

Table of 2026-12-02 02:12-02:25 UTC (the quietest run so far: load average 0.1 at the start, 2-4 from
two agents reading code; 12.9 min: render 5.8, faces 1.4, transcription 3.4, voice 0.4, pages 0.2, load 1.0,
soak 0.7). Each row's anchor from the same run:
    what                                   ours                      anchor (same run)          ratio
    render sample 720p (median of 3 ABAB)  7.4 s wall / 13.3 s CPU   x264 alone 6.0 / 10.3 s    wall 1.23, CPU 1.29
      composition                          4.22 ms CPU a frame, all threads (warp 2.43, card 0.31, subtitle
                                           0.18+0.09, colour 0.17, pipe 0.16); outside the loop 0.07 s, import 0.52 s
    render 3-min photos (median of 2 ABAB) 66.3 s / 111.6 s CPU      x264 alone 63.8 / 88.9 s   wall 1.04, CPU 1.25
      composition                          3.76 ms CPU a frame (warp 2.52, subtitle 0.22+0.13, pipe 0.15); outside 0.17 s
    faces vs deface (720p clip, 1 run)     23.1 s (4.3 fps)          deface 57.8 s (1.7 fps)    time 0.40
    transcription vs openai-whisper (60 s) RTF 0.228                 PyTorch, same weights      9.7x faster (CPU 9.1x)
    voice disguise (1 min take)            59.0x real time           pitch method 15.9x         10 s preview 0.32 s
    page latency (GET /) during a render   p95 27 ms (p50 13)        idle p95 13 ms (p50 8)     p95 2.07
    pages: 3 tabs + 10-min upload          p95 58 ms (p50 15)        target p95 < 500 ms        polls p95 100, chunks 21
      10 renders, one worker killed        10/10 done in 29 s        budget 1536 MB             peak worker RSS 755 MB
    soak: 10 cycles                        growth none               fds 10/6, db 73728 B       the same at the end
Composition is 4.2 / 3.8 ms CPU a frame (every thread of the loop), above the issue's 3 ms; the ratios, which
the issue's "done when" asks for, are within 1.3. The 2026-12-01 run below showed 2.7 / 2.6 with the warp at
1.3-1.4 ms; every profile since (before and after the warp branch) puts the warp near 2.5 ms: not explained.

Table of 2026-12-01 05:06-05:36 UTC (2 cores shared with other agents, load average 7 -> 13;
each row's anchor from the same run; 29.6 min at that load: render 8.6, faces 4.3,
transcription 12.9 (PyTorch openai-whisper alone ~11), voice 0.6, pages 0.4, load 1.5, soak 1.4):
    what                                   ours                      anchor (same run)          ratio
    render sample 720p (median of 3 ABAB)  13.7 s wall / 7.4 s CPU   x264 alone 13.7 / 5.5 s    wall 1.00, CPU 1.36
      composition                          2.72 ms CPU a frame (warp 1.29, pipe 0.38, colour 0.18, subtitle 0.18); outside the loop 0.10 s
    render 3-min photos (median of 2 ABAB) 95.7 s / 60.7 s CPU       x264 alone 80.7 / 45.4 s   wall 1.19, CPU 1.34
      composition                          2.59 ms CPU a frame (warp 1.43, pipe 0.43, subtitle 0.21+0.09); outside 0.13 s
    faces vs deface (720p clip, 1 run)     63.0 s (1.6 fps)          deface 189.2 s (0.5 fps)   time 0.33
    transcription vs openai-whisper (60 s) RTF 0.454                 PyTorch, same weights      23.2x faster (CPU 24.6x)
    voice disguise (1 min take)            31.6x real time           pitch method 8.8x          10 s preview 0.38 s
    page latency (GET /) during a render   p95 24 ms (p50 12)        idle p95 19 ms (p50 9)     p95 1.22
    pages: 3 tabs + 10-min upload          p95 56 ms (p50 24)        target p95 < 500 ms        polls p95 63, chunks 36
      10 renders, one worker killed        10/10 done in 30 s        budget 1536 MB             peak worker RSS 622 MB
    soak: 10 cycles                        growth none               fds 10/7, db 64 kB         the same at the end
  The x264 anchor is fed its frames from memory through the same pipe as the render
  (bench_render.py's docstring): the render ratios are wall medians of alternating runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
LOGS = Path(".")  # a temp folder, made by main()
ROWS: list[tuple[str, str, str, str, str]] = []  # what, ours, anchor, ratio, command


def run(name: str, args: list[str], timeout: float, env: dict | None = None) -> str:
    """Run one benchmark; its output (also in the log folder), or '' when it failed."""
    cmd = [PY, str(HERE / args[0]), *args[1:]]
    print(f"[{time.strftime('%H:%M:%S')}] {' '.join(args)}  (load {os.getloadavg()[0]:.1f})", flush=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env or ENV, cwd=ROOT)
        out = proc.stdout + proc.stderr
        ok = proc.returncode == 0
    except subprocess.TimeoutExpired as exc:
        out, ok = f"{exc.stdout or ''}\ntimed out after {timeout:.0f} s", False
    (LOGS / f"{name}.log").write_text(out if isinstance(out, str) else out.decode(), encoding="utf-8")
    return out if ok else ""


def command(args: list[str]) -> str:
    """The command behind a row, as a person would type it (without the temp file for rows)."""
    if "--json" in args:
        k = args.index("--json")
        args = args[:k] + args[k + 2 :]
    return "python tests/bench/" + " ".join(args)


def last_line(name: str) -> str:
    text = (LOGS / f"{name}.log").read_text(encoding="utf-8").strip().splitlines()
    return text[-1][:70] if text else "no output"


def find(pattern: str, text: str) -> re.Match | None:
    return re.search(pattern, text)


def json_rows(name: str, args: list[str], timeout: float, label: str) -> tuple[list[dict], list[str]]:
    """Run a benchmark that appends JSON rows to ``--json FILE``: its rows (none, and a
    "failed" table row saying why, when it wrote none) and the command behind them."""
    rows_file = LOGS / f"{name}.jsonl"
    args = [*args, "--json", str(rows_file)]
    run(name, args, timeout)
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()] if rows_file.exists() else []
    if not rows:
        ROWS.append((label, "failed", "", "", f"{command(args)}: {last_line(name)}"))
    return rows, args


def render_rows() -> None:
    rows, args = json_rows("render", ["bench_render.py", "--short"], 1500, "render vs x264 alone")
    for r in rows:
        if "skipped" in r:
            ROWS.append((r["bench"], "skipped", r["skipped"], "", command(args)))
            continue
        stages = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["stages_ms_per_frame"].items(), key=lambda kv: -kv[1])[:4])
        ROWS.append(
            (
                f"{r['bench']} ({r['frames']} frames, median of {r['runs']} ABAB)",
                f"{r['ours_wall']:.1f} s wall / {r['ours_cpu']:.1f} s CPU",
                f"x264 alone {r['anchor_wall']:.1f} s / {r['anchor_cpu']:.1f} s",
                f"wall {r['ratio_wall']:.2f}, CPU {r['ratio_cpu']:.2f}",
                f"{command(args)} (load {r['load'][0]:.1f} -> {r['load'][1]:.1f})",
            )
        )
        ROWS.append(
            (
                "  composition, CPU ms a frame",
                f"{r['compose_cpu_ms_per_frame']:.2f} (top: {stages})",
                "target 3 ms",
                "",
                f"outside the frame loop {r['outside_loop_s']:.2f} s" + (f"; import {r['import_s']:.2f} s" if "import_s" in r else ""),
            )
        )


def faces_row() -> None:
    args = ["bench_faces.py", "--repeat", "1"]
    env = dict(ENV)
    deface_venv = os.environ.get("DEFACE_BIN")  # a folder holding a deface executable, if not on PATH
    if deface_venv:
        env["PATH"] = deface_venv + os.pathsep + env["PATH"]
    out = run("faces", args, 900, env)
    ours = find(r"ours:\s+([\d.]+) s\s+([\d.]+) fps", out)
    theirs = find(r"deface:\s+([\d.]+) s\s+([\d.]+) fps", out)
    ratio = find(r"ratio ours/deface: ([\d.]+)", out)
    if not ours:
        ROWS.append(("faces vs deface (720p clip)", "failed/skipped", "", "", f"{command(args)}: {last_line('faces')}"))
        return
    ROWS.append(
        (
            "faces vs deface (720p clip, 1 run each)",
            f"{ours[1]} s ({ours[2]} fps)",
            f"deface {theirs[1]} s ({theirs[2]} fps)" if theirs else "deface not installed here",
            f"time {ratio[1]}" if ratio else "",
            command(args) + " (leaks: --judge DIR, not in the short run)",
        )
    )


def transcribe_row() -> None:
    args = ["bench_transcribe.py", "--runs", "1", "--seconds", "60"]
    out = run("transcribe", args, 900)
    rtf = find(r"RTF faster-whisper base int8, \d+ threads: wall ([\d.]+)", out)
    ow = find(r"speed-up vs PyTorch openai-whisper base \(same weights\): wall ([\d.]+)x, CPU ([\d.]+)x", out)
    fp32 = find(r"speed-up vs faster-whisper float32 \(anchor 2\): wall ([\d.]+)x, CPU ([\d.]+)x", out)
    if not rtf:
        ROWS.append(("transcription", "failed/skipped", "", "", f"{command(args)}: {last_line('transcribe')}"))
        return
    ROWS.append(
        (
            "transcription vs openai-whisper (60 s, base)",
            f"RTF {rtf[1]}",
            "openai-whisper" if ow else "openai-whisper not installed (needs PyTorch, ~GBs of wheels)",
            f"{ow[1]}x faster (CPU {ow[2]}x)" if ow else "n/a",
            command(args),
        )
    )
    if fp32:
        ROWS.append(("  same vs faster-whisper float32", f"RTF {rtf[1]}", "float32", f"{fp32[1]}x faster (CPU {fp32[2]}x)", command(args)))


def voice_row() -> None:
    args = ["bench_voice.py", "--no-eval", "--minutes", "1"]
    out = run("voice", args, 900)
    dis = find(r"disguise \(decode.*?= ([\d.]+)x real time", out)
    pitch = find(r"anchor, WORLD pitch shift.*?= ([\d.]+)x real time", out)
    prev = find(r"preview of 10 s: median ([\d.]+) s", out)
    if not dis:
        ROWS.append(("voice", "failed/skipped", "", "", f"{command(args)}: {last_line('voice')}"))
        return
    ROWS.append(
        (
            "voice disguise, real-time factor (1 min take)",
            f"{dis[1]}x real time",
            f"pitch method {pitch[1]}x" if pitch else "",
            f"10 s preview {prev[1]} s" if prev else "",
            command(args) + " (synthetic: not timed there)",
        )
    )


def pages_row() -> None:
    rows, args = json_rows("pages", ["bench_pages.py", "--requests", "40"], 600, "page latency during a render")
    for r in rows[-1:]:
        ROWS.append(
            (
                "page latency (GET /) during a 720p render",
                f"p95 {r['busy_p95_ms']:.0f} ms (p50 {r['busy_p50_ms']:.0f})",
                f"idle p95 {r['idle_p95_ms']:.0f} ms (p50 {r['idle_p50_ms']:.0f})",
                f"p95 {r['ratio_p95']:.2f}",
                command(args),
            )
        )


def load_rows() -> None:
    rows, args = json_rows("load", ["bench_load.py", "--short"], 1500, "pages under load; 10 renders")
    for r in rows[-1:]:
        ROWS.append(
            (
                "page times: 3 tabs polling a render + 10-min upload",
                f"p95 {r['load_all_p95_ms']:.0f} ms (p50 {r['load_all_p50_ms']:.0f})",
                "target p95 < 500 ms",
                f"polls p95 {r['load_poll_p95_ms']:.0f}, chunks p95 {r['load_chunk_p95_ms']:.0f}",
                command(args),
            )
        )
        ROWS.append(
            (
                "  10 renders, one worker killed halfway",
                f"{r['renders_done']}/{r['renders_renders']} done in {r['renders_total_s']:.0f} s",
                f"budget {1536} MB",
                f"peak worker RSS {r['renders_peak_rss_mb']:.0f} MB",
                command(args),
            )
        )


def soak_row() -> None:
    rows, args = json_rows("soak", ["soak.py", "--cycles", "10"], 1500, "soak")
    for r in rows[-1:]:
        warm, end = r["points"]["after 1"], r["points"][f"after {r['cycles']}"]
        ROWS.append(
            (
                f"soak: {r['cycles']} create/record/render/delete cycles",
                f"growth {r['grew'] or 'none'}" + (f", {len(r['failures'])} failed" if r["failures"] else ""),
                f"after 1: fds {warm['server_fds']}/{warm['worker_fds']}, db {warm['db_bytes']} B",
                f"end: fds {end['server_fds']}/{end['worker_fds']}, db {end['db_bytes']} B",
                command(args) + " (30 cycles: --cycles 30)",
            )
        )


def main() -> None:
    global LOGS
    LOGS = Path(tempfile.mkdtemp(prefix="storyteller-bench-"))
    start, load0 = time.monotonic(), os.getloadavg()[0]
    minutes = []
    for step in (render_rows, faces_row, transcribe_row, voice_row, pages_row, load_rows, soak_row):
        t = time.monotonic()
        step()
        minutes.append(f"{step.__name__.removesuffix('_row').removesuffix('_rows')} {(time.monotonic() - t) / 60:.1f}")
    widths = [max(len(row[i]) for row in ROWS + [("what", "ours", "anchor (same run)", "ratio", "command")]) for i in range(5)]
    print()
    for row in [("what", "ours", "anchor (same run)", "ratio", "command"), *ROWS]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print(
        f"\n{os.cpu_count()} cores; load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; "
        f"{(time.monotonic() - start) / 60:.1f} min ({', '.join(minutes)}); logs in {LOGS}"
    )


if __name__ == "__main__":
    main()
