"""Render benchmark: our composition against x264 alone, on the very frames we produce.

    .venv/bin/python tests/bench/bench_render.py                 # both stories, 3 repeats (~15 min on 2 cores)
    .venv/bin/python tests/bench/bench_render.py --short         # what `make bench` runs: sample x3, 3-min story ABAB
    .venv/bin/python tests/bench/bench_render.py --only sample   # one story
    .venv/bin/python tests/bench/bench_render.py --memory        # peak RSS of a 3-minute 1080p render
    .venv/bin/python tests/bench/bench_render.py --aac           # the AAC coders on a 3-minute mix, by numbers

Two stories at 720p final quality:
- ``sample``: the shipped sample (media/sample, 21.8 s of drawings, narration, subtitles);
- ``story3min``: a 3-minute story of real photos (../shared/data/faces/*.jpg) and drawings
  made here in code (flat colours and lines, as a participant draws), narration looped from
  the sample, a subtitle every 3 s, some in Urdu. Skipped when ../shared is not there.

For each story:
1. a per-stage profile: one render into a sink that costs nothing (``cat > /dev/null``),
   each stage timed in CPU seconds of the thread that runs it (decode/scale once, colour
   conversion, Ken Burns warp, crossfade, subtitle band, fade, pipe write), and the whole
   frame loop in CPU ms a frame (all threads of the process, so the sound mix running on
   its side thread meanwhile is in it too);
2. the raw NV12 frames the render pipes to x264 are captured once (untimed, composed
   into memory, /dev/shm, instead of x264; a file in the temp folder without the room);
3. repeats of [our render] and [the same ffmpeg binary, the very video arguments we use
   (x264 settings, its threads, NV12 on stdin), fed the captured frames one at a time
   through the same pipe by a thread reading them from memory] alternate (ABAB); medians
   of wall and CPU seconds, and their ratio. Ours is the CPU of the whole process tree
   (Python, the sound's and the mux's ffmpeg); the anchor's is its ffmpeg process alone
   (the feeder's read-and-write is printed beside it). Target: render <= 1.3x x264 alone
   on wall time, the issue's measure; the CPU ratio is printed too, with the load.
Also the fixed costs of the sample (import of the renderer in a fresh interpreter, and the
seconds of a render outside its frame loop). Nothing is written into the repository.
``--json FILE`` appends one result row per story (for tests/bench/run_all.py).

Measured 2026-12-01 23:14-23:26 UTC (--short, load average 4.6 -> 8.3 from other agents), after
the subtitle blend on uint8, the fast chroma halving, the four-channel chroma warp fallback,
still frames sent again without recomposing and frames handed to the pipe by vmsplice:
    sample    render 16.8 s wall / 14.4 s CPU vs x264 alone 14.5 / 11.2: wall 1.16, CPU 1.28 (median of 3, ABAB)
    story3min render 132.6 s / 122.0 s CPU vs x264 alone 132.0 / 95.7: wall 1.00, CPU 1.28 (median of 2, ABAB)
The same --short at 22:52-23:07 UTC on the commit before (load 2.2 -> 9.7): sample wall 1.09,
CPU 1.27; story3min wall 1.08, CPU 1.35. The frame loop's CPU a frame swings with the load
more than it moved, so the before/after of the stages is a profile pair run back to back
(A B A B A B, load 7-8, 23:26-23:29 UTC), in CPU ms a frame:
    sample (3 pairs)    loop 5.35-6.05 -> 4.37-4.49; warp 2.48-2.87 -> 2.48-2.50; pipe write
                        0.54-0.66 -> 0.22-0.30; subtitle blend 0.39-0.43 -> 0.09; colour
                        conversion 0.41 -> 0.16; still copies 0.12-0.14 -> 0.03
    story3min (1 pair)  loop 5.28 -> 4.27 (4.52 in a lone run); warp 2.97 -> 2.78; pipe write
                        0.57 -> 0.22; subtitle blend 0.46 -> 0.13
The warp is now almost all cv2.resize (Y about 1.3 ms, chroma 0.6); about 7% of planes still
fall back to warpAffine, where the sub-pixel offset cannot be reached (scales near 1.5, at
the slow ends of a move from or to the full picture). Tried and left out: resizing with the
fewest extra rows and columns the sub-pixel trick allows (2-3% fewer pixels) measured no gain.
After these figures, each line's width is measured once a layout (Typesetter.width): drawing a
cue's band took 27 ms instead of 35 (30 cues, load 8), the "subtitle band (draw)" row.

Measured 2026-12-01 05:06-05:15 UTC (run_all.py, load average 7 -> 13 from other agents), after
the anchor was fed from memory and the mono sound (mix.py):
    sample    render 13.7 s wall / 7.4 s CPU vs x264 alone 13.7 / 5.5: wall 1.00, CPU 1.36 (median of 3, ABAB)
    story3min render 95.7 s / 60.7 s CPU vs x264 alone 80.7 / 45.4: wall 1.19, CPU 1.34 (median of 2, ABAB)
    composition 2.6-2.7 ms CPU a frame (warp 1.3-1.4, pipe write 0.4, subtitle blend 0.2)
Before, the anchor read a 6 GB file of frames from the shared disk: under load it waited on
the disk (x264 alone 343 s wall for 49 s of CPU), which made our wall ratio 0.77. With the
frames piped from memory, as ours are, the same story measured wall 1.98 and 1.19 in two
pairs at load 8 (05:00 UTC, before the sound change): wall ratios swing with the load, so
they are medians of alternating runs and the CPU ratio is printed beside them.
Earlier history: the raw frames once reached ffmpeg untagged, so it took them for BT.601 and
converted every frame through RGB to BT.709 (about a third of x264's CPU); the sound went
from twoloop AAC through a WAV to the fast coder fed straight from the mix (--aac compares
the coders), and now a mix of mono inputs is mixed and encoded as mono (5.4 -> 3.3 s of
CPU for 3 minutes).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import storyteller.pipeline.render.encode as render_mod  # noqa: E402
import storyteller.pipeline.render.frames as frames_mod  # noqa: E402
import storyteller.pipeline.render.kenburns as kenburns_mod  # noqa: E402
import storyteller.pipeline.render.yuv as yuv_mod  # noqa: E402
from storyteller.pipeline.media.ffmpeg import PIPE_BYTES, KeptWriter, open_ffmpeg, run_ffmpeg  # noqa: E402

SAMPLE = ROOT / "media" / "sample"
FACES = ROOT.parent / "shared" / "data" / "faces"
LINES = [
    "I kept the messages, because I knew one day I would need them.",
    "میں نے ہمت کی اور اپنی بہن کو سب کچھ بتا دیا",
    "The helpline listened: no judgement, only questions.",
    "Today I want other girls to know: you are not alone.",
    "ہم سب کی آواز اہم ہے",
]
CRAYONS = [(40, 60, 200), (60, 170, 60), (220, 140, 40), (40, 200, 230), (160, 60, 160), (90, 90, 90), (30, 120, 230)]


# ----------------------------------------------------------------- inputs
def make_drawing(path: Path, seed: int) -> None:
    """A participant's drawing, photographed: flat crayon colours and black lines on paper."""
    rng = np.random.default_rng(seed)
    w, h = (1800, 2400) if seed % 4 == 3 else (2400, 1800)
    img = np.full((h, w, 3), (236, 240, 242), np.uint8)
    ground = int(h * rng.uniform(0.6, 0.75))
    cv2.rectangle(img, (0, ground), (w, h), CRAYONS[1], -1)
    cv2.circle(img, (int(w * rng.uniform(0.1, 0.9)), int(h * 0.15)), int(h * 0.08), CRAYONS[3], -1)
    for _ in range(int(rng.integers(2, 5))):  # houses, trees, people
        x, s = int(rng.integers(0, w - 400)), int(rng.integers(200, 450))
        colour = CRAYONS[int(rng.integers(0, len(CRAYONS)))]
        cv2.rectangle(img, (x, ground - s), (x + s, ground), colour, -1)
        cv2.rectangle(img, (x, ground - s), (x + s, ground), (20, 20, 20), 6)
        roof = np.array([[x - 30, ground - s], [x + s // 2, ground - s - s // 2], [x + s + 30, ground - s]], np.int32)
        cv2.fillPoly(img, [roof], CRAYONS[0])
        cv2.polylines(img, [roof], True, (20, 20, 20), 6)
    for _ in range(int(rng.integers(1, 4))):
        x, y = int(rng.integers(100, w - 100)), ground - 20
        cv2.circle(img, (x, y - 260), 50, (20, 20, 20), 5)
        cv2.line(img, (x, y - 210), (x, y - 80), (20, 20, 20), 6)
        cv2.line(img, (x - 70, y - 170), (x + 70, y - 170), (20, 20, 20), 6)
        cv2.line(img, (x, y - 80), (x - 50, y), (20, 20, 20), 6)
        cv2.line(img, (x, y - 80), (x + 50, y), (20, 20, 20), 6)
    img = cv2.GaussianBlur(img, (0, 0), 1.2)  # a phone photo of paper, not a vector file
    cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 90])


def make_story(folder: Path, seconds: float, scenes: int, hd: bool = False) -> Path | None:
    """Real photos from ../shared (None when absent) alternating with drawings, narration, music, cues."""
    photos = sorted(FACES.glob("*.jpg"))
    if not photos:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(scenes):
        if i % 2 == 0:
            src = photos[(i // 2) % len(photos)]
            names.append(f"p{i:02d}{src.suffix}")
            (folder / names[-1]).write_bytes(src.read_bytes())
        else:
            names.append(f"d{i:02d}.jpg")
            make_drawing(folder / names[-1], i)
    run_ffmpeg(
        [
            "-stream_loop",
            "-1",
            "-i",
            str(SAMPLE / "narration.ogg"),
            "-t",
            f"{seconds:.2f}",
            "-c:a",
            "libopus",
            "-b:a",
            "32k",
            "-y",
            str(folder / "narration.ogg"),
        ]
    )
    (folder / "music.ogg").write_bytes((SAMPLE / "music.ogg").read_bytes())
    starts = np.arange(0.5, seconds - 3, 3.0)
    story = {
        "version": 1,
        "aspect": "16:9",
        "language": "ur",
        "hd": hd,
        "title": {"text": "میری کہانی · My Story", "duration": 3},
        "scenes": [{"image": n} for n in names],
        "end_card": {"text": "#YouAreNotAlone", "lines": ["Helpline 1234"], "duration": 4},
        "narration": {"file": "narration.ogg"},
        "music": {"file": "music.ogg", "volume": 0.3},
        "subtitles": [{"start": float(t), "end": float(t) + 2.7, "text": LINES[k % len(LINES)]} for k, t in enumerate(starts)],
    }
    (folder / "story.json").write_text(json.dumps(story, ensure_ascii=False), encoding="utf-8")
    return folder


# ----------------------------------------------------------------- measuring
def _cpu() -> float:
    """CPU seconds (user + system) of this process and its finished children (ffmpeg)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process tree) of fn()."""
    c, t = _cpu(), time.monotonic()
    fn()
    return time.monotonic() - t, _cpu() - c


class _Patch:
    """Replace attributes for the duration of a with-block (bench-only instrumentation)."""

    def __init__(self, *triples):
        self.triples, self.saved = triples, []

    def __enter__(self):
        for obj, name, value in self.triples:
            # Keep the raw attribute (a classmethod stays a classmethod when put back).
            self.saved.append((obj, name, vars(obj)[name] if isinstance(obj, type) else getattr(obj, name)))
            setattr(obj, name, value)
        return self

    def __exit__(self, *exc):
        for obj, name, value in reversed(self.saved):
            setattr(obj, name, value)


class _Sink:
    """Stands in for the ffmpeg pipe: the frames go to ``cat > /dev/null`` (a real pipe write,
    through a pipe enlarged as open_ffmpeg's is)."""

    def __init__(self, args, **kw):
        self.proc = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        self.args = list(args)
        try:
            fcntl.fcntl(self.proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass

        self.kept = KeptWriter(self.proc.stdin.fileno())

    def write(self, data) -> None:
        self.proc.stdin.write(data)

    def write_kept(self, buf) -> None:  # as open_ffmpeg's: by reference where Linux allows
        self.kept.write(buf)

    def kill(self) -> None:
        self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait()
        self.kept.release()
        return False


def _video_to(sink_class):
    """An open_ffmpeg that sends the video frames to ``sink_class`` and the sound to the real encoder."""
    real = render_mod.open_ffmpeg

    def open_ffmpeg(args, **kw):
        return sink_class(args) if "rawvideo" in args else real(args, **kw)

    return open_ffmpeg


def _mux_sound_only(video, sound, srt, language, out) -> list[str]:
    """Stands in for the final mux when there is no video (the profile's sink kept none)."""
    return ["-i", str(sound), "-c", "copy", "-f", "mp4", "-y", str(out)]


STAGES = (  # (label, object, attribute): the stage is the time spent inside that call
    ("decode photo", render_mod, "load_photo"),
    ("frame photo (scale/fill)", render_mod, "frame_photo"),
    ("colour conversion", yuv_mod.Planes, "from_rgb"),
    ("canvas blur", kenburns_mod, "prepare_canvas"),
    ("card", render_mod, "card_frame"),
    ("Ken Burns warp", kenburns_mod, "warp_planes"),
    ("frame copy (to draw on)", yuv_mod.Frame, "copy"),
    ("crossfade", yuv_mod.Frame, "blend"),
    ("subtitle band (draw)", frames_mod.CueTrack, "at"),
    ("subtitle band (blend)", yuv_mod.Overlay, "blend_onto"),
    ("fade", yuv_mod.Frame, "fade"),
    ("pipe write", _Sink, "write_kept"),
    ("sound mix (side thread)", render_mod, "mix_soundtrack"),
)


def profile(story: Path, out: Path) -> dict:
    """Per-stage CPU seconds (of the calling thread) in one render into a free sink."""
    spent: dict[str, float] = defaultdict(float)
    depth = threading.local()

    def timer(label, fn):
        def wrapped(*a, **k):
            outer = getattr(depth, "label", None)
            depth.label = label
            t = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                dt = time.thread_time() - t
                spent[label] += dt
                if outer is not None:
                    spent[outer] -= dt  # nested stages count once, in the innermost
                depth.label = outer

        return wrapped

    loop: dict = {}
    real_loop = render_mod.frame_loop

    def frame_loop(*a, **k):
        loop["frames"] = a[5]
        c, t = time.process_time(), time.monotonic()
        real_loop(*a, **k)
        loop["cpu"], loop["wall"] = time.process_time() - c, time.monotonic() - t

    patches = [(obj, name, timer(label, getattr(obj, name))) for label, obj, name in STAGES]
    with _Patch(
        *patches,
        (render_mod, "open_ffmpeg", _video_to(_Sink)),
        (render_mod, "frame_loop", frame_loop),
        (render_mod, "mux_args", _mux_sound_only),
    ):
        t = time.monotonic()
        render_mod.render_story(story, out, quality="final")
        total = time.monotonic() - t
    n = loop["frames"]
    return {
        "frames": n,
        "stages_ms_per_frame": {k: 1000 * v / n for k, v in spent.items()},
        "loop_cpu_ms_per_frame": 1000 * loop["cpu"] / n,
        "loop_wall_ms_per_frame": 1000 * loop["wall"] / n,
        "outside_loop_s": total - loop["wall"],
    }


def _capture_dir(tmp: Path, frames: int, frame_bytes: int) -> Path:
    """Where the captured frames go: memory (/dev/shm) when it has room to spare, else ``tmp``.

    The anchor must read them as cheaply as the render makes them: from a 6 GB file on a
    shared disk x264 waited on reads (a wall ratio of 0.77 under load), which measured the
    disk, not x264.
    """
    shm = Path("/dev/shm")
    try:
        with open("/proc/meminfo") as fh:
            avail = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        avail = 0
    if shm.is_dir() and avail > frames * frame_bytes + (4 << 30):
        return Path(tempfile.mkdtemp(prefix="bench-render-frames-", dir=shm))
    return tmp


def capture(story: Path, tmp: Path, frames: int):
    """Compose once (untimed, no x264), keeping the raw frames and the video command they were for."""
    captured: dict = {}

    class FileSink(_Sink):
        def __init__(self, args, **kw):
            captured["args"] = list(args)
            w, h = (int(v) for v in args[args.index("-s") + 1].split("x"))
            captured["frame_bytes"] = w * h * 3 // 2
            captured["raw"] = _capture_dir(tmp, frames, captured["frame_bytes"]) / "frames.nv12"
            self.fh = open(captured["raw"], "wb")

        def write(self, data) -> None:
            self.fh.write(data)

        write_kept = write

        def kill(self) -> None:
            pass

        def __exit__(self, *exc):
            self.fh.close()
            return False

    with _Patch((render_mod, "open_ffmpeg", _video_to(FileSink)), (render_mod, "mux_args", _mux_sound_only)):
        render_mod.render_story(story, tmp / "capture.mp4", quality="final")
    # Exactly our video command (same x264 settings and threads, same NV12 input on stdin).
    cmd = captured["args"][:-1] + [str(tmp / "anchor.mp4")]
    # Kept open and unlinked at once: gigabytes of memory go back when this process ends,
    # however it ends (run_all.py kills a benchmark that overruns).
    raw = captured["raw"]
    fh = open(raw, "rb", buffering=0)  # noqa: SIM115 (closed by bench_story)
    raw.unlink()
    if raw.parent != tmp:
        raw.parent.rmdir()
    return fh, cmd, captured["frame_bytes"]


def _children_cpu() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def x264_alone(raw, cmd: list[str], frame_bytes: int) -> tuple[float, float, float]:
    """(wall, CPU of the x264 process, CPU of the feeder) encoding the captured frames.

    The frames reach ffmpeg the way the render's do: one frame at a time through its stdin
    pipe (open_ffmpeg, the same enlarged pipe), written by a thread of this process that
    reads them from memory. The anchor's CPU is the ffmpeg process's alone; the feeder's
    (a read and a pipe write a frame, which the render pays too) is reported beside it.
    """
    raw.seek(0)
    kids, me, t = _children_cpu(), time.process_time(), time.monotonic()
    with open_ffmpeg(cmd) as pipe:
        while chunk := raw.read(frame_bytes):
            pipe.write(chunk)
    return time.monotonic() - t, _children_cpu() - kids, time.process_time() - me


def bench_story(name: str, story: Path, tmp: Path, runs: int) -> dict:
    load0 = os.getloadavg()[0]
    prof = profile(story, tmp / f"{name}-profile.mp4")
    print(f"[{name}] {prof['frames']} frames; per-stage CPU ms a frame (thread that runs it):", flush=True)
    for label, ms in sorted(prof["stages_ms_per_frame"].items(), key=lambda kv: -kv[1]):
        print(f"    {label:26s} {ms:6.2f}")
    print(
        f"  frame loop into a free sink: {prof['loop_cpu_ms_per_frame']:.2f} ms CPU a frame (all threads), "
        f"{prof['loop_wall_ms_per_frame']:.2f} ms wall (incl. the side thread's sound mix); "
        f"outside the loop {prof['outside_loop_s']:.2f} s",
        flush=True,
    )
    raw, cmd, frame_bytes = capture(story, tmp, prof["frames"])
    rw, rc, aw, ac, feed = [], [], [], [], []
    try:
        for _ in range(runs):  # A B A B ...: ours and the anchor see the same moments of the machine
            w, c = timed(lambda: render_mod.render_story(story, tmp / f"{name}.mp4", quality="final"))
            rw.append(w)
            rc.append(c)
            w, c, f = x264_alone(raw, cmd, frame_bytes)
            aw.append(w)
            ac.append(c)
            feed.append(f)
            print(
                f"  run: render {rw[-1]:.1f} s wall / {rc[-1]:.1f} s CPU; x264 alone {aw[-1]:.1f} s wall / {ac[-1]:.1f} s CPU "
                f"(+ feeder {f:.1f} s); ratio wall {rw[-1] / aw[-1]:.2f}, CPU {rc[-1] / ac[-1]:.2f} (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    finally:
        raw.close()
    m = {k: statistics.median(v) for k, v in (("rw", rw), ("rc", rc), ("aw", aw), ("ac", ac))}
    row = {
        "bench": f"render {name} 720p final",
        "frames": prof["frames"],
        "runs": runs,
        "ours_wall": m["rw"],
        "ours_cpu": m["rc"],
        "anchor": "x264 alone on the same raw frames, piped from memory",
        "anchor_feeder_cpu": statistics.median(feed),
        "anchor_wall": m["aw"],
        "anchor_cpu": m["ac"],
        "ratio_wall": m["rw"] / m["aw"],
        "ratio_cpu": m["rc"] / m["ac"],
        "compose_cpu_ms_per_frame": prof["loop_cpu_ms_per_frame"],
        "outside_loop_s": prof["outside_loop_s"],
        "stages_ms_per_frame": prof["stages_ms_per_frame"],
        "load": [load0, os.getloadavg()[0]],
    }
    print(
        f"[{name}] medians of {runs}: render {m['rw']:.1f} s wall / {m['rc']:.1f} s CPU, x264 alone {m['aw']:.1f} s / "
        f"{m['ac']:.1f} s: ratio wall {row['ratio_wall']:.2f}, CPU {row['ratio_cpu']:.2f} (target <= 1.3); "
        f"load {load0:.1f} -> {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return row


def import_seconds() -> float:
    """Seconds for a fresh interpreter to import the renderer (a fixed cost of every CLI render)."""
    code = "import time; t = time.monotonic(); import storyteller.pipeline.render.encode; print(time.monotonic() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    return float(out.stdout.strip())


# ----------------------------------------------------------------- memory
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


# ----------------------------------------------------------------- sound
def _log_spectrum(x: np.ndarray) -> np.ndarray:
    """dB power spectrum of every 4th 2048-sample Hann frame of a mono signal."""
    n, hop = 2048, 4096
    frames = np.stack([x[i : i + n] for i in range(0, len(x) - n, hop)]) * np.hanning(n).astype(np.float32)
    return 10 * np.log10(np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-10)


def bench_aac(tmp: Path) -> None:
    """The AAC coders on the 3-minute story's real mix: CPU, bit rate, and distance from the mix.

    Listening by numbers: the waveform SNR of the decoded sound against the mix, and the
    log-spectral distance below 16 kHz over the frames where the mix has sound.
    """
    from storyteller.pipeline.media.audio import decode_audio
    from storyteller.pipeline.render.encode import sound_args
    from storyteller.pipeline.render.mix import SAMPLE_RATE, SoundInput, mix_soundtrack

    story = make_story(tmp / "s180", 180.0, 20)
    if story is None:
        print("aac: skipped (../shared/data/faces is not here)")
        return
    mix = mix_soundtrack(SoundInput(story / "narration.ogg"), SoundInput(story / "music.ogg", 0.0, 0.3), 180.0)
    (tmp / "mix.f32").write_bytes(mix.tobytes())
    ref = _log_spectrum(mix.mean(axis=1))
    top = int(16000 / (SAMPLE_RATE / 2) * ref.shape[1])
    heard = ref[:, :top] > ref[:, :top].max() - 80
    rows = heard.sum(axis=1) > 0
    for coder in ("twoloop", "fast"):
        for rate in ("160k", "128k"):
            out = tmp / f"{coder}{rate}.m4a"
            args = sound_args(render_mod.QUALITIES["final"], out)
            args = [str(tmp / "mix.f32") if a == "pipe:0" else a for a in args]
            args[args.index("-aac_coder") + 1], args[args.index("-b:a") + 1] = coder, rate
            _, cpu = timed(lambda args=args: run_ffmpeg(args))
            got = decode_audio(out, SAMPLE_RATE, 2)[: len(mix)]
            snr = 10 * np.log10(np.sum(mix**2) / np.sum((got - mix) ** 2))
            diff = (_log_spectrum(got.mean(axis=1))[:, :top] - ref[:, :top]) ** 2 * heard
            lsd = np.sqrt(diff.sum(axis=1)[rows] / heard.sum(axis=1)[rows]).mean()
            kbps = out.stat().st_size * 8 / 180.0 / 1000
            print(
                f"aac {coder:7s} {rate}: {cpu:.2f} s CPU for 180 s of sound, {kbps:.0f} kbit/s, SNR {snr:.1f} dB, log-spectral distance {lsd:.2f} dB"
            )


def bench_memory(tmp: Path) -> None:
    story = make_story(tmp / "s180hd", 180.0, 20, hd=True)
    if story is None:
        print("memory: skipped (../shared/data/faces is not here)")
        return
    code = (
        "import sys; from storyteller.pipeline.render.encode import render_story; "
        "r = render_story(sys.argv[1], sys.argv[2]); print(r.width, r.height, round(r.seconds, 1))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(story), str(tmp / "hd.mp4")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
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
    print(f"memory: 3 min 1080p final: {out.strip()} (w h seconds); peak RSS of the process tree {peak / 2**20:.0f} MiB (target < 1024)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["sample", "story3min"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--short", action="store_true", help="the 3-minute story once (make bench)")
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--aac", action="store_true", help="the AAC coders on the 3-minute story's mix (CPU, SNR, spectrum)")
    ap.add_argument("--json", type=Path, help="append one JSON row per story to this file")
    args = ap.parse_args()
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-render-") as d:
        tmp = Path(d)
        if args.memory:
            bench_memory(tmp)
            return
        if args.aac:
            bench_aac(tmp)
            return
        if args.only in (None, "sample"):
            fixed = import_seconds()
            print(f"[sample] fixed cost: import of the renderer in a fresh interpreter {fixed:.2f} s", flush=True)
            row = bench_story("sample", SAMPLE, tmp, args.runs)
            row["import_s"] = fixed
            rows.append(row)
        if args.only in (None, "story3min"):
            story = make_story(tmp / "s180", 180.0, 20)
            if story is None:
                print("[story3min] skipped: ../shared/data/faces is not here")
                rows.append({"bench": "render 3-min photos+drawings 720p final", "skipped": "../shared/data/faces absent"})
            else:
                rows.append(bench_story("story3min", story, tmp, 2 if args.short else args.runs))
    if args.json:
        with open(args.json, "a", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
