"""Render benchmark: our composition against x264 alone, measured in the same run.

    .venv/bin/python tests/bench/bench_render.py            # everything (about 10-15 min on 2 cores)
    .venv/bin/python tests/bench/bench_render.py --only a   # just the ratio

(a) A 60 s story at 720p final (8 photos, narration, music, subtitles). Each run
    renders it, then re-encodes its frames (decoded from our MP4) with the same x264
    preset, crf and profile. Target: median render / median re-encode <= 1.3.
(a') The same ratio against x264 on the very raw frames we piped (captured once in an
    untimed render). This is the fairer anchor: frames decoded from our MP4 have lost
    their grain to the first encode, so x264 re-encodes them faster than the originals.
    Wall and CPU (user+system of the whole process tree) ratios are both printed; on a
    shared machine the CPU ratio is the steadier one.
(b) A 3-minute story at 720p: final (< 120 s) and preview (< 20 s).
(c) Peak RSS of the whole process tree (Python + ffmpeg) for a 3-minute 1080p
    render (< 1 GB), sampled every 0.1 s from /proc.

Inputs are generated in a temp folder: synthetic 12-megapixel "photos" (smooth
colour fields with grain, so x264 sees realistic detail), the sample narration
looped, the sample music, a cue every 3 s (some in Urdu). Nothing is written to
the repository. The machine may be shared, so the ratio is the figure to trust.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from storyteller.pipeline.media.ffmpeg import run_ffmpeg  # noqa: E402
from storyteller.pipeline.media.probe import probe  # noqa: E402
from storyteller.pipeline.render.encode import QUALITIES, render_story  # noqa: E402

SAMPLE = ROOT / "media" / "sample"
LINES = [
    "I kept the messages, because I knew one day I would need them.",
    "میں نے ہمت کی اور اپنی بہن کو سب کچھ بتا دیا",
    "The helpline listened: no judgement, only questions.",
    "Today I want other girls to know: you are not alone.",
    "ہم سب کی آواز اہم ہے",
]


def make_photo(path: Path, seed: int, size=(4000, 3000)) -> None:
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 6, (h // 2, w // 2, 1)).astype(np.float32)
    img = np.clip(img.astype(np.float32) + cv2.resize(grain, (w, h))[:, :, None], 0, 255).astype(np.uint8)
    for _ in range(12):  # some edges
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(50, 600)), c, -1, cv2.LINE_AA)
    if seed % 3 == 2:
        img = np.ascontiguousarray(img[:, : h * 3 // 4])  # a portrait photo: blurred fill
    cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 88])


def make_story(folder: Path, seconds: float, photos: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(photos):
        make_photo(folder / f"p{i:02d}.jpg", i)
    run_ffmpeg(["-stream_loop", "-1", "-i", str(SAMPLE / "narration.ogg"), "-t", f"{seconds:.2f}",
                "-c:a", "libopus", "-b:a", "32k", "-y", str(folder / "narration.ogg")])
    (folder / "music.ogg").write_bytes((SAMPLE / "music.ogg").read_bytes())
    cues = [{"start": t, "end": t + 2.7, "text": LINES[k % len(LINES)]} for k, t in enumerate(np.arange(0.5, seconds - 3, 3.0))]
    story = {
        "version": 1, "aspect": "16:9", "language": "ur",
        "title": {"text": "میری کہانی · My Story", "duration": 3},
        "scenes": [{"image": f"p{i:02d}.jpg"} for i in range(photos)],
        "end_card": {"text": "#YouAreNotAlone", "lines": ["Helpline 1234"], "duration": 4},
        "narration": {"file": "narration.ogg"},
        "music": {"file": "music.ogg", "volume": 0.3},
        "subtitles": [{"start": float(c["start"]), "end": float(c["end"]), "text": c["text"]} for c in cues],
    }
    (folder / "story.json").write_text(json.dumps(story, ensure_ascii=False), encoding="utf-8")
    return folder


def _cpu() -> float:
    """CPU seconds (user + system) used so far by this process and its finished children (ffmpeg)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


CPU: list[float] = []  # CPU seconds of the last timed() call


def timed(fn) -> float:
    """Wall seconds of fn(); its CPU seconds (whole process tree) are appended to CPU."""
    c, t = _cpu(), time.monotonic()
    fn()
    CPU.append(_cpu() - c)
    return time.monotonic() - t


def reencode(src: Path, dst: Path) -> None:
    q = QUALITIES["final"]
    run_ffmpeg(["-i", str(src), "-map", "0:v", "-c:v", "libx264", "-preset", q.preset, "-crf", str(q.crf),
                "-profile:v", q.profile, "-pix_fmt", "yuv420p", "-y", str(dst)])


