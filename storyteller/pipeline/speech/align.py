"""Script-guided timing: the participant's own words, Whisper's clock.

Whisper base gets about half of Urdu words wrong, but the reader's script is
exact. We globally align Whisper's words to the script's words
(Needleman–Wunsch over normalised words), give each matched script word the
time of the word it matched, and spread unmatched runs between two anchors by
their length in letters. The text that comes out is exactly the script, in
reading order. Parts the reader skipped, and words she added, are marked. When
the script does not fit the audio at all (too few matches) we fall back to
Whisper's transcript and say so.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

# Letter variants that differ between keyboards, Arabic and Urdu/Persian
# orthography, or between the script and Whisper's spelling.
_VARIANTS = str.maketrans(
    {
        "ي": "ی",
        "ى": "ی",
        "ې": "ی",
        "ۍ": "ی",
        "ے": "ی",
        "ێ": "ی",
        "ك": "ک",
        "ڪ": "ک",
        "ہ": "ه",
        "ة": "ه",
        "ھ": "ه",
        "ۀ": "ه",
        "ە": "ه",
        "ۃ": "ه",
        "ٱ": "ا",
        "ٲ": "ا",
        "ٳ": "ا",
        "\u0640": None,  # tatweel
    }
)
_DIGITS = {ord(c): str(i) for block in ("٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "०१२३४५६७८९") for i, c in enumerate(block)}
# Letters dropped for the "skeleton" used for near matches: long vowels, h, ain, hamza.
_WEAK = set("اویهعءaeiouy")

MATCH, NEAR, PREFIX, MISMATCH, GAP = 3.0, 2.0, 1.0, -1.0, -1.0
MIN_MATCH_RATIO = 0.25
SECONDS_PER_CHAR = 0.075  # typical reading speed, used only when no timing is near


def normalize_word(text: str) -> str:
    """The matching key of a word: no diacritics, tatweel, punctuation or case; one letter per variant."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = []
    for ch in decomposed:
        cat = unicodedata.category(ch)
        if cat in ("Mn", "Me", "Cf", "Cc", "Zs") or cat[0] in ("P", "S"):
            continue
        kept.append(ch)
    key = "".join(kept).translate(_VARIANTS).translate(_DIGITS).casefold()
    return unicodedata.normalize("NFC", key)


def _skeleton(key: str) -> str:
    return "".join(c for c in key if c not in _WEAK) or key


def script_words(script: str) -> list[str]:
    """The script's words in reading order; punctuation-only tokens stay with a neighbour."""
    out: list[str] = []
    pending = ""
    for token in unicodedata.normalize("NFC", script).split():
        if not normalize_word(token):
            if out:
                out[-1] = f"{out[-1]} {token}"
            else:
                pending = f"{pending} {token}".strip()
            continue
        out.append(f"{pending} {token}" if pending else token)
        pending = ""
    if pending:
        out.append(pending)
    return out


@dataclass(frozen=True)
class AlignedWord:
    """A script word with its time. ``status``: matched, near, interpolated, skipped or transcript."""

    start: float
    end: float
    text: str
    status: str
    heard: str = ""
    probability: float = 0.0


@dataclass(frozen=True)
class Alignment:
    """Script words with times, the words the reader added, and how well the script fitted."""

    words: tuple[AlignedWord, ...]
    added: tuple[AlignedWord, ...]
    match_ratio: float
    used_script: bool
    warnings: tuple[str, ...] = ()

    @property
    def skipped(self) -> tuple[AlignedWord, ...]:
        return tuple(w for w in self.words if w.status == "skipped")

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------- Needleman–Wunsch
def _ids(keys: Sequence[str], table: dict[str, int]) -> np.ndarray:
    return np.array([table.setdefault(k, len(table)) if k else -1 for k in keys], dtype=np.int64)


