"""Every frame of the video: a photo moving (Ken Burns), a card, or a clip, crossfaded,
with its subtitle blended on, handed to a writer thread that feeds ffmpeg."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from storyteller.errors import CancelFn, Cancelled, ProgressFn
from storyteller.pipeline.media.images import frame_photo
from storyteller.pipeline.media.video import VideoError, VideoFrame, read_frames
from storyteller.pipeline.render import kenburns
from storyteller.pipeline.render.story import RenderError
from storyteller.pipeline.render.textlayout import has_rtl_letters, subtitle_image
from storyteller.pipeline.render.yuv import Frame, Overlay, Planes
from storyteller.pipeline.speech.subtitles import Cue

FADE_IN, FADE_OUT = 0.4, 0.6


# Every source has peek(t) -> (frame, kept): kept frames belong to the source and are handed
# out again, so the caller must not draw on them (frame_loop copies one only when it draws,
# and sends an unchanged still picture again without composing it anew); frame(t) is a
# frame the caller may draw on.


class Still:
    def __init__(self, rgb: np.ndarray):
        self._frame = Frame.from_planes(Planes.from_rgb(rgb))

    def peek(self, t: float) -> tuple[Frame, bool]:
        return self._frame, True

    def frame(self, t: float) -> Frame:
        return self._frame.copy()  # callers draw subtitles in place

    def close(self) -> None:
        pass


class KenBurns:
    def __init__(self, canvas: Planes, start: kenburns.View, end: kenburns.View, duration: float, w: int, h: int):
        self.canvas, self.start, self.end, self.duration, self.w, self.h = canvas, start, end, duration, w, h
        self._still: Frame | None = None  # a scene without motion is warped once

    def peek(self, t: float) -> tuple[Frame, bool]:
        if self._still is None:
            view = kenburns.view_at(self.start, self.end, t / self.duration if self.duration > 0 else 0.0)
            out = Frame(self.w, self.h)
            kenburns.warp(self.canvas, view, out)
            if self.start != self.end:
                return out, False
            self._still = out
        return self._still, True

    def frame(self, t: float) -> Frame:
        out, kept = self.peek(t)
        return out.copy() if kept else out  # callers draw subtitles in place

    def close(self) -> None:
        self.canvas = None


class Clip:
    """A video clip scene, read upright in order and framed like a photo (muted)."""

    def __init__(self, path: Path, w: int, h: int, fit: str, rotation: int):
        self.w, self.h, self.fit = w, h, fit
        self._frames = read_frames(path, rotation)
        self._next: VideoFrame | None = None
        self._current: Frame | None = None
        self._done = False
        try:
            self._next = next(self._frames)
        except StopIteration:
            self._done = True
        except VideoError as exc:
            raise RenderError(f"The video clip {path.name} is damaged or has no picture.") from exc

    def _convert(self, vf: VideoFrame) -> Frame:
        return Frame.from_planes(Planes.from_rgb(frame_photo(vf.rgb, self.w, self.h, self.fit if self.fit != "auto" else "blur")))

    def peek(self, t: float) -> tuple[Frame, bool]:
        while not self._done:
            if self._next is None:
                try:
                    self._next = next(self._frames)
                except (StopIteration, VideoError):  # end of clip or a damaged tail: hold the last frame
                    self._done = True
                    break
            if self._current is None or (self._next.time or 0.0) <= t + 1e-3:
                self._current = self._convert(self._next)
                self._next = None
            else:
                break
        if self._current is None:
            self._current = Frame.from_planes(Planes.from_rgb(np.zeros((self.h, self.w, 3), np.uint8)))
        return self._current, True  # held until the clip's next frame is due

    def frame(self, t: float) -> Frame:
        return self.peek(t)[0].copy()

    def close(self) -> None:
        self._frames.close()


# ----------------------------------------------------------------- subtitles
class CueTrack:
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
            text = self.cues[active].text
            # An Urdu line that opens with an English word still reads right to left; a line
            # wholly in English inside an Urdu story reads left to right.
            rtl = True if self.rtl and has_rtl_letters(text) else None
            img = subtitle_image(text, self.w, self.h, self.language, rtl)
            self._cache[active] = None if img is None else Overlay.from_rgba(*img)
        return self._cache[active]


def frame_loop(
    pipe,
    segments,
    make_source: Callable,
    pool: ThreadPoolExecutor,
    subs: CueTrack,
    n_frames: int,
    fps: int,
    duration: float,
    report: ProgressFn,
    cancel: CancelFn,
) -> None:
    """Generate every frame and hand it to the writer thread that feeds ffmpeg."""
    futures: dict[int, Future] = {}
    sources: dict[int, object] = {}
    frames: queue.Queue = queue.Queue(maxsize=6)
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            while (item := frames.get()) is not None:
                pipe.write_kept(item.buf)  # queued frames are never changed again (see peek)
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

    # The last frame sent and what it was made of: a kept picture under the same subtitle,
    # not fading, is the same frame, so it is queued again as it is (never drawn on after).
    last: tuple = (None, None, None, None)
    last_poll = 0.0
    try:
        for n in range(n_frames):
            now = time.monotonic()
            if now - last_poll > 0.2:
                last_poll = now
                if cancel():
                    raise Cancelled("Stopped on request.")
            if failure:
                raise failure[0]
            t = n / fps
            active = [k for k, s in enumerate(segments) if s.start - 1e-9 <= t < s.end] or [len(segments) - 1]
            for k in [k for k in sources if k < active[0]]:
                sources.pop(k).close()
            if len(active) >= 2 and segments[active[-1]].overlap > 0:
                a, b = active[-2], active[-1]
                mix = (t - segments[b].start) / segments[b].overlap
                fa = source(a).peek(t - segments[a].start)[0]
                fb = source(b).peek(t - segments[b].start)[0]
                base, kept = fa.blend(fb, mix), False  # blend leaves both as they were
            else:
                k = active[-1]
                base, kept = source(k).peek(min(t - segments[k].start, segments[k].duration))
            overlay = subs.at(t)
            fade = min(1.0, (t + 0.5 / fps) / FADE_IN, (duration - t - 0.5 / fps) / FADE_OUT)
            if kept and last[0] is base and last[1] is overlay and last[2] == fade == 1.0:
                frame = last[3]
            else:
                frame = base.copy() if kept and (overlay is not None or fade < 1.0) else base
                if overlay is not None:
                    overlay.blend_onto(frame)
                if fade < 1.0:
                    frame.fade(fade)
                last = (base if kept else None, overlay, fade, frame)
            while True:
                try:
                    frames.put(frame, timeout=0.2)
                    break
                except queue.Full:
                    if failure:
                        raise failure[0] from None
                    if cancel():
                        raise Cancelled("Stopped on request.") from None
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
