"""Render a story to a campaign-ready MP4: pictures that move, cards, subtitles, sound.

How (and why this way): every video frame is computed here with numpy/OpenCV and
piped raw into one x264 process (``open_ffmpeg``). The architecture names moviepy 2
for composition, but we drive the frames ourselves: moviepy's CompositeVideoClip
makes renders about 10x slower in 2.2.1 (moviepy #2506), its ``resized(lambda t)``
jitters on slow zooms, and its writer is the same raw pipe into ffmpeg that we use
anyway. With our own loop the only per-frame work is one sub-pixel warp of a
pre-framed canvas (kenburns.py, frames.py), a crossfade blend while two scenes overlap, and a
blend of a subtitle picture rendered once per cue (textlayout.py), so x264 stays
the bottleneck (see tests/bench/bench_render.py for the measured ratio).

The flow of ``render_story``:
1. plan the timeline (``plan_timeline``): card, scenes, end card, crossfades, "auto"
   scene lengths shared out so the video ends with the narration;
2. generate frames (a prefetch thread frames the next photo while the current scene
   plays; a writer thread feeds x264) into a video-only MP4 in a private work folder,
   while a side thread mixes the soundtrack (mix.py) and encodes it to AAC;
3. put video, sound and a soft mov_text subtitle track together without re-encoding,
   metadata stripped (metadata.py), and move the MP4 into place atomically;
4. write .srt and .vtt beside it.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2

from storyteller.errors import CancelFn, Cancelled, ProgressFn
from storyteller.fsutil import atomic_output, atomic_write_text
from storyteller.pipeline.media.ffmpeg import open_ffmpeg, run_ffmpeg
from storyteller.pipeline.media.images import ImageError, frame_photo, load_photo
from storyteller.pipeline.media.metadata import H264_STRIP_SEI, STRIP_ARGS
from storyteller.pipeline.media.probe import MediaInfo, require_stream
from storyteller.pipeline.render import kenburns
from storyteller.pipeline.render.cards import card_frame
from storyteller.pipeline.render.frames import (
    Clip,
    CueTrack,
    KenBurns,
    Still,
    frame_loop,
)
from storyteller.pipeline.render.mix import SAMPLE_RATE, SoundInput, mix_soundtrack
from storyteller.pipeline.render.story import RenderError, Story, StoryError, load_story
from storyteller.pipeline.render.timeline import (
    Segment,
    output_size,
    plan_timeline,
    video_cues,
)
from storyteller.pipeline.render.yuv import COLOR_ARGS
from storyteller.pipeline.speech.subtitles import to_srt, to_vtt

# The photo canvas is this many times the output size: room to zoom without upscaling.
CANVAS_SCALE = 1.5
ISO639_2 = {"en": "eng", "ur": "urd", "pa": "pan", "ps": "pus", "sd": "snd", "fa": "per", "prs": "prs", "ar": "ara"}


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
    # AAC 128k with the fast coder is nearer the mix than twoloop at 160k was (SNR 46 dB
    # against 31, log-spectral distance 1.1 dB against 1.5: bench_render.py --aac) for 56%
    # of its CPU.
    "final": Quality("final", "veryfast", 21, "128k", "high"),
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


# ----------------------------------------------------------------- helpers
def _probe_sound(story: Story, which: str) -> tuple[Path, MediaInfo] | None:
    """Probe the story's narration or music file; errors name the field."""
    track = getattr(story, which)
    if track is None:
        return None
    path = story.path(track.file)
    return path, require_stream(path, "audio", RenderError, f"{which}: ")


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
    seconds = float(info.audio.duration or info.duration or 0.0)
    if not seconds:
        return None  # a zero-length recording: render as if there were none
    return SoundInput(path, track.start, track.volume, info.audio.channels or 2, seconds)


def video_args(w: int, h: int, fps: int, q: Quality, out: Path) -> list[str]:
    """The ffmpeg arguments that encode raw NV12 frames from stdin to a video-only MP4."""
    args = [
        "-f",
        "rawvideo",
        "-pix_fmt",
        "nv12",
        "-s",
        f"{w}x{h}",
        "-r",
        str(fps),
        # The frames are BT.709 TV range: said of the input too, or ffmpeg takes untagged YUV
        # for BT.601 and converts every frame through RGB to the BT.709 of the output, which
        # shifted the colours (a red 200,40,40 played back as 186,22,42) and cost x264's
        # process a third of its CPU.
        *COLOR_ARGS,
        "-i",
        "pipe:0",
        "-c:v",
        "libx264",
        "-preset",
        q.preset,
        "-crf",
        str(q.crf),
        "-pix_fmt",
        "nv12",  # x264 takes it as it is; the stream is 4:2:0 (players read yuv420p)
        *COLOR_ARGS,
    ]
    if q.profile:
        args += ["-profile:v", q.profile]
    return args + ["-g", str(fps * 4), *H264_STRIP_SEI, *STRIP_ARGS, "-an", "-f", "mp4", "-y", str(out)]