def bench_ratio(tmp: Path, runs: int, raw_anchor: bool = True) -> None:
    story = make_story(tmp / "s60", 60.0, 8)
    out = tmp / "r60.mp4"
    renders, encodes, cpu_r, cpu_e = [], [], [], []
    for _ in range(runs):
        renders.append(timed(lambda: render_story(story, out, quality="final")))
        cpu_r.append(CPU[-1])
        encodes.append(timed(lambda: reencode(out, tmp / "re60.mp4")))
        cpu_e.append(CPU[-1])
        print(f"  run: render {renders[-1]:.1f} s wall / {cpu_r[-1]:.1f} s CPU; x264 re-encode {encodes[-1]:.1f} s wall / "
              f"{cpu_e[-1]:.1f} s CPU; wall ratio {renders[-1] / encodes[-1]:.2f}, CPU ratio {cpu_r[-1] / cpu_e[-1]:.2f}",
              flush=True)
    info = probe(out)
    mr, me = statistics.median(renders), statistics.median(encodes)
    cr, ce = statistics.median(cpu_r), statistics.median(cpu_e)
    print(f"(a) 60 s 720p final ({info.duration:.1f} s, {info.video.width}x{info.video.height}): "
          f"render median {mr:.1f} s, re-encode median {me:.1f} s, wall ratio {mr / me:.2f} (target <= 1.3); "
          f"CPU median {cr:.1f} s vs {ce:.1f} s, CPU ratio {cr / ce:.2f} (less sensitive to a shared machine)")
    if raw_anchor:
        bench_raw_anchor(story, tmp, runs, mr, cr)


def bench_raw_anchor(story: Path, tmp: Path, runs: int, render_wall: float, render_cpu: float) -> None:
    """Second anchor: x264 on the very raw frames we piped (captured in an untimed render).

    Re-encoding our MP4 feeds x264 frames that were already compressed once (grain gone),
    which x264 encodes faster than the original frames; this anchor has no such bias.
    """
    import storyteller.pipeline.render.encode as render_mod

    raw = tmp / "frames.yuv"
    captured: dict = {}
    real_open = render_mod.open_ffmpeg

    class Tee:
        def __init__(self, pipe, fh):
            self.pipe, self.fh = pipe, fh

        def write(self, data):
            self.fh.write(data)
            self.pipe.write(data)

        def kill(self):
            self.pipe.kill()

        def __enter__(self):
            self.pipe.__enter__()
            return self

        def __exit__(self, *exc):
            self.fh.close()
            return self.pipe.__exit__(*exc)

    def tee_open(args, **kw):
        captured["args"] = list(args)
        return Tee(real_open(args, **kw), open(raw, "wb"))

    render_mod.open_ffmpeg = tee_open
    try:
        render_story(story, tmp / "capture.mp4", quality="final")
    finally:
        render_mod.open_ffmpeg = real_open
    args = captured["args"]
    # The same video settings, reading the captured file; no sound, no subtitles.
    vid = args[args.index("-c:v"):args.index("-c:a")]
    size = args[args.index("-s") + 1]
    fps = args[args.index("-r") + 1]
    cmd = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", size, "-r", fps, "-i", str(raw), "-map", "0:v", *vid,
           "-f", "mp4", "-y", str(tmp / "anchor.mp4")]
    walls, cpus = [], []
    for _ in range(runs):
        walls.append(timed(lambda: run_ffmpeg(cmd)))
        cpus.append(CPU[-1])
        print(f"  raw-frames anchor: {walls[-1]:.1f} s wall / {cpus[-1]:.1f} s CPU", flush=True)
    raw.unlink()
    aw, ac = statistics.median(walls), statistics.median(cpus)
    print(f"(a') x264 on the exact raw frames: median {aw:.1f} s wall / {ac:.1f} s CPU; "
          f"render/anchor wall ratio {render_wall / aw:.2f}, CPU ratio {render_cpu / ac:.2f} (target <= 1.3)")


def bench_three_minutes(tmp: Path, runs: int) -> None:
    story = make_story(tmp / "s180", 180.0, 20)
    finals, previews = [], []
    for _ in range(runs):
        finals.append(timed(lambda: render_story(story, tmp / "f180.mp4", quality="final")))
        previews.append(timed(lambda: render_story(story, tmp / "p180.mp4", quality="preview")))
        print(f"  run: final {finals[-1]:.1f} s (CPU {CPU[-2]:.1f} s), preview {previews[-1]:.1f} s (CPU {CPU[-1]:.1f} s)",
              flush=True)
    print(f"(b) 3 min 720p: final median {statistics.median(finals):.1f} s (target < 120), "
          f"preview median {statistics.median(previews):.1f} s (target < 20)")


def _tree_rss(root: int) -> int:
    """Sum of VmRSS (bytes) over ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def bench_memory(tmp: Path) -> None:
    story = make_story(tmp / "s180hd", 180.0, 20)
    data = json.loads((story / "story.json").read_text(encoding="utf-8"))
    data["hd"] = True
    (story / "story.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    code = ("import sys; from storyteller.pipeline.render.encode import render_story; "
            "r = render_story(sys.argv[1], sys.argv[2]); print(r.width, r.height, round(r.seconds, 1))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(story), str(tmp / "hd.mp4")], stdout=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, _ = proc.communicate()
    stop.set()
    t.join()
    print(f"(c) 3 min 1080p final: {out.strip()} (w h seconds); peak RSS of process tree {peak / 2**20:.0f} MiB (target < 1024)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["a", "b", "c"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--runs-b", type=int, default=3)
    args = ap.parse_args()
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-render-") as d:
        tmp = Path(d)
        if args.only in (None, "a"):
            bench_ratio(tmp, args.runs)
        if args.only in (None, "b"):
            bench_three_minutes(tmp, args.runs_b)
        if args.only in (None, "c"):
            bench_memory(tmp)
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
