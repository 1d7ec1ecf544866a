"""Whisper's repetition loops: one phrase said over and over instead of what was spoken.

A loop inside one segment is found by its compression ratio; a loop that runs across
segments (one short sentence per segment) by the same sentence coming back in a row.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

from storyteller.pipeline.speech.transcript import Segment

# Whisper's own test for a failed decode (faster-whisper's compression_ratio_threshold):
# text that zlib squeezes more than this is one phrase said over and over.
LOOP_COMPRESSION_RATIO = 2.4


def is_repetition_loop(text: str) -> bool:
    """True when Whisper repeated one phrase instead of writing what was said.

    Both tests must agree: the zlib ratio alone sits closer to the line for
    Arabic-script text (its UTF-8 lead bytes repeat), so a three-word phrase
    must also come back at least three times.
    """
    raw = text.strip().encode("utf-8")
    if not raw or len(raw) / len(zlib.compress(raw)) <= LOOP_COMPRESSION_RATIO:
        return False
    words = "".join(ch if ch.isalnum() else " " for ch in text.casefold()).split()
    phrases = Counter(zip(words, words[1:], words[2:]))
    return bool(phrases) and max(phrases.values()) >= 3


_SENTENCE_END = re.compile(r"(?<=[.!?۔؟])\s+")


def _sentence_key(sentence: str) -> str:
    return "".join(ch for ch in sentence.casefold() if ch.isalnum())


def drop_repeated_segments(segments: list[Segment]) -> tuple[list[Segment], list[tuple[float, float]]]:
    """Drop segments that only repeat a sentence Whisper has already said twice in a row.

    Whisper's loop can also run across segments, one short sentence per segment,
    where no single segment looks like a loop. A sentence said three or more times
    in a row is kept once; a segment made only of such repeats is left out.
    Returns the kept segments and the spans left out.
    """
    said = [
        (i, _sentence_key(part)) for i, seg in enumerate(segments) for part in _SENTENCE_END.split(seg.text.strip()) if _sentence_key(part)
    ]
    repeat = [False] * len(said)
    start = 0
    for end in range(1, len(said) + 1):
        if end == len(said) or said[end][1] != said[start][1]:
            if end - start >= 3:
                for k in range(start + 1, end):
                    repeat[k] = True
            start = end
    only_repeats = {i for i, _ in said}
    for (i, _key), is_repeat in zip(said, repeat):
        if not is_repeat:
            only_repeats.discard(i)
    kept = [seg for i, seg in enumerate(segments) if i not in only_repeats]
    return kept, [(segments[i].start, segments[i].end) for i in sorted(only_repeats)]


def loop_message(spans: list[tuple[float, float]], task: str) -> str:
    clock = lambda t: f"{int(t // 60)}:{int(t % 60):02d}"  # noqa: E731
    merged: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if merged and a - merged[-1][1] < 1.0:  # one loop told as one stretch
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    where = ", ".join(f"{clock(a)}–{clock(b)}" for a, b in merged)
    doing = "translating" if task == "translate" else "writing down"
    return (
        f"Whisper repeated one phrase over and over instead of {doing} what was said ({where}), "
        "so that part was left out. Type it in the editor, or use a larger speech model."
    )


# A translation can come back empty on speech Whisper did hear (its fallback decodes
