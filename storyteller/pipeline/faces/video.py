"""The video pass: decoded upright, tracked, masked, checked again every few frames, and
piped as raw frames to x264 (or VP9 for .webm); sound dropped or disguised."""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from storyteller.errors import Cancelled
from storyteller.fsutil import atomic_output
from storyteller.pipeline.faces import masks as M
from storyteller.pipeline.faces.boxes import FaceBox, grow
from storyteller.pipeline.faces.detect import detector
from storyteller.pipeline.faces.edits import ManualBoxes, removed, track_back
from storyteller.pipeline.faces.result import (
    BLUR_WARNING,
    CHECK_THRESHOLD,
    CheckHit,
    FaceError,
    FaceResult,
    FacesRemainError,
    FrameFaces,
)
from storyteller.pipeline.faces.track import FaceTracker, TrackerSettings
from storyteller.pipeline.media.ffmpeg import FFmpegError, open_ffmpeg
from storyteller.pipeline.media.metadata import H264_STRIP_SEI, STRIP_ARGS
from storyteller.pipeline.media.probe import require_stream
from storyteller.pipeline.media.video import VideoError, read_frames

# Masked frames wait this many frames before they are written, so a face the check finds can be covered on them too.
DELAY = 4
# Which frames a person should look at first.
REVIEW_RANK = {"post-check": 0, "lost-track": 1, "low-confidence": 2}


def _video_facts(inp: Path):
    """Probe the input and turn every way it can be unusable into one plain sentence."""
    info = require_stream(inp, "video", FaceError)
    v = info.video
    if not v.width or not v.height:
        raise FaceError(f"The video {inp.name} is damaged: its picture size is unknown.")
    return info, v


def _decode(inp: Path, rotation: int, vfr: list) -> Iterator[np.ndarray]:
    """Upright RGB frames (``rotation``: the probe's, for frames that carry none). ``vfr`` gets one True appended if frame spacing varies."""
    gaps: set[float] = set()
    last = None
    try:
        for frame in read_frames(inp, rotation):
            if frame.time is not None:
                if last is not None and len(gaps) < 64:
                    gaps.add(round(frame.time - last, 6))
                last = frame.time
            yield frame.rgb
    except VideoError as exc:
        raise FaceError(str(exc)) from exc
    pos = [g for g in gaps if g > 0]
    if pos and max(pos) > 1.5 * min(pos):
        vfr.append(True)


def _encode_args(w: int, h: int, fps: float, fmt: str, audio: Path | None) -> list[str]:
    args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:.6g}", "-i", "pipe:0"]
    if audio is not None:
        args += ["-i", str(audio)]
    args += ["-map", "0:v"] + (["-map", "1:a"] if audio is not None else [])
    if w % 2 or h % 2:  # 4:2:0 needs even sides: add one black column/row rather than scaling
        args += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
    if fmt == "webm":
        args += ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-b:v", "0", "-crf", "33"]
        args += ["-c:a", "libopus", "-b:a", "96k"] if audio is not None else []
    else:
        args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-threads", "2", *H264_STRIP_SEI]
        args += ["-c:a", "aac", "-b:a", "128k"] if audio is not None else []
        args += ["-movflags", "+faststart"]
    return args + ["-pix_fmt", "yuv420p", *STRIP_ARGS, "-f", fmt]


def _disguised_audio(inp: Path, workdir: Path, progress, cancel) -> Path:
    """The video's sound through the voice pipeline (a fresh secret each time), as a WAV."""
    # Imported here: the voice chain loads Praat and SciPy's signal module (about 2 s on a laptop),
    # which a silent clip, a photo or `storyteller faces` on a phone video without sound never need.
    from storyteller.pipeline.voice import methods as voice

    wav = workdir / f".voice-{secrets.token_hex(6)}.wav"
    voice.anonymize(inp, wav, "disguise", secrets.token_hex(16), progress=progress, cancel=cancel)
    return wav


