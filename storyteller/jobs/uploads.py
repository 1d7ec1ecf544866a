"""What an upload really is, decided by its first bytes, never by its name or its declared type.

A file's name and the browser's Content-Type are whatever the sender says. A PNG named
``.webm``, an HLS playlist (a text file that makes a media library fetch other files or
URLs) disguised as a video, or a PostScript file (run by Ghostscript in image libraries)
would otherwise reach a decoder that trusts the name. Here the magic bytes choose the
kind, the kind chooses the file suffix the server stores it under, and the probe opens it
with that one demuxer, restricted to local files.

Size limits are per route (``BODY_LIMITS``); the app applies them before a body is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storyteller.errors import N_, UserError

# Bytes a request body may carry, by endpoint; anything else gets DEFAULT_BODY_LIMIT.
MB = 1 << 20
DEFAULT_BODY_LIMIT = 1 * MB  # forms and small JSON
BODY_LIMITS = {
    "journey.picture_add": 41 * MB,  # a 40 MB picture and the form around it
    "journey.record_upload": 301 * MB,  # a 20-minute WAV
    "journey.record_chunk": 16 * MB,  # one piece of a recording (a few seconds, even as WAV)
    "journey.subtitles_save": 4 * MB,  # every cue of a 20-minute story, twice (her language and English)
    "journey.save_story": 4 * MB,  # 100,000 letters of Urdu, percent-encoded: 6 bytes a letter
    "phone.save_script": 4 * MB,  # the same editor on her phone
    "phone.upload_piece": 2 * MB,  # one 1 MB piece of a file from her phone, and the form around it
}


@dataclass(frozen=True)
class Kind:
    name: str
    suffix: str  # the suffix the server stores it under
    demuxer: str  # the one demuxer (PyAV/ffmpeg format) that may open it
    media_type: str


RECORDING_KINDS = {
    "webm": Kind("webm", ".webm", "matroska", "audio/webm"),
    "ogg": Kind("ogg", ".ogg", "ogg", "audio/ogg"),
    "wav": Kind("wav", ".wav", "wav", "audio/wav"),
    "mp4": Kind("mp4", ".m4a", "mp4", "audio/mp4"),
    "mp3": Kind("mp3", ".mp3", "mp3", "audio/mpeg"),
    "flac": Kind("flac", ".flac", "flac", "audio/flac"),
}
NOT_A_RECORDING = N_("This file is not a sound recording. Choose a recording such as .mp3, .m4a, .wav, .ogg or .webm.")
SNIFF_BYTES = 16


class UploadRefused(UserError):
    """The upload is not what this route takes; the message is a plain sentence."""


def sniff(head: bytes) -> str | None:
    """The kind of file these first bytes begin, among the kinds Storyteller takes; None otherwise."""
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"  # EBML: WebM and Matroska
    if head.startswith(b"OggS"):
        return "ogg"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    return None  # among others: #EXTM3U playlists, %!PS and EPS, SVG, HTML, executables


def recording_kind(head: bytes) -> Kind:
    """The kind of a sound upload from its first bytes, or UploadRefused."""
    kind = RECORDING_KINDS.get(sniff(head) or "")
    if kind is None:
        raise UploadRefused(NOT_A_RECORDING)
    return kind


def stored_kind(name: str) -> Kind:
    """The kind of a recording already stored: the server gave it the suffix of its sniffed kind."""
    suffix = Path(name).suffix
    kind = next((k for k in RECORDING_KINDS.values() if k.suffix == suffix), None)
    if kind is None:
        raise UploadRefused(NOT_A_RECORDING)
    return kind


def probe_recording(path: str | Path, kind: Kind) -> None:
    """Open the file with its sniffed demuxer only, local files only; it must hold a sound stream."""
    import av

    try:
        with av.open(str(path), format=kind.demuxer, options={"protocol_whitelist": "file"}) as container:
            if not container.streams.audio:
                raise UploadRefused(NOT_A_RECORDING)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise UploadRefused(NOT_A_RECORDING) from exc
