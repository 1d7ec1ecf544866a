"""Subtitle files written beside the video: SubRip (.srt) and WebVTT (.vtt).

The text is kept as the participant wrote it (colons, quotes, backslashes, %,
emoji are all fine in these formats); only what would break a file's structure
is changed: blank lines inside a cue, and "-->" in the text.
"""

from __future__ import annotations

from collections.abc import Iterable

from storyteller.pipeline.speech.subtitles import Cue


def _clean(text: str) -> str:
    lines = [line.strip() for line in text.replace("\r", "").split("\n")]
    return "\n".join(line for line in lines if line).replace("-->", "→")


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def srt_text(cues: Iterable[Cue]) -> str:
    """SubRip text for the cues (times in seconds on the video's clock)."""
    blocks = []
    for cue in cues:
        text = _clean(cue.text)
        if text:
            blocks.append(f"{len(blocks) + 1}\n{_stamp(cue.start, ',')} --> {_stamp(cue.end, ',')}\n{text}\n")
    return "\n".join(blocks)


def vtt_text(cues: Iterable[Cue]) -> str:
    """WebVTT text for the cues; & < > are escaped as the format requires."""
    out = ["WEBVTT", ""]
    for cue in cues:
        text = _clean(cue.text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if text:
            out += [f"{_stamp(cue.start, '.')} --> {_stamp(cue.end, '.')}", text, ""]
    return "\n".join(out)
