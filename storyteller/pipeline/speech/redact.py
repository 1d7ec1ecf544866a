"""Hide spoken identifiers: a name, a street, a school.

Given phrases to hide, find each spoken occurrence twice over: in Whisper's
words (what was heard, with its time) and in the script-aligned words (what was
written, timed by the alignment). The narration is then covered at those spans
with a soft tone (or silence) that fades in and out so there is no click, and
the subtitle text is replaced by a neutral mark. Occurrences that cannot be
placed in time are reported, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from storyteller.errors import CancelFn, ProgressFn, UserError
from storyteller.pipeline.media.audio import AudioError, WavWriter, iter_audio_blocks
from storyteller.pipeline.media.probe import require_stream
from storyteller.pipeline.speech.align import normalize_word

MARK = "▇▇▇"
_TRAIL = ".,!?;:۔،؟؛…\"'”’»)"


class RedactionError(UserError):
    """The redaction could not be done; the message says why in plain words."""


@dataclass(frozen=True)
class Occurrence:
    """One place where a phrase is spoken. ``source`` is speech or script."""

    phrase: str
    start: float
    end: float
    source: str
    approximate: bool = False


@dataclass(frozen=True)
class RedactionPlan:
    """Spans to cover in the audio, and plain messages about what could not be placed."""

    occurrences: tuple[Occurrence, ...]
    spans: tuple[tuple[float, float], ...]
    unplaced: tuple[str, ...] = ()
    not_found: tuple[str, ...] = ()

    @property
    def messages(self) -> tuple[str, ...]:
        return self.unplaced + tuple(f"“{p}” was not found in the speech or the script." for p in self.not_found)


def read_phrases(path: str | Path) -> list[str]:
    """Phrases to hide, one per line (blank lines and # comments ignored)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RedactionError(f"The list of words to hide ({Path(path).name}) could not be read as UTF-8 text.") from exc
    phrases = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    phrases = [p for p in phrases if _keys(p)]
    if not phrases:
        raise RedactionError(f"The list of words to hide ({Path(path).name}) is empty.")
    return phrases


def _keys(text: str) -> list[str]:
    return [k for k in (normalize_word(t) for t in text.split()) if k]


def _same(token: str, key: str) -> bool:
    # A short suffix (possessive 's, Urdu case endings written joined) still counts.
    return key == token or (len(token) >= 3 and key.startswith(token) and len(key) - len(token) <= 2)


def find(phrases: Sequence[str], words: Sequence) -> list[tuple[str, int, int]]:
    """(phrase, first index, last index + 1) for every occurrence of a phrase in ``words``."""
    keys = [normalize_word(w.text) for w in words]
    found = []
    for phrase in phrases:
        tokens = _keys(phrase)
        if not tokens:
            continue
        for i in range(len(keys) - len(tokens) + 1):
            if all(_same(t, keys[i + n]) for n, t in enumerate(tokens)):
                found.append((phrase, i, i + len(tokens)))
    return found


def plan(
    phrases: Sequence[str],
    heard: Sequence = (),
    script_words: Sequence = (),
    duration: float | None = None,
    pad: float = 0.08,
    approx_pad: float = 0.3,
) -> RedactionPlan:
    """Where each phrase is spoken, from Whisper's ``heard`` words and from aligned ``script_words``.

    Script words whose time was interpolated get a wider margin; skipped ones
    (not read aloud) are reported as unplaced.
    """
    occ: list[Occurrence] = []
    unplaced: list[str] = []
    seen: set[str] = set()
    for phrase, i, k in find(phrases, heard):
        seen.add(phrase)
        occ.append(Occurrence(phrase, heard[i].start, heard[k - 1].end, "speech"))
    for phrase, i, k in find(phrases, script_words):
        seen.add(phrase)
        span = script_words[i:k]
        statuses = {getattr(w, "status", "matched") for w in span}
        if statuses <= {"skipped"}:
            unplaced.append(f"“{phrase}” in the script (word {i + 1}) was not heard in the recording, so only its subtitle is hidden.")
            continue
        approximate = not statuses <= {"matched", "near", "transcript"}
        occ.append(Occurrence(phrase, span[0].start, span[-1].end, "script", approximate))
        if approximate:
            unplaced.append(
                f"“{phrase}” (script word {i + 1}) could only be placed approximately, around "
                f"{span[0].start:.1f}–{span[-1].end:.1f} s; a wider stretch was covered. Please listen to check."
            )
    limit = float(duration) if duration else float("inf")
    raw = sorted(
        (max(0.0, o.start - (approx_pad if o.approximate else pad)), min(limit, o.end + (approx_pad if o.approximate else pad)))
        for o in occ
    )
    spans: list[tuple[float, float]] = []
    for a, b in raw:
        if spans and a <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], b))
        else:
            spans.append((a, b))
    not_found = tuple(p for p in phrases if p not in seen)
    return RedactionPlan(
        tuple(sorted(occ, key=lambda o: o.start)), tuple((round(a, 3), round(b, 3)) for a, b in spans), tuple(unplaced), not_found
    )


