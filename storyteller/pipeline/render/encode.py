"""Render a story to a campaign-ready MP4: pictures that move, cards, subtitles, sound.

How (and why this way): every video frame is computed here with numpy/OpenCV and
piped raw into one x264 process (``open_ffmpeg``). The architecture names moviepy 2
for composition, but we drive the frames ourselves: moviepy's CompositeVideoClip
makes renders about 10x slower in 2.2.1 (moviepy #2506), its ``resized(lambda t)``
jitters on slow zooms, and its writer is the same raw pipe into ffmpeg that we use
anyway. With our own loop the only per-frame work is one sub-pixel warp of a
pre-framed canvas (kenburns.py), a crossfade blend while two scenes overlap, and a
blend of a subtitle picture rendered once per cue (textlayout.py), so x264 stays
the bottleneck (see tests/bench/bench_render.py for the measured ratio).

The flow of ``render_story``:
1. plan the timeline (``plan_timeline``): card, scenes, end card, crossfades, "auto"
   scene lengths shared out so the video ends with the narration;
2. mix the soundtrack (mix.py) into a private work folder;
3. generate frames (a prefetch thread frames the next photo while the current scene
   plays; a writer thread feeds ffmpeg) and encode video, soundtrack and a soft
   mov_text subtitle track in one ffmpeg run, metadata stripped (metadata.py);
4. move the MP4 into place atomically and write .srt and .vtt beside it.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storyteller.fsutil import atomic_output, atomic_write_text
from storyteller.pipeline.render import kenburns
from storyteller.pipeline.render.cards import card_frame
from storyteller.pipeline.media.ffmpeg import CancelFn, FFmpegCancelled, ProgressFn, open_ffmpeg
from storyteller.pipeline.media.metadata import H264_STRIP_SEI, STRIP_ARGS
from storyteller.pipeline.render.mix import SoundInput, mix_soundtrack
from storyteller.pipeline.media.images import ImageError, frame_photo, load_photo
from storyteller.pipeline.media.probe import MediaInfo, ProbeError, probe
from storyteller.pipeline.speech.sidecar import srt_text, vtt_text
from storyteller.pipeline.render.story import Story, StoryError, load_story
from storyteller.pipeline.speech.subtitles import Cue
from storyteller.pipeline.render.textlayout import subtitle_image
from storyteller.pipeline.render.yuv import COLOR_ARGS, Frame, Overlay, Planes

SIZES = {"16:9": (1280, 720), "16:9-hd": (1920, 1080), "9:16": (720, 1280), "1:1": (1080, 1080)}
PREVIEW_SHORT_SIDE = 360
# The photo canvas is this many times the output size: room to zoom without upscaling.
CANVAS_SCALE = 1.5
MIN_AUTO_SECONDS = 2.0
DEFAULT_AUTO_SECONDS = 5.0
FADE_IN, FADE_OUT = 0.4, 0.6
ISO639_2 = {"en": "eng", "ur": "urd", "pa": "pan", "ps": "pus", "sd": "snd", "fa": "per", "prs": "prs", "ar": "ara"}


class RenderError(RuntimeError):
    """The story could not be rendered; the message says what to fix."""


@dataclass(frozen=True)
class Quality:
    name: str
    preset: str
    crf: int
    audio_bitrate: str
    profile: str | None
    max_fps: int | None = None


QUALITIES = {
    # veryfast is the laptop sweet spot for x264 (FIELD-NOTES); High profile plays everywhere.
    "final": Quality("final", "veryfast", 21, "160k", "high"),
    # A preview is for checking timing and look while the participant waits: 360p at
    # 15 frames a second costs about a third of the per-frame work of 25.
    "preview": Quality("preview", "ultrafast", 30, "96k", None, max_fps=15),
}


@dataclass(frozen=True)
class RenderResult:
    """What was written: the MP4, its facts, how long it took, and the subtitle files beside it."""

    path: Path
    duration: float
    width: int
    height: int
    seconds: float
    srt_path: Path | None
    vtt_path: Path | None


@dataclass(frozen=True)
class Segment:
    """One piece of the timeline: the title card, a scene, or the end card."""

    kind: str  # "title", "scene" or "end"
    index: int  # scene number for scenes, else -1
    start: float
    duration: float
    overlap: float  # seconds of crossfade with the previous segment

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Timeline:
    segments: tuple[Segment, ...]
    duration: float


def output_size(aspect: str, hd: bool, quality: str) -> tuple[int, int]:
    """Pixel size for an aspect preset; preview is 360 pixels on the short side."""
    w, h = SIZES["16:9-hd" if aspect == "16:9" and hd else aspect]
    if quality == "preview":
        s = PREVIEW_SHORT_SIDE / min(w, h)
        w, h = round(w * s / 2) * 2, round(h * s / 2) * 2
    return w, h


def plan_timeline(story: Story, narration_seconds: float = 0.0, clip_seconds: dict[int, float] | None = None) -> Timeline:
    """Lay out the segments in time (pure; see story.py for the rules)."""
    clip_seconds = clip_seconds or {}
    items: list[tuple[str, int, float | None, str]] = []
    if story.title:
        items.append(("title", -1, story.title.duration, "cut"))
    for i, s in enumerate(story.scenes):
        d = s.duration
        if d is None and s.kind == "video" and clip_seconds.get(i):
            d = clip_seconds[i]
        items.append(("scene", i, d, s.transition))
    if story.end_card:
        items.append(("end", -1, story.end_card.duration, "crossfade"))
    target = story.narration.start + narration_seconds if story.narration and narration_seconds > 0 else 0.0

    def layout(durs: list[float]) -> tuple[list[float], float]:
        overlaps = [0.0]
        for k in range(1, len(items)):
            want = story.transition_seconds if items[k][3] == "crossfade" else 0.0
            overlaps.append(min(want, 0.4 * durs[k - 1], 0.4 * durs[k]))
        return overlaps, sum(durs) - sum(overlaps)

    auto = [k for k, it in enumerate(items) if it[2] is None]
    durs = [it[2] if it[2] is not None else DEFAULT_AUTO_SECONDS for it in items]
    if auto and target > 0:
        # Share the narration out over the auto scenes; two passes settle the overlaps.
        for _ in range(3):
            overlaps, total = layout(durs)
            each = max(MIN_AUTO_SECONDS, durs[auto[0]] + (target - total) / len(auto))
            for k in auto:
                durs[k] = each
    overlaps, total = layout(durs)
    if target > total + 1e-6:
        # Never cut the voice off: hold the last scene longer.
        last_scene = max(k for k, it in enumerate(items) if it[0] == "scene")
        durs[last_scene] += target - total
        overlaps, total = layout(durs)
    segments, t = [], 0.0
    for k, (kind, idx, _, _) in enumerate(items):
        t -= overlaps[k]
        segments.append(Segment(kind, idx, t, durs[k], overlaps[k]))
        t += durs[k]
    return Timeline(tuple(segments), t)


# ----------------------------------------------------------------- sources
class _Still:
    def __init__(self, rgb: np.ndarray):
        self._frame = Frame.from_planes(Planes.from_rgb(rgb))

    def frame(self, t: float) -> Frame:
        return self._frame.copy()  # callers draw subtitles in place

    def close(self) -> None:
        pass


class _KenBurns:
    def __init__(self, canvas: Planes, start: kenburns.View, end: kenburns.View, duration: float, w: int, h: int):
        self.canvas, self.start, self.end, self.duration, self.w, self.h = canvas, start, end, duration, w, h

    def frame(self, t: float) -> Frame:
        view = kenburns.view_at(self.start, self.end, t / self.duration if self.duration > 0 else 0.0)
        out = Frame(self.w, self.h)
        kenburns.warp(self.canvas, view, out)
        return out

    def close(self) -> None:
        self.canvas = None


class _Clip:
    """A video clip scene, decoded in order with PyAV and framed like a photo (muted)."""

    def __init__(self, path: Path, w: int, h: int, fit: str, rotation: int):
        import av

        self.w, self.h, self.fit, self.rotation = w, h, fit, rotation
        try:
            self._container = av.open(str(path))
            stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"
            self._frames = self._container.decode(stream)
        except (av.error.FFmpegError, IndexError) as exc:
            raise RenderError(f"The video clip {path.name} is damaged or has no picture.") from exc
        self._next = None
        self._current: Frame | None = None
        self._done = False

    def _convert(self, vf) -> Frame:
        rgb = vf.to_ndarray(format="rgb24")
        if self.rotation % 360:
            rgb = np.ascontiguousarray(np.rot90(rgb, k=-(self.rotation // 90) % 4))
        return Frame.from_planes(Planes.from_rgb(frame_photo(rgb, self.w, self.h, self.fit if self.fit != "auto" else "blur")))

    def frame(self, t: float) -> Frame:
        while not self._done:
            if self._next is None:
                try:
                    self._next = next(self._frames)
                except (StopIteration, Exception):  # end of clip or a damaged tail: hold the last frame
                    self._done = True
                    break
            if self._current is None or (self._next.time or 0.0) <= t + 1e-3:
                self._current = self._convert(self._next)
                self._next = None
            else:
                break
        if self._current is None:
            return Frame.from_planes(Planes.from_rgb(np.zeros((self.h, self.w, 3), np.uint8)))
        return self._current.copy()

    def close(self) -> None:
        self._container.close()


# ----------------------------------------------------------------- subtitles
class _CueTrack:
    """Subtitle overlays, made once per cue when it first shows and dropped after."""

    def __init__(self, cues: tuple[Cue, ...], w: int, h: int, language: str, rtl: bool):
        self.cues, self.w, self.h, self.language, self.rtl = cues, w, h, language, rtl
        self._cache: dict[int, Overlay | None] = {}
        self._pos = 0

    def at(self, t: float) -> Overlay | None:
        while self._pos < len(self.cues) and self.cues[self._pos].end <= t:
            self._cache.pop(self._pos, None)
            self._pos += 1
        active = None
        k = self._pos
        while k < len(self.cues) and self.cues[k].start <= t:
            if self.cues[k].end > t:
                active = k  # the latest cue that has started wins when two overlap
            k += 1
        if active is None:
            return None
        if active not in self._cache:
            img = subtitle_image(self.cues[active].text, self.w, self.h, self.language, self.rtl or None)
            self._cache[active] = None if img is None else Overlay.from_rgba(*img)
        return self._cache[active]


def video_cues(story: Story, total: float) -> tuple[Cue, ...]:
    """Subtitle cues on the video's clock (shifted by the narration start), clipped to the video."""
    shift = story.narration.start if story.narration else 0.0
    out = []
    for c in story.subtitles:
        start, end = c.start + shift, min(c.end + shift, total)
        if end - start > 0.05 and c.text.strip():
            out.append(Cue(round(start, 3), round(end, 3), c.text))
    return tuple(out)


