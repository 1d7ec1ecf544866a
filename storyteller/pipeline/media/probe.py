"""Media facts as plain frozen dataclasses, read with PyAV (imageio-ffmpeg ships no ffprobe).

``probe(path)`` never parses ffmpeg's text output. It raises :class:`ProbeError`
with a plain sentence for a missing, empty or damaged file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from storyteller.errors import UserError


class ProbeError(UserError):
    """The file could not be read as media; the message says why in plain words."""


# The containers a participant's sound, video or picture comes in. Anything else is refused before
# it is read: a playlist (HLS) or list (ffconcat) would make the demuxer open other files or URLs.
INPUT_FORMATS = "wav,w64,mp3,ogg,matroska,mov,flac,aac,amr,caf,aiff,asf,avi,mpegts,mpeg,png_pipe,jpeg_pipe,webp_pipe,gif,apng,image2"
# The same rule as options for PyAV's av.open and for an ffmpeg input (before its -i); only local files.
SAFE_OPEN = {"format_whitelist": INPUT_FORMATS, "protocol_whitelist": "file"}
SAFE_INPUT_ARGS = ("-format_whitelist", INPUT_FORMATS, "-protocol_whitelist", "file,pipe")


def open_safely(path: str | Path):
    """``av.open`` for reading a file someone gave us: known containers only, nothing else opened."""
    return av.open(str(path), metadata_errors="ignore", container_options=SAFE_OPEN)


@dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str  # "video", "audio", "subtitle", "data"
    codec: str
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    rotation: int = 0  # display rotation, degrees counter-clockwise (as PyAV Frame.rotation)
    sample_rate: int | None = None
    channels: int | None = None
    frames: int | None = None
    profile: str | None = None
    pix_fmt: str | None = None
    bit_rate: int | None = None

    @property
    def display_size(self) -> tuple[int, int] | None:
        """Width and height as shown to the viewer, rotation applied."""
        if self.width is None or self.height is None:
            return None
        if self.rotation % 180 == 90:
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class MediaInfo:
    path: str
    format_name: str
    duration: float | None
    size_bytes: int
    streams: tuple[StreamInfo, ...] = ()
    tags: tuple[tuple[str, str], ...] = field(default=())

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "video"), None)

    @property
    def audio(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "audio"), None)

    @property
    def subtitles(self) -> tuple[StreamInfo, ...]:
        return tuple(s for s in self.streams if s.kind == "subtitle")

    @property
    def has_video(self) -> bool:
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None


def _seconds(value, time_base) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _rotation(container, stream) -> int:
    """Display rotation in degrees counter-clockwise (ffmpeg's display-matrix convention).

    PyAV exposes the display matrix only on decoded frames, so the first frame
    is decoded; older files carry a ``rotate`` tag instead.
    """
    tag = (stream.metadata or {}).get("rotate")
    if tag is not None:
        try:
            return (-int(tag)) % 360
        except ValueError:
            pass
    try:
        for frame in container.decode(stream):
            return int(round(getattr(frame, "rotation", 0) or 0)) % 360
    except (av.error.FFmpegError, ValueError):
        pass
    return 0


def _stream_info(container, stream) -> StreamInfo:
    cc = stream.codec_context
    kind = stream.type
    if cc is None:  # a stream no decoder here knows (for example SVG): not sound or picture we can use
        return StreamInfo(index=stream.index, kind="data", codec="unknown")
    duration = _seconds(stream.duration, stream.time_base)
    common = dict(
        index=stream.index,
        kind=kind,
        codec=(cc.name if cc is not None else "unknown"),
        duration=duration,
        frames=(stream.frames or None),
        bit_rate=(cc.bit_rate or None) if cc is not None else None,
    )
    if kind == "video":
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else None
        return StreamInfo(
            **common,
            width=cc.width,
            height=cc.height,
            fps=fps if fps and math.isfinite(fps) else None,
            rotation=_rotation(container, stream),
            profile=getattr(cc, "profile", None),
            pix_fmt=getattr(cc, "pix_fmt", None),
        )
    if kind == "audio":
        return StreamInfo(
            **common,
            sample_rate=cc.sample_rate,
            channels=cc.channels,
            profile=getattr(cc, "profile", None),
        )
    return StreamInfo(**common)


def require_stream(path: str | Path, kind: str, error: type[Exception] = ProbeError, where: str = "") -> MediaInfo:
    """Probe ``path`` and make sure it holds sound (``kind="audio"``) or a picture (``"video"``);
    otherwise raise ``error`` (the caller's own error class) with a plain sentence, after
    ``where`` (for example "narration: ")."""
    path = Path(path)
    try:
        info = probe(path)
    except ProbeError as exc:
        raise error(f"{where}{exc}") from exc
    usable = (
        info.has_audio and bool(info.audio.channels) and bool(info.audio.sample_rate)
        if kind == "audio"
        else info.has_video and bool(info.video.width) and bool(info.video.height)
    )
    if not usable:
        lacks = "contains no sound" if kind == "audio" else "has no picture"
        raise error(f"{where}{'the' if where else 'The'} file {path.name} {lacks}.")
    return info


def probe(path: str | Path) -> MediaInfo:
    """Read the container and stream facts of ``path``."""
    p = Path(path)
    if not p.exists():
        raise ProbeError(f"File not found: {p.name}")
    size = p.stat().st_size
    if size == 0:
        raise ProbeError(f"The file {p.name} is empty.")
    try:
        with open_safely(p) as container:
            streams = tuple(_stream_info(container, s) for s in container.streams)
            duration = container.duration / av.time_base if container.duration else None
            if duration is None:
                durations = [s.duration for s in streams if s.duration]
                duration = max(durations) if durations else None
            tags = tuple(sorted((str(k), str(v)) for k, v in (container.metadata or {}).items()))
            return MediaInfo(
                path=str(p),
                format_name=container.format.name,
                duration=duration,
                size_bytes=size,
                streams=streams,
                tags=tags,
            )
    except av.error.FFmpegError as exc:
        raise ProbeError(f"The file {p.name} is damaged or is not a sound or video file.") from exc


def stream_tags(path: str | Path) -> dict[str, dict[str, str]]:
    """All metadata tags, container and per stream, for privacy checks."""
    out: dict[str, dict[str, str]] = {}
    with open_safely(path) as container:
        out["format"] = dict(container.metadata or {})
        for s in container.streams:
            out[f"stream{s.index}"] = dict(s.metadata or {})
    return out


__all__ = ["MediaInfo", "StreamInfo", "ProbeError", "probe", "stream_tags", "Fraction"]