def anonymize_video(
    inp: Path,
    out: Path,
    *,
    mask,
    mask_scale,
    color,
    edits,
    reviewed,
    whole_frame,
    keep_audio,
    progress,
    cancel,
    settings: TrackerSettings = TrackerSettings(),
    check_every: int = 4,
) -> FaceResult:
    """Video path of :func:`anonymize`.

    The post-check runs on every ``check_every``-th masked frame (whole frame, at the
    detection scale, lower threshold) before the frame is encoded. Every 4th: most of its
    finds on phone-style clips are hands and bags, but in a rolled crowd it also caught a
    face the tracker had swapped for a neighbour; checking every 8th frame let that face
    through (measured with the outside judge). A face it finds is
    covered on that frame, on the frames still waiting to be written (``DELAY``) and on
    the frames up to the next check, and reported.
    """
    t0 = time.monotonic()
    info, v = _video_facts(inp)
    rotation = v.rotation % 360
    w, h = (v.height, v.width) if rotation in (90, 270) else (v.width, v.height)
    fps = v.fps or 25.0
    if not 1 <= fps <= 240:
        fps = 25.0
    total = v.frames or int(round((v.duration or info.duration or 0) * fps)) or 0
    fmt = {".mp4": "mp4", ".mov": "mov", ".webm": "webm"}[out.suffix.lower()]
    warn: list[str] = []
    if mask == "blur" and whole_frame is None:
        warn.append(BLUR_WARNING)
    if rotation:
        warn.append(f"The video was stored turned by {rotation} degrees; the output is upright.")
    audio = "none"
    if info.has_audio:
        audio = "disguised" if keep_audio else "dropped"
        if not keep_audio:
            warn.append("The sound was dropped (keep it with the keep-audio option: it is then disguised).")
    elif keep_audio:
        warn.append("The video has no sound to keep.")
    det = detector()
    tracker = FaceTracker(det, settings, cancel)
    records: list[FrameFaces] = []
    hits: list[CheckHit] = []
    # track_back decodes only when a box was drawn after the first frame.
    manual = ManualBoxes(edits.add, None if whole_frame else track_back(_decode(inp, rotation, []), edits.add, fps, cancel))
    vfr: list = []
    pending: deque = deque()  # (idx, original, masked, boxes) waiting to be written
    repairs: list[list] = []  # [box, last index seen] of faces the post-check found

    def finish(item, pipe):
        idx, _orig, masked, boxes, review = item
        pipe.write(masked.tobytes())
        records.append(FrameFaces(idx, idx / fps, tuple(boxes), review))

    wav = None
    try:
        if audio == "disguised":
            wav = _disguised_audio(inp, out.parent, lambda f: progress(0.1 * f), cancel)
        base = 0.1 if wav else 0.0
        with atomic_output(out) as tmp, open_ffmpeg(_encode_args(w, h, fps, fmt, wav) + [str(tmp)]) as pipe:
            frames = _decode(inp, rotation, vfr)
            if whole_frame:
                for idx, f in enumerate(frames):
                    if idx % 8 == 0 and cancel():
                        raise Cancelled("Stopped on request.")
                    pipe.write(M.whole_frame(f, whole_frame).tobytes())
                    records.append(FrameFaces(idx, idx / fps, ()))
                    if total:
                        progress(min(0.99, base + (1 - base) * (idx + 1) / total))
            else:
                for idx, frame, tboxes in tracker.run(frames):
                    boxes = [b for b in tboxes if not removed((b.x1, b.y1, b.x2, b.y2), idx, edits)]
                    boxes += manual.boxes(idx, frame)
                    for rep in repairs:  # keep covering what the post-check found, until the next check
                        boxes.append(FaceBox(*map(float, grow(rep[0], 1.2)), 0.5, -1, "post-check"))
                    repairs[:] = [r for r in repairs if idx - r[1] < check_every + 2]
                    masked = frame.copy()
                    M.draw_masks(masked, [(b.x1, b.y1, b.x2, b.y2) for b in boxes], mask, mask_scale, color, ref=frame)
                    lost = any(b.source in ("held", "lead") for b in boxes)
                    review = "lost-track" if lost else ("low-confidence" if any(b.score < 0.4 for b in boxes) else None)
                    found = []
                    if idx % check_every == check_every // 2:
                        found = det.run(masked, CHECK_THRESHOLD, tracker._scale)
                    if len(found):
                        for hbox in found:
                            hb = tuple(float(x) for x in hbox[:4])
                            if removed(hb, idx, edits):
                                hits.append(CheckHit(idx, hb, float(hbox[4]), "left: removed by hand"))
                                continue
                            hits.append(CheckHit(idx, hb, float(hbox[4]), "covered"))
                            M.draw_mask(masked, hbox, "solid", mask_scale, color)
                            boxes.append(FaceBox(*hb, float(hbox[4]), -1, "post-check"))
                            repairs.append([hbox[:4].copy(), idx])
                            review = "post-check"
                            # Frames not yet written: look for the same face there too.
                            for item in pending:
                                pb = grow(hbox[:4], 1.2)
                                M.draw_mask(item[2], pb, "solid", mask_scale, color)
                                item[3].append(FaceBox(*map(float, pb), 0.5, -1, "post-check"))
                    pending.append((idx, frame, masked, boxes, review))
                    if len(pending) > DELAY:
                        finish(pending.popleft(), pipe)
                    if total:
                        progress(min(0.99, base + (1 - base) * (idx + 1) / total))
                while pending:
                    finish(pending.popleft(), pipe)
            if not records:
                raise FaceError(f"The video {inp.name} has no frames that could be read.")
            failed = [x for x in hits if x.action.startswith("left")]
            if failed and not reviewed:
                raise FacesRemainError(
                    f"Faces may remain: the check still finds faces on {len({x.index for x in failed})} frame(s) where "
                    "boxes were removed by hand. Review those frames, then run again with the reviewed option."
                )
    except FFmpegError as exc:
        raise FaceError(f"The masked video could not be written: {exc}") from exc
    finally:
        if wav is not None:
            wav.unlink(missing_ok=True)
    if vfr:
        warn.append(f"The video has a variable frame rate; the output plays at a steady {fps:.3g} frames per second.")
    progress(1.0)
    order = sorted((f for f in records if f.review), key=lambda f: (REVIEW_RANK[f.review], f.index))
    stats = dict(tracker.stats, frames=len(records), tracks=tracker.next_id - 1)
    return FaceResult(
        inp.name,
        str(out),
        "video",
        w,
        h,
        fps,
        mask,
        tuple(records),
        tuple(f.index for f in order),
        tuple(hits),
        edits,
        reviewed,
        whole_frame,
        audio,
        tuple(warn),
        time.monotonic() - t0,
        stats,
    )
