"""Script-guided timing: normalisation, Needleman–Wunsch, interpolation, marks and fallback (no model needed)."""

from __future__ import annotations

import random
import time

import pytest

from storyteller.pipeline.speech.align import (
    align,
    needleman_wunsch,
    normalize_word,
    script_words,
    spread,
)
from storyteller.pipeline.speech.transcript import Word

W = Word  # the recogniser's own word type, so the tests feed exactly what Whisper gives


def spoken(text: str, start: float = 0.5, per_char: float = 0.07, gap: float = 0.1) -> list[W]:
    out, t = [], start
    for tok in text.split():
        d = len(tok) * per_char
        out.append(W(round(t, 3), round(t + d, 3), tok))
        t += d + gap
    return out


def test_normalisation_folds_arabic_script_variants_and_punctuation():
    assert normalize_word("علي") == normalize_word("علی")  # Arabic yeh vs Farsi/Urdu yeh
    assert normalize_word("كتاب") == normalize_word("کتاب")  # Arabic kaf vs keheh
    assert normalize_word("مدرسة") == normalize_word("مدرسہ")  # teh marbuta vs heh goal
    assert normalize_word("کہانی۔") == normalize_word("کہانی")  # Urdu full stop
    assert normalize_word("ہے،") == normalize_word("ہے")  # Arabic comma
    assert normalize_word("کیوں؟") == normalize_word("کیوں")
    assert normalize_word("مُحَمَّد") == normalize_word("محمد")  # harakat removed
    assert normalize_word("كـتـاب") == normalize_word("کتاب")  # tatweel removed
    assert normalize_word("Hello,") == normalize_word("hello")
    assert normalize_word("۱۲") == "12"
    assert normalize_word("۔") == "" and normalize_word("—") == ""


def test_script_words_keep_punctuation_with_words():
    assert script_words("« میرا نام ۔ عائشہ ہے »") == ["« میرا", "نام ۔", "عائشہ", "ہے »"]


def test_needleman_wunsch_aligns_with_gaps():
    pairs = needleman_wunsch(list("abcdef"), list("abxdf"))
    matched = [(i, j) for i, j, s in pairs if i >= 0 and j >= 0 and s >= 3]
    assert matched == [(0, 0), (1, 1), (3, 3), (5, 4)]
    assert sorted(i for i, _, _ in pairs if i >= 0) == list(range(6))
    assert sorted(j for _, j, _ in pairs if j >= 0) == list(range(5))


def test_needleman_wunsch_band_matches_full_on_similar_sequences():
    rng = random.Random(1)
    a = [rng.choice("abcdefghijklmnop") * 2 for _ in range(400)]
    b = [x for x in a if rng.random() > 0.1]
    full = needleman_wunsch(a, b)
    banded = needleman_wunsch(a, b, band=120)
    assert full == banded


def test_alignment_of_2000_words_is_fast_and_complete():
    rng = random.Random(2)
    vocab = [f"w{k}" for k in range(300)]
    script = " ".join(rng.choice(vocab) for _ in range(2000))
    heard = [w for w in spoken(script) if rng.random() > 0.3]
    t = time.perf_counter()
    al = align(script, heard, duration=heard[-1].end + 1)
    assert time.perf_counter() - t < 15
    assert [w.text for w in al.words] == script.split()


def test_exact_script_gets_whisper_times():
    script = "میرا نام عائشہ ہے۔ میں لاہور میں رہتی ہوں۔"
    heard = spoken("میرا نام آیشا ہے میں لاہور میں رہتی ہوں")  # Whisper spells the name differently
    al = align(script, heard, duration=10)
    assert al.used_script and al.match_ratio == 1.0
    assert " ".join(w.text for w in al.words) == script
    assert [(w.start, w.end) for w in al.words] == [(h.start, h.end) for h in heard]
    assert al.words[2].status == "near" and al.words[0].status == "matched"