# ----------------------------------------------------------------- helpers
def _probe_sound(story: Story, which: str) -> tuple[Path, MediaInfo] | None:
    """Probe the story's narration or music file; errors name the field."""
    track = getattr(story, which)
    if track is None:
        return None
    path = story.path(track.file)
    try:
        info = probe(path)
    except ProbeError as exc:
        raise RenderError(f"{which}: {exc}") from exc
    if not info.has_audio:
        raise RenderError(f"{which}: the file {path.name} contains no sound.")
    return path, info


def _narration_seconds(story: Story) -> float:
    probed = _probe_sound(story, "narration")
    if probed is None:
        return 0.0
    info = probed[1]
    return float(info.audio.duration or info.duration or 0.0)


def _check_sound(story: Story, which: str) -> SoundInput | None:
    probed = _probe_sound(story, which)
    if probed is None:
        return None
    path, info = probed
    track = getattr(story, which)
    if not (info.audio.duration or info.duration):
        return None  # a zero-length recording: render as if there were none
    return SoundInput(path, track.start, track.volume)


def encode_args(w: int, h: int, fps: int, q: Quality, audio: Path, srt: Path | None, language: str, out: Path) -> list[str]:
    """The ffmpeg arguments for the final mux: raw I420 frames on stdin + soundtrack + soft subtitles."""
    args = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0", "-i", str(audio)]
    if srt is not None:
        args += ["-i", str(srt)]
    args += ["-map", "0:v", "-map", "1:a"]
    if srt is not None:
        args += ["-map", "2:s"]
    args += ["-c:v", "libx264", "-preset", q.preset, "-crf", str(q.crf), "-pix_fmt", "yuv420p", *COLOR_ARGS]
    if q.profile:
        args += ["-profile:v", q.profile]
    args += ["-g", str(fps * 4), *H264_STRIP_SEI]
    args += ["-c:a", "aac", "-b:a", q.audio_bitrate, "-ar", "48000", "-ac", "2"]
    if srt is not None:
        args += ["-c:s", "mov_text"]
    args += [*STRIP_ARGS]
    if srt is not None:
        args += ["-metadata:s:s:0", f"language={ISO639_2.get(language, 'und')}"]
    args += ["-movflags", "+faststart", "-f", "mp4", "-y", str(out)]
    return args


