"""Subtitle cues: the timed text that the render burns in and writes beside the video.

``segment`` turns timed words into cues that people can read: at most two lines
of about 42 characters, 1–7 s on screen, about 17 characters a second at most,
broken at sentence and phrase punctuation (including the Urdu full stop ۔ and
the Arabic comma ،), never overlapping. Writers for SRT, WebVTT and ASS; readers
for SRT and WebVTT so a facilitator can bring corrected subtitles back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from storyteller.errors import UserError
from storyteller.fsutil import atomic_write_text


@dataclass(frozen=True)
class Cue:
    """One subtitle: ``text`` shown from ``start`` to ``end`` seconds (may hold one line break)."""

    start: float
    end: float
    text: str


class SubtitleError(UserError):
    """A subtitle file could not be read or written; the message says where and why."""


@dataclass(frozen=True)
class Rules:
    """Readability limits for cues (Netflix/BBC-style defaults)."""

    max_line: int = 42
    max_lines: int = 2
    min_duration: float = 1.0
    max_duration: float = 7.0
    max_cps: float = 17.0
    gap: float = 0.08  # a short gap between cues so the eye sees a change
    pause_split: float = 1.2  # a silence this long always starts a new cue


SENTENCE_END = tuple(".!?۔؟…")
PHRASE_END = tuple(",;:،؛—–")
_TRAIL = "\"'”’»)]}"


def _ends_with(word: str, marks: tuple[str, ...]) -> bool:
    return word.rstrip(_TRAIL).endswith(marks)


# ----------------------------------------------------------------- layout
def wrap(text: str, max_line: int = 42, max_lines: int = 2) -> str | None:
    """Break ``text`` into at most ``max_lines`` balanced lines, or None if it cannot fit."""
    words = text.split()
    if not words:
        return ""
    if len(text) <= max_line or max_lines == 1:
        return text if len(text) <= max_line or len(words) == 1 else None
    best: tuple[float, str] | None = None
    for i in range(1, len(words)):
        a, b = " ".join(words[:i]), " ".join(words[i:])
        if len(a) > max_line:
            break
        rest = wrap(b, max_line, max_lines - 1) if max_lines > 2 else (b if len(b) <= max_line else None)
        if rest is None:
            continue
        # Prefer balanced lines and breaks after punctuation.
        cost = abs(len(a) - len(rest.split("\n")[0])) - (8 if _ends_with(words[i - 1], SENTENCE_END + PHRASE_END) else 0)
        if best is None or cost < best[0]:
            best = (cost, a + "\n" + rest)
    return best[1] if best else None


def _fits(words: Sequence[str], rules: Rules) -> bool:
    return wrap(" ".join(words), rules.max_line, rules.max_lines) is not None


# ----------------------------------------------------------------- segmentation
def segment(words: Iterable, rules: Rules = Rules(), end_limit: float | None = None) -> list[Cue]:
    """Cues from timed words (objects with ``start``, ``end``, ``text``).

    The words' text is kept exactly, in order; only line breaks are added.
    ``end_limit`` (the audio length) caps the last cue's end.
    """
    items = [(float(w.start), float(w.end), w.text.strip()) for w in words if w.text.strip()]
    if not items:
        return []
    groups: list[list[tuple[float, float, str]]] = []
    cur: list[tuple[float, float, str]] = []
    for item in items:
        if cur and (
            item[0] - cur[-1][1] >= rules.pause_split
            or (_ends_with(cur[-1][2], SENTENCE_END) and len(" ".join(t for _, _, t in cur)) >= 12)
        ):
            groups.append(cur)  # a pause or a sentence end: a new cue
            cur = []
        while cur and (not _fits([t for _, _, t in cur] + [item[2]], rules) or item[1] - cur[0][0] > rules.max_duration):
            head, cur = _split_point(cur, rules)
            groups.append(head)
        cur.append(item)
    if cur:
        groups.append(cur)
    return _time(groups, rules, end_limit)


def _split_point(cur, rules: Rules):
    """Split a full group at its last phrase punctuation if that leaves a reasonable head."""
    total = len(" ".join(t for _, _, t in cur))
    for i in range(len(cur) - 1, 0, -1):
        head_len = len(" ".join(t for _, _, t in cur[:i]))
        if head_len < total * 0.4:
            break
        if _ends_with(cur[i - 1][2], SENTENCE_END + PHRASE_END):
            tail = cur[i:]
            # The tail travels on to the next cue only if it still fits there.
            if _fits([t for _, _, t in tail], rules) and cur[-1][1] - tail[0][0] < rules.max_duration:
                return cur[:i], tail
    # No punctuation: break at the longest pause in the second half of the cue.
    pauses = [(cur[i][0] - cur[i - 1][1], i) for i in range(1, len(cur)) if len(" ".join(t for _, _, t in cur[:i])) >= total * 0.5]
    if pauses:
        gap, i = max(pauses)
        tail = cur[i:]
        if gap >= 0.25 and _fits([t for _, _, t in tail], rules) and cur[-1][1] - tail[0][0] < rules.max_duration:
            return cur[:i], tail
    return cur, []


def _time(groups, rules: Rules, end_limit: float | None) -> list[Cue]:
    limit = float("inf") if end_limit is None else max(0.0, end_limit)
    cues: list[Cue] = []
    for k, g in enumerate(groups):
        flat = " ".join(t for _, _, t in g)
        text = wrap(flat, rules.max_line, rules.max_lines) or flat
        start = min(max(g[0][0], cues[-1].end if cues else 0.0), max(0.0, limit - 0.01))
        speech_end = min(max(g[-1][1], start), start + rules.max_duration)
        next_start = groups[k + 1][0][0] if k + 1 < len(groups) else float("inf")
        # Stay long enough to read (min duration, max cps), never into the next cue or past the audio.
        want = min(max(speech_end, start + rules.min_duration, start + len(flat) / rules.max_cps + 0.001), start + rules.max_duration)
        end = min(max(speech_end, min(want, next_start - rules.gap)), limit)
        cues.append(Cue(round(start, 3), round(max(end, start + 0.01), 3), text))
    return cues


# ----------------------------------------------------------------- writers
def _ts(seconds: float, sep: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _structure_safe(text: str) -> str:
    """The cue text as written (colons, quotes, %, emoji are fine), less what would break an
    SRT or VTT file: blank lines (they end a cue) and "-->" (it starts a time line)."""
    lines = [line.strip() for line in text.replace("\r", "").split("\n")]
    return "\n".join(line for line in lines if line).replace("-->", "→")


def _written(cues: Iterable[Cue]) -> list[tuple[Cue, str]]:
    return [(c, t) for c in cues if (t := _structure_safe(c.text))]


def to_srt(cues: Iterable[Cue]) -> str:
    """SubRip text; cues with no text are left out and the rest numbered from 1."""
    return "".join(f"{i}\n{_ts(c.start, ',')} --> {_ts(c.end, ',')}\n{t}\n\n" for i, (c, t) in enumerate(_written(cues), 1))


def to_vtt(cues: Iterable[Cue]) -> str:
    """WebVTT text; & < > escaped as the format requires."""
    body = "".join(f"{_ts(c.start, '.')} --> {_ts(c.end, '.')}\n{_vtt_escape(t)}\n\n" for c, t in _written(cues))
    return "WEBVTT\n\n" + body


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ass_ts(seconds: float) -> str:
    cs = max(0, int(round(seconds * 100)))
    h, rem = divmod(cs, 360_000)
    m, rem = divmod(rem, 6000)
    s, cs = divmod(rem, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def to_ass(cues: Sequence[Cue], font: str = "Noto Sans", size: int = 48, width: int = 1280, height: int = 720) -> str:
    """Advanced SubStation Alpha text (white text, dark outline, bottom centre)."""
    head = (
        "[Script Info]\nScriptType: v4.00+\nWrapStyle: 2\nScaledBorderAndShadow: yes\n"
        f"PlayResX: {width}\nPlayResY: {height}\n\n"
        "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
        "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
        "Alignment, MarginL, MarginR, MarginV, Encoding\n"
        f"Style: Default,{font},{size},&H00FFFFFF,&H000000FF,&H00000000,&H80000000,0,0,0,0,100,100,0,0,1,3,1,2,40,40,40,1\n\n"
        "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    )
    lines = []
    for c in cues:
        text = c.text.replace("\\", "\\\\").replace("{", "(").replace("}", ")").replace("\n", "\\N")
        lines.append(f"Dialogue: 0,{_ass_ts(c.start)},{_ass_ts(c.end)},Default,,0,0,0,,{text}\n")
    return head + "".join(lines)


FORMATS = {".srt": to_srt, ".vtt": to_vtt, ".ass": to_ass}


def write(cues: Sequence[Cue], target: str | Path) -> Path:
    """Write cues as SRT, VTT or ASS, chosen by the file extension (atomically)."""
    target = Path(target)
    writer = FORMATS.get(target.suffix.lower())
    if writer is None:
        raise SubtitleError(f"Cannot write subtitles as {target.suffix or 'a file without extension'}; use .srt, .vtt or .ass.")
    atomic_write_text(target, writer(cues))
    return target


# ----------------------------------------------------------------- readers
_TIME = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})\s*-->\s*(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})(?:\s+.*)?$")
# Formatting tags of SRT/WebVTT and ASS overrides; other angle brackets are text.
_TAG = re.compile(r"</?(?:b|i|u|s|font|c|v|lang|ruby|rt)(?:[\s.][^>]*)?>|<\d[\d:.]*>|\{\\[^}]*\}", re.IGNORECASE)


def _seconds(h, m, s, ms) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def parse(text: str, kind: str = "auto") -> list[Cue]:
    """Cues from SRT or WebVTT text (BOM, CRLF, tags and cue settings tolerated)."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise SubtitleError("The subtitle file holds no subtitles.")
    if kind == "auto":
        kind = "vtt" if text.lstrip().startswith("WEBVTT") else "srt"
    blocks = re.split(r"\n\s*\n", text.strip())
    if kind == "vtt":
        if not blocks or not blocks[0].startswith("WEBVTT"):
            raise SubtitleError("This is not a WebVTT file: it must start with WEBVTT.")
        blocks = blocks[1:]
    cues: list[Cue] = []
    line_no = 1
    for block in blocks:
        lines = block.split("\n")
        first = lines[0].strip()
        if kind == "vtt" and (first.startswith(("NOTE", "STYLE", "REGION"))):
            line_no += block.count("\n") + 2
            continue
        idx = next((i for i, ln in enumerate(lines[:2]) if "-->" in ln), None)
        if idx is None:
            raise SubtitleError(f"Line {line_no}: expected a time line like 00:00:01,000 --> 00:00:03,000, found {first[:40]!r}.")
        m = _TIME.match(lines[idx])
        if not m:
            raise SubtitleError(f"Line {line_no + idx}: the time line {lines[idx].strip()[:60]!r} is not valid.")
        start, end = _seconds(*m.groups()[:4]), _seconds(*m.groups()[4:])
        if end < start:
            raise SubtitleError(f"Line {line_no + idx}: the subtitle ends before it starts.")
        body = "\n".join(_TAG.sub("", ln).strip() for ln in lines[idx + 1 :]).strip()
        if kind == "vtt":
            body = body.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", "\u00a0").replace("&amp;", "&")
        cues.append(Cue(round(start, 3), round(end, 3), body))
        line_no += block.count("\n") + 2
    if not cues:
        raise SubtitleError("The subtitle file holds no subtitles.")
    return sorted(cues, key=lambda c: (c.start, c.end))


def read(path: str | Path) -> list[Cue]:
    """Read an .srt or .vtt file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".srt", ".vtt"):
        raise SubtitleError(f"Cannot read subtitles from {path.name}; bring an .srt or .vtt file.")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SubtitleError(f"The subtitle file {path.name} could not be opened.") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise SubtitleError(f"{path.name} is not a text file in UTF-8; save it as UTF-8 and try again.") from exc
    return parse(text, "vtt" if suffix == ".vtt" else "srt")