def mask_words(words: Sequence, phrases: Sequence[str], spans: Iterable[tuple[float, float]] = (), mark: str = MARK) -> list:
    """Words with every phrase occurrence, and every word mostly inside a span, replaced by ``mark``.

    Consecutive hidden words become one mark (keeping the last one's trailing
    punctuation so sentence breaks survive); times are kept.
    """
    hidden = [False] * len(words)
    for _p, i, k in find(phrases, words):
        for n in range(i, k):
            hidden[n] = True
    spans = list(spans)
    for n, w in enumerate(words):
        length = max(w.end - w.start, 1e-3)
        inside = sum(max(0.0, min(w.end, b) - max(w.start, a)) for a, b in spans)
        if spans and inside / length >= 0.5:
            hidden[n] = True
    out: list = []
    n = 0
    while n < len(words):
        if not hidden[n]:
            out.append(words[n])
            n += 1
            continue
        k = n + 1
        # One mark per run of hidden words, but a sentence or phrase end inside the run is kept.
        while k < len(words) and hidden[k] and words[k - 1].text == words[k - 1].text.rstrip(_TRAIL):
            k += 1
        last = words[k - 1].text
        trail = last[len(last.rstrip(_TRAIL)) :]
        extra = {"heard": mark} if hasattr(words[n], "heard") else {}
        out.append(replace(words[n], end=words[k - 1].end, text=mark + trail, **extra))
        n = k
    return out


def envelope(t: np.ndarray, spans: Sequence[tuple[float, float]], fade: float) -> np.ndarray:
    """0 outside spans, 1 inside, with linear ``fade``-second ramps just outside each span."""
    env = np.zeros_like(t)
    for a, b in spans:
        np.maximum(env, np.clip(np.minimum((t - (a - fade)) / fade, ((b + fade) - t) / fade), 0.0, 1.0), out=env)
    return env


def redact_audio(
    source: str | Path,
    target: str | Path,
    spans: Sequence[tuple[float, float]],
    *,
    mode: str = "tone",
    tone_hz: float = 440.0,
    level: float = 0.08,
    fade: float = 0.02,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Path:
    """Write ``source`` as a WAV at ``target`` with ``spans`` covered by a soft tone or silence.

    Streams block by block (bounded memory) at the source's own sample rate;
    crossfades of ``fade`` seconds avoid clicks. The source is never modified.
    """
    source, target = Path(source), Path(target)
    if source.resolve() == target.resolve():
        raise RedactionError("The redacted audio must be written to a new file, not over the original.")
    if mode not in ("tone", "silence"):
        raise RedactionError(f"Unknown redaction sound {mode!r}; use tone or silence.")
    info = require_stream(source, "audio", RedactionError)
    rate = int(info.audio.sample_rate or 48000)
    channels = min(2, int(info.audio.channels or 1))
    duration = float(info.audio.duration or info.duration or 0.0)
    spans = [(float(a), float(b)) for a, b in spans if b > a]
    done = 0
    try:
        with WavWriter(target, rate, channels) as out:
            for block in iter_audio_blocks(source, rate, channels, block_seconds=10.0):
                if cancel and cancel():
                    raise RedactionError("Redaction was cancelled.")
                t = (done + np.arange(len(block))) / rate
                env = envelope(t, spans, fade)
                cover = level * np.sin(2 * np.pi * tone_hz * t) if mode == "tone" else np.zeros_like(t)
                if block.ndim == 2:
                    env, cover = env[:, None], cover[:, None]
                out.write((block * (1.0 - env) + cover * env).astype(np.float32))
                done += len(block)
                if progress and duration:
                    progress(min(1.0, done / rate / duration))
    except AudioError as exc:
        raise RedactionError(str(exc)) from exc
    return target