class _Throttle:
    def __init__(self, progress: ProgressFn | None, every: float = 1.0):
        self.progress, self.every, self.last = progress, every, -1e9

    def __call__(self, fraction: float, force: bool = False) -> None:
        now = time.monotonic()
        if self.progress and (force or now - self.last >= self.every):
            self.last = now
            self.progress(min(1.0, max(0.0, fraction)))


# ----------------------------------------------------------------- main
def render_story(
    story: Story | str | Path,
    out_path: str | Path,
    *,
    quality: str = "final",
    aspect: str | None = None,
    hd: bool | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> RenderResult:
    """Render ``story`` (a Story or a story folder) to ``out_path`` (.mp4), plus .srt/.vtt beside it.

    ``quality`` is "final" (H.264 High, AAC 160k) or "preview" (360p, fastest).
    ``aspect`` overrides the story's own ("16:9", "9:16", "1:1"); ``hd`` picks 1920x1080
    for 16:9 (default: the story's setting). ``progress(fraction)``
    is called about once a second; ``cancel()`` is polled several times a second and
    stops the render (FFmpegCancelled) within a moment, leaving no partial file.
    Raises StoryError, ImageError or RenderError with a plain message on bad input.
    """
    t0 = time.monotonic()
    if not isinstance(story, Story):
        story = load_story(story)
    if quality not in QUALITIES:
        raise RenderError(f'quality: must be "final" or "preview", not "{quality}"')
    if aspect is not None and aspect not in ("16:9", "9:16", "1:1"):
        raise RenderError(f'aspect: must be "16:9", "9:16" or "1:1", not "{aspect}"')
    aspect = aspect or story.aspect
    q = QUALITIES[quality]
    w, h = output_size(aspect, story.hd if hd is None else hd, quality)
    fps = min(story.fps, q.max_fps or story.fps)
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".mp4":
        out_path = out_path.with_suffix(".mp4")
    cancel = cancel or (lambda: False)
    report = _Throttle(progress)
    report(0.0, force=True)

    narration = _check_sound(story, "narration")
    music = _check_sound(story, "music")
    narration_seconds = _narration_seconds(story) if narration else 0.0
    clip_info: dict[int, tuple[float, int]] = {}
    for i, s in enumerate(story.scenes):
        path = story.path(s.media)
        if not path.is_file():
            raise RenderError(f"scenes[{i}].{s.kind}: the file {s.media} is missing from the story folder.")
        if s.kind == "video":
            try:
                info = probe(path)
            except ProbeError as exc:
                raise RenderError(f"scenes[{i}].video: {exc}") from exc
            if not info.has_video:
                raise RenderError(f"scenes[{i}].video: the file {s.media} has no picture.")
            clip_info[i] = (float(info.video.duration or info.duration or 0.0), info.video.rotation)
    timeline = plan_timeline(story, narration_seconds, {i: d for i, (d, _) in clip_info.items()})
    n_frames = max(1, round(timeline.duration * fps))
    duration = n_frames / fps
    cues = video_cues(story, duration)
    canvas_w, canvas_h = round(w * CANVAS_SCALE), round(h * CANVAS_SCALE)

    def make_source(seg: Segment):
        if seg.kind in ("title", "end"):
            card = story.title if seg.kind == "title" else story.end_card
            picture = None
            if seg.kind == "title" and story.scenes[0].kind == "image":
                try:
                    picture = load_photo(story.path(story.scenes[0].media), (w // 4, h // 4))
                except ImageError:
                    picture = None  # the scene itself will report the problem
            return _Still(card_frame(card, w, h, story.language, story.rtl or None, picture))
        scene = story.scenes[seg.index]
        if scene.kind == "video":
            return _Clip(story.path(scene.media), w, h, scene.fit, clip_info[seg.index][1])
        try:
            photo = load_photo(story.path(scene.media), (canvas_w, canvas_h), scene.fit)
        except ImageError as exc:
            raise ImageError(f"scenes[{seg.index}].image: {exc}") from exc
        canvas = frame_photo(photo, canvas_w, canvas_h, scene.fit)
        del photo
        canvas = kenburns.prepare_canvas(canvas, CANVAS_SCALE)
        start, end = kenburns.resolve_motion(scene.motion, seg.index)
        return _KenBurns(canvas, start, end, seg.duration, w, h)

    # The work folder (mixed narration, subtitles) sits beside the output, not in the shared
    # system temp dir, and is removed whatever happens.
    out_path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".render-", dir=out_path.parent))
    try:
        audio = mix_soundtrack(narration, music, duration, work / "soundtrack.wav", cancel=cancel)
        report(0.03)
        srt_in = None
        if cues:
            srt_in = work / "subtitles.srt"
            srt_in.write_text(srt_text(cues), encoding="utf-8")
        subs = _CueTrack(cues, w, h, story.language, story.rtl)
        segments = timeline.segments
        with atomic_output(out_path) as tmp, ThreadPoolExecutor(max_workers=1) as pool:
            with open_ffmpeg(encode_args(w, h, fps, q, audio, srt_in, story.language, tmp)) as pipe:
                _frame_loop(pipe, segments, make_source, pool, subs, n_frames, fps, duration, report, cancel)
        srt_path = vtt_path = None
        if cues:
            srt_path = atomic_write_text(out_path.with_suffix(".srt"), srt_text(cues))
            vtt_path = atomic_write_text(out_path.with_suffix(".vtt"), vtt_text(cues))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(1.0, force=True)
    return RenderResult(out_path, duration, w, h, time.monotonic() - t0, srt_path, vtt_path)


def _frame_loop(pipe, segments, make_source: Callable, pool: ThreadPoolExecutor, subs: _CueTrack,
                n_frames: int, fps: int, duration: float, report: _Throttle, cancel: CancelFn) -> None:
    """Generate every frame and hand it to the writer thread that feeds ffmpeg."""
    futures: dict[int, Future] = {}
    sources: dict[int, object] = {}
    frames: queue.Queue = queue.Queue(maxsize=6)
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            while (item := frames.get()) is not None:
                pipe.write(item.buf)
        except BaseException as exc:  # surfaced in the main loop
            failure.append(exc)
            while frames.get() is not None:  # drain so the producer never blocks
                pass

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()

    def source(k: int):
        if k not in sources:
            fut = futures.pop(k, None) or pool.submit(make_source, segments[k])
            sources[k] = fut.result()
        # Prefetch the next segment while this one plays.
        if k + 1 < len(segments) and k + 1 not in futures and k + 1 not in sources:
            futures[k + 1] = pool.submit(make_source, segments[k + 1])
        return sources[k]

    last_poll = 0.0
    try:
        for n in range(n_frames):
            now = time.monotonic()
            if now - last_poll > 0.2:
                last_poll = now
                if cancel():
                    raise FFmpegCancelled("Stopped on request.")
            if failure:
                raise failure[0]
            t = n / fps
            active = [k for k, s in enumerate(segments) if s.start - 1e-9 <= t < s.end] or [len(segments) - 1]
            for k in [k for k in sources if k < active[0]]:
                sources.pop(k).close()
            if len(active) >= 2 and segments[active[-1]].overlap > 0:
                a, b = active[-2], active[-1]
                mix = (t - segments[b].start) / segments[b].overlap
                fa = source(a).frame(t - segments[a].start)
                fb = source(b).frame(t - segments[b].start)
                frame = fa.blend(fb, mix)
            else:
                k = active[-1]
                frame = source(k).frame(min(t - segments[k].start, segments[k].duration))
            overlay = subs.at(t)
            if overlay is not None:
                overlay.blend_onto(frame)
            fade = min(1.0, (t + 0.5 / fps) / FADE_IN, (duration - t - 0.5 / fps) / FADE_OUT)
            if fade < 1.0:
                frame.fade(fade)
            while True:
                try:
                    frames.put(frame, timeout=0.2)
                    break
                except queue.Full:
                    if failure:
                        raise failure[0]
                    if cancel():
                        raise FFmpegCancelled("Stopped on request.")
            report(0.03 + 0.95 * (n + 1) / n_frames)
        frames.put(None)
        thread.join()
        if failure:
            raise failure[0]
    except BaseException:
        pipe.kill()  # a blocked pipe.write in the writer fails at once
        try:
            while True:
                frames.get_nowait()
        except queue.Empty:
            pass
        frames.put_nowait(None)
        thread.join(timeout=2)
        raise
    finally:
        for src in sources.values():
            src.close()
        for fut in futures.values():
            fut.cancel()


__all__ = [
    "RenderError", "RenderResult", "Segment", "Timeline", "StoryError", "ImageError",
    "output_size", "plan_timeline", "render_story", "video_cues", "encode_args",
]