def needleman_wunsch(a: Sequence[str], b: Sequence[str], band: int | None = None) -> list[tuple[int, int, float]]:
    """Globally align two word-key lists; returns (i, j, score) with -1 for a gap.

    Scores: exact match 3, same consonant skeleton 2, same 3-letter prefix 1,
    other pairing -1, gap -1. Rows are filled with numpy (the in-row gap run is a
    running maximum), so 2000×2000 words takes well under a second. Memory is a
    uint8 traceback per cell inside the band; long inputs use a diagonal band.
    """
    n, m = len(a), len(b)
    if band is None:
        band = m + 1 if n * m <= 16_000_000 else max(500, abs(n - m) + 500)
    table: dict[str, int] = {}
    ea, eb = _ids(a, table), _ids(b, table)
    table = {}
    sa, sb = _ids([_skeleton(k) if len(k) >= 2 else "" for k in a], table), _ids([_skeleton(k) if len(k) >= 2 else "" for k in b], table)
    table = {}
    pa, pb = _ids([k[:3] if len(k) >= 4 else "" for k in a], table), _ids([k[:3] if len(k) >= 4 else "" for k in b], table)

    neg = -1e18
    prev = np.full(m + 1, neg)
    hi0 = min(m, band)
    prev[: hi0 + 1] = GAP * np.arange(hi0 + 1)
    los, ptrs = [0], [np.full(hi0 + 1, 2, dtype=np.uint8)]
    for i in range(1, n + 1):
        centre = int(round(i * m / n)) if n else 0
        lo, hi = max(0, centre - band), min(m, centre + band)
        cols = np.arange(lo, hi + 1)
        up = prev[cols] + GAP
        diag = np.full(len(cols), neg)
        ok = cols >= 1
        jj = cols[ok] - 1
        score = np.where(
            eb[jj] == ea[i - 1],
            MATCH,
            np.where((sb[jj] == sa[i - 1]) & (sa[i - 1] >= 0), NEAR, np.where((pb[jj] == pa[i - 1]) & (pa[i - 1] >= 0), PREFIX, MISMATCH)),
        )
        if ea[i - 1] < 0:
            score = np.full(len(jj), MISMATCH)
        diag[ok] = prev[jj] + score
        tmp = np.maximum(diag, up)
        ptr = np.where(diag >= up, 0, 1).astype(np.uint8)
        k = np.arange(len(cols))
        # H[j] = max_k<=j tmp[k] + GAP*(j-k): a running maximum does the in-row gaps.
        row = np.maximum.accumulate(tmp - GAP * k) + GAP * k
        ptr[row > tmp] = 2
        cur = np.full(m + 1, neg)
        cur[lo : hi + 1] = row
        prev = cur
        los.append(lo)
        ptrs.append(ptr)
    out: list[tuple[int, int, float]] = []
    i, j = n, m
    while i > 0 or j > 0:
        p = ptrs[i][j - los[i]] if i > 0 else 2
        if i > 0 and j > 0 and p == 0:
            ka, kb = a[i - 1], b[j - 1]
            s = (
                MATCH
                if ka == kb
                else NEAR
                if ka and _skeleton(ka) == _skeleton(kb) and len(ka) >= 2 and len(kb) >= 2
                else (PREFIX if len(ka) >= 4 and len(kb) >= 4 and ka[:3] == kb[:3] else MISMATCH)
            )
            out.append((i - 1, j - 1, s))
            i, j = i - 1, j - 1
        elif i > 0 and (p == 1 or j == 0):
            out.append((i - 1, -1, GAP))
            i -= 1
        else:
            out.append((-1, j - 1, GAP))
            j -= 1
    out.reverse()
    return out


# ----------------------------------------------------------------- timing
def align(script: str, words: Sequence, duration: float | None = None, min_ratio: float = MIN_MATCH_RATIO) -> Alignment:
    """Time every word of ``script`` from Whisper ``words`` (objects with start, end, text, probability).

    Returns the script words in order with times inside [0, duration]. If too few
    words match (``min_ratio``), the script probably belongs to another
    recording: the transcript is returned instead, with a warning.
    """
    texts = script_words(script)
    hyp = [w for w in words if normalize_word(w.text)]
    limit = float(duration) if duration else (max((w.end for w in hyp), default=0.0))
    if not texts:
        raise ValueError("The script is empty.")
    if not hyp:
        return Alignment((), (), 0.0, False, ("No speech was heard, so the script cannot be timed.",))
    keys = [normalize_word(t) for t in texts]
    pairs = needleman_wunsch(keys, [normalize_word(w.text) for w in hyp])
    matched = sum(1 for i, j, s in pairs if i >= 0 and j >= 0 and s >= NEAR)
    ratio = matched / len(texts)
    if ratio < min_ratio:
        fallback = tuple(
            AlignedWord(_clip(w.start, limit), _clip(w.end, limit), w.text, "transcript", w.text, float(getattr(w, "probability", 0.0)))
            for w in hyp
        )
        return Alignment(
            fallback,
            (),
            round(ratio, 3),
            False,
            (
                f"The script does not match the recording (only {ratio:.0%} of its words were heard), "
                "so the subtitles use what Whisper heard instead. Check that this is the right script.",
            ),
        )

    # Anchors: script index -> hyp index for confident matches.
    anchor: dict[int, int] = {i: j for i, j, s in pairs if i >= 0 and j >= 0 and s >= NEAR}
    script_to_hyp = {i: j for i, j, _ in pairs if i >= 0}
    added = tuple(
        AlignedWord(hyp[j].start, hyp[j].end, hyp[j].text, "added", hyp[j].text, float(getattr(hyp[j], "probability", 0.0)))
        for i, j, _ in pairs
        if i < 0 and hyp[j].end - hyp[j].start > 0.05
    )
    out: list[AlignedWord | None] = [None] * len(texts)
    for i, j in anchor.items():
        h = hyp[j]
        status = "matched" if keys[i] == normalize_word(h.text) else "near"
        out[i] = AlignedWord(h.start, h.end, texts[i], status, h.text, float(getattr(h, "probability", 0.0)))

    i = 0
    while i < len(texts):
        if out[i] is not None:
            i += 1
            continue
        k = i
        while k < len(texts) and out[k] is None:
            k += 1
        _fill_run(out, texts, keys, hyp, anchor, script_to_hyp, i, k, limit)
        i = k
    timed = _monotonic([w for w in out if w is not None], limit)
    warnings = []
    skipped = sum(1 for w in timed if w.status == "skipped")
    if skipped:
        warnings.append(f"The reader seems to have skipped {skipped} word(s) of the script; they are shown briefly.")
    if len(added) > max(3, 0.1 * len(texts)):
        warnings.append(f"The reader said {len(added)} word(s) that are not in the script; the subtitles show the script only.")
    return Alignment(tuple(timed), added, round(ratio, 3), True, tuple(warnings))