def sound_args(q: Quality, out: Path, channels: int = 2) -> list[str]:
    """The ffmpeg arguments that encode the soundtrack (float32, ``channels`` interleaved, on stdin) to AAC in an MP4."""
    # The "fast" coder, not the default "twoloop": twoloop took about 30 ms of CPU a second
    # of sound, the biggest cost of a render after x264 and the frames, and on our mixes the
    # fast coder's output is nearer the source (tests/bench/bench_render.py --aac).
    return [
        *("-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", str(channels), "-i", "pipe:0"),
        *("-c:a", "aac", "-aac_coder", "fast", "-b:a", q.audio_bitrate, *STRIP_ARGS, "-f", "mp4", "-y", str(out)),
    ]


def mux_args(video: Path, sound: Path, srt: Path | None, language: str, out: Path) -> list[str]:
    """The ffmpeg arguments that put video, sound and soft subtitles in one MP4 (no re-encoding)."""
    args = ["-i", str(video), "-i", str(sound)]
    if srt is not None:
        args += ["-i", str(srt)]
    args += ["-map", "0:v", "-map", "1:a"]
    if srt is not None:
        args += ["-map", "2:s"]
    args += ["-c:v", "copy", "-c:a", "copy"]
    if srt is not None:
        args += ["-c:s", "mov_text"]
    args += [*STRIP_ARGS]
    if srt is not None:
        args += ["-metadata:s:s:0", f"language={ISO639_2.get(language, 'und')}"]
    return args + ["-movflags", "+faststart", "-f", "mp4", "-y", str(out)]


@contextmanager
def opencv_on_one_thread():
    """OpenCV single-threaded for the render: x264 keeps every core busy, so OpenCV's own
    worker threads only add hand-offs and waits (the warp took 15-20% more CPU with two)."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


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

    ``quality`` is "final" (H.264 High, AAC 128k) or "preview" (360p, fastest).
    ``aspect`` overrides the story's own ("16:9", "9:16", "1:1"); ``hd`` picks 1920x1080
    for 16:9 (default: the story's setting). ``progress(fraction)``
    is called about once a second; ``cancel()`` is polled several times a second and
    stops the render (Cancelled) within a moment, leaving no partial file.
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
            info = require_stream(path, "video", RenderError, f"scenes[{i}].video: ")
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
            return Still(card_frame(card, w, h, story.language, story.rtl or None, picture))
        scene = story.scenes[seg.index]
        if scene.kind == "video":
            return Clip(story.path(scene.media), w, h, scene.fit, clip_info[seg.index][1])
        try:
            photo = load_photo(story.path(scene.media), (canvas_w, canvas_h), scene.fit)
        except ImageError as exc:
            raise ImageError(f"scenes[{seg.index}].image: {exc}") from exc
        canvas = frame_photo(photo, canvas_w, canvas_h, scene.fit)
        del photo
        canvas = kenburns.prepare_canvas(canvas, CANVAS_SCALE)
        start, end = kenburns.resolve_motion(scene.motion, seg.index)
        return KenBurns(canvas, start, end, seg.duration, w, h)

    # The work folder (sound, video, subtitles) sits beside the output, not in the shared
    # system temp dir, and is removed whatever happens.
    out_path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".render-", dir=out_path.parent))
    stopped = threading.Event()

    def stop_requested() -> bool:
        return stopped.is_set() or cancel()

    def make_sound() -> Path:
        samples = mix_soundtrack(narration, music, duration, cancel=stop_requested)
        with open_ffmpeg(sound_args(q, work / "sound.m4a", samples.shape[1])) as pipe:
            for start in range(0, len(samples), SAMPLE_RATE * 10):
                if stop_requested():
                    raise Cancelled("Stopped on request.")
                pipe.write(samples[start : start + SAMPLE_RATE * 10].tobytes())
        return work / "sound.m4a"

    try:
        srt_in = None
        if cues:
            srt_in = work / "subtitles.srt"
            srt_in.write_text(to_srt(cues), encoding="utf-8")
        subs = CueTrack(cues, w, h, story.language, story.rtl)
        # The sound is mixed and encoded while the frames are: on two cores its few seconds
        # of CPU fill the gaps x264 leaves, instead of being waited for before the first frame.
        with opencv_on_one_thread(), ThreadPoolExecutor(max_workers=1) as pool, ThreadPoolExecutor(max_workers=1) as side:
            sound = side.submit(make_sound)

            def loop_cancel() -> bool:  # a failed mix ends the frame loop early
                return cancel() or (sound.done() and sound.exception() is not None)

            try:
                with open_ffmpeg(video_args(w, h, fps, q, work / "video.mp4")) as pipe:
                    frame_loop(pipe, timeline.segments, make_source, pool, subs, n_frames, fps, duration, report, loop_cancel)
            except BaseException:
                stopped.set()
                if sound.done() and sound.exception() is not None and not cancel():
                    raise sound.exception() from None
                raise
            sound_path = sound.result()
        with atomic_output(out_path) as tmp:
            run_ffmpeg(mux_args(work / "video.mp4", sound_path, srt_in, story.language, tmp), cancel=cancel)
        srt_path = vtt_path = None
        if cues:
            srt_path = atomic_write_text(out_path.with_suffix(".srt"), to_srt(cues))
            vtt_path = atomic_write_text(out_path.with_suffix(".vtt"), to_vtt(cues))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(1.0, force=True)
    return RenderResult(out_path, duration, w, h, time.monotonic() - t0, srt_path, vtt_path)


__all__ = ["RenderError", "RenderResult", "StoryError", "ImageError", "QUALITIES", "render_story", "video_args"]