def test_unmatched_run_is_spread_by_letter_count_between_anchors():
    script = "alpha bravo x yyyyyyy charlie delta"
    heard = [
        W(0.0, 0.5, "alpha"),
        W(0.6, 1.0, "bravo"),
        W(1.2, 1.6, "zz"),
        W(1.7, 2.8, "qqqqq"),
        W(3.0, 3.5, "charlie"),
        W(3.6, 4.0, "delta"),
    ]
    al = align(script, heard, duration=5)
    x, y = al.words[2], al.words[3]
    assert x.status == y.status == "interpolated"
    # The run covers the speech heard between the anchors (1.2..2.8 s), split 2:8 by letters + 1.
    assert x.start == pytest.approx(1.2) and y.end == pytest.approx(2.8)
    assert (x.end - x.start) / (y.end - y.start) == pytest.approx(2 / 8, rel=1e-3)


def test_skipped_and_added_words_are_marked():
    script = "one two three four five six seven eight nine ten"
    # The reader skips "four five six" (no time for them) and adds "um well".
    heard = spoken("one two three seven um well eight nine ten", gap=0.05)
    heard = [W(w.start, w.end, w.text) for w in heard]
    al = align(script, heard, duration=10)
    status = {w.text: w.status for w in al.words}
    assert status["one"] == "matched" and status["ten"] == "matched"
    assert {status["four"], status["five"], status["six"]} == {"skipped"}
    assert [w.text for w in al.added] == ["um", "well"]
    assert any("skipped" in m for m in al.warnings)
    assert [w.text for w in al.words] == script.split()


def test_few_anchors_still_give_usable_timing():
    # A poor recogniser: only the first and last words are right.
    script = "start " + " ".join(f"word{k}" for k in range(20)) + " finish"
    heard = [W(0.0, 0.4, "start")] + [W(0.5 + k * 0.4, 0.8 + k * 0.4, f"junk{k}") for k in range(18)] + [W(8.0, 8.5, "finish")]
    al = align(script, heard, duration=9, min_ratio=0.05)
    starts = [w.start for w in al.words]
    assert starts == sorted(starts) and al.words[-1].end <= 9
    assert al.words[1].start >= 0.4 and al.words[-2].end <= 8.0


def test_script_that_does_not_match_falls_back_to_transcript():
    script = "یہ بالکل مختلف کہانی ہے جو کسی اور نے لکھی تھی اور اس کا اس آواز سے کوئی تعلق نہیں"
    heard = spoken("the quick brown fox jumps over the lazy dog and runs away")
    al = align(script, heard, duration=10)
    assert not al.used_script
    assert [w.text for w in al.words] == [w.text for w in heard]
    assert "does not match" in al.warnings[0]


def test_no_speech_cannot_be_timed():
    al = align("some script", [], duration=3)
    assert not al.used_script and al.words == () and "No speech" in al.warnings[0]
    with pytest.raises(ValueError):
        align("  ", spoken("hello"), duration=3)


def test_times_stay_within_audio():
    script = "a b c d e f g h"
    heard = [W(0.0, 0.2, "a"), W(9.5, 12.0, "h")]  # a word reported past the end
    al = align(script, heard, duration=10, min_ratio=0.1)
    assert all(0 <= w.start <= w.end <= 10 for w in al.words)


def test_unrelated_text_in_the_same_language_is_detected():
    """Shared function words (the, and, of) alone must not pass as a match."""
    script = "it was the best of times it was the worst of times it was the age of wisdom it was the age of foolishness"
    heard = spoken("I walked to the school every morning with my sister and we talked about the future and what we would do")
    al = align(script, heard, duration=20)
    assert not al.used_script and al.match_ratio < 0.2


def test_script_is_spread_over_speech_when_nothing_was_recognised():
    regions = [(1.0, 3.0), (5.0, 7.0)]  # seconds: two phrases with a pause between
    al = spread("One two three. Four five six.", regions, duration=8.0)
    assert al.used_script and [w.text for w in al.words] == ["One", "two", "three.", "Four", "five", "six."]
    assert all(w.status == "interpolated" for w in al.words) and "spread evenly" in al.warnings[0]
    assert al.words[0].start == 1.0 and al.words[-1].end == 7.0
    assert all(not (3.0 < w.start < 5.0) for w in al.words)  # nothing starts in the pause
    assert all(a.end <= b.start for a, b in zip(al.words, al.words[1:]))
    silent = spread("One two.", [], duration=8.0)
    assert not silent.used_script and not silent.words and "No speech" in silent.warnings[0]