def spread_over(lengths: Sequence[float], regions: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """(start, end) for pieces of text of these ``lengths``, spread over speech ``regions`` by length.

    Cumulative letters map to cumulative speaking time, so each piece gets the
    stretch of speech its share of the text predicts; the pauses between the
    regions are kept as they are. Works in any time unit (seconds or samples).
    """
    if not len(lengths) or not len(regions):
        return []
    lens = np.maximum(np.asarray(lengths, float), 1.0)
    speech = np.array([b - a for a, b in regions], float)
    cum_speech = np.concatenate([[0.0], np.cumsum(speech)])

    def at(u: float) -> float:  # speaking time u -> time on the clock
        k = int(np.clip(np.searchsorted(cum_speech, u, side="right") - 1, 0, len(regions) - 1))
        return float(regions[k][0] + min(u - cum_speech[k], speech[k]))

    bounds = np.concatenate([[0.0], np.cumsum(lens)]) / lens.sum() * cum_speech[-1]
    return [(at(bounds[i]), at(bounds[i + 1])) for i in range(len(lens))]


def spread(script: str, regions: Sequence[tuple[float, float]], duration: float) -> Alignment:
    """The script laid evenly over the speech (``regions`` in seconds) when Whisper recognised nothing usable."""
    texts = script_words(script)
    if not texts:
        raise ValueError("The script is empty.")
    if not regions:
        return Alignment((), (), 0.0, False, ("No speech was heard, so the script cannot be timed.",))
    spans = spread_over([len(normalize_word(t)) + 1 for t in texts], regions)
    timed = tuple(AlignedWord(_clip(a, duration), _clip(b, duration), t, "interpolated") for (a, b), t in zip(spans, texts))
    return Alignment(
        timed,
        (),
        0.0,
        True,
        ("Whisper could not follow this recording, so the script is spread evenly over her speech. Check the timing in the editor.",),
    )


def _clip(t: float, limit: float) -> float:
    return round(min(max(0.0, float(t)), limit), 3)


def _fill_run(out, texts, keys, hyp, anchor, script_to_hyp, i, k, limit) -> None:
    """Time script words i..k-1 (no anchors) between the neighbouring anchors by letter count."""
    prev_j = anchor[i - 1] if i > 0 and (i - 1) in anchor else None
    next_j = anchor[k] if k < len(texts) and k in anchor else None
    # Hyp words heard between the two anchors: the speech that belongs to this run.
    lo_j = (prev_j + 1) if prev_j is not None else 0
    hi_j = next_j if next_j is not None else len(hyp)
    between = hyp[lo_j:hi_j]
    t0 = out[i - 1].end if i > 0 and out[i - 1] is not None else None
    t1 = out[k].start if k < len(texts) and out[k] is not None else None
    weights = np.array([len(keys[x]) + 1 for x in range(i, k)], dtype=float)
    need = float(weights.sum()) * SECONDS_PER_CHAR
    if between:
        a, b = between[0].start, between[-1].end
        if t0 is not None:
            a = max(a, t0)
        if t1 is not None:
            b = min(b, t1)
        status = "interpolated"
    else:
        a = t0 if t0 is not None else (max(0.0, t1 - need) if t1 is not None else 0.0)
        b = t1 if t1 is not None else min(limit, a + need)
        # No speech between the anchors: a gap shorter than the words need means they were not read.
        status = "interpolated" if (b - a) >= 0.5 * need else "skipped"
    if b < a:
        a, b = b, a
    edges = a + (b - a) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    for n, x in enumerate(range(i, k)):
        j = script_to_hyp.get(x, -1)
        heard = hyp[j].text if j >= 0 else ""
        out[x] = AlignedWord(float(edges[n]), float(edges[n + 1]), texts[x], status, heard, 0.0)


def _monotonic(words: list[AlignedWord], limit: float) -> list[AlignedWord]:
    """Clamp to [0, limit] and make starts non-decreasing, ends >= starts."""
    fixed: list[AlignedWord] = []
    last = 0.0
    for w in words:
        start = max(_clip(w.start, limit), last)
        end = max(_clip(w.end, limit), start)
        fixed.append(AlignedWord(start, end, w.text, w.status, w.heard, w.probability))
        last = start
    return fixed
