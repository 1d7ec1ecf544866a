"""Redaction of spoken identifiers: finding them by timing and script, covering audio and text."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from storyteller.pipeline.media.audio import decode_audio, write_wav
from storyteller.pipeline.speech import redact as rd
from storyteller.pipeline.speech.align import AlignedWord
from storyteller.pipeline.speech.transcript import Word
from tests.conftest import shared_data, whisper_model_or_skip

W = Word  # the recogniser's own word type, so the tests feed exactly what Whisper gives


HEARD = [
    W(0.0, 0.4, "My"),
    W(0.4, 0.7, "name"),
    W(0.7, 0.9, "is"),
    W(0.9, 1.5, "Ayesha,"),
    W(1.6, 1.9, "I"),
    W(1.9, 2.2, "live"),
    W(2.2, 2.4, "on"),
    W(2.4, 2.8, "Mall"),
    W(2.8, 3.3, "Road."),
    W(3.5, 4.0, "Ayesha's"),
    W(4.0, 4.5, "school"),
]


def test_phrases_are_found_case_and_punctuation_insensitive():
    found = rd.find(["ayesha", "Mall Road"], HEARD)
    assert [(p, i, k) for p, i, k in found] == [("ayesha", 3, 4), ("ayesha", 9, 10), ("Mall Road", 7, 9)]
    assert rd.find(["Ayesha Khan"], HEARD) == []


def test_plan_merges_spans_and_reports_what_cannot_be_placed():
    script = [
        AlignedWord(0.0, 0.4, "میرا", "matched"),
        AlignedWord(0.4, 0.9, "نام", "matched"),
        AlignedWord(0.9, 1.5, "عائشہ", "interpolated"),
        AlignedWord(1.5, 1.5, "کراچی", "skipped"),
    ]
    plan = rd.plan(["Ayesha", "Mall Road", "عائشہ", "کراچی", "Nowhere"], HEARD, script, duration=5.0)
    sources = {(o.phrase, o.source) for o in plan.occurrences}
    assert ("Ayesha", "speech") in sources and ("عائشہ", "script") in sources
    assert all(a < b for a, b in plan.spans)
    assert all(plan.spans[k][1] < plan.spans[k + 1][0] for k in range(len(plan.spans) - 1))
    assert plan.spans[0][0] <= 0.9 - 0.08 and plan.spans[0][1] >= 1.5
    msgs = " ".join(plan.messages)
    assert "کراچی" in msgs and "not heard" in msgs  # skipped in reading: only the subtitle is hidden
    assert "approximately" in msgs  # interpolated: covered wider, user asked to check
    assert plan.not_found == ("Nowhere",)


def test_text_is_masked_with_one_mark_per_occurrence():
    out = rd.mask_words(HEARD, ["Ayesha", "Mall Road"])
    text = " ".join(w.text for w in out)
    assert text == "My name is ▇▇▇, I live on ▇▇▇. ▇▇▇ school"
    road = next(w for w in out if w.text == "▇▇▇.")
    assert (road.start, road.end) == (2.4, 3.3)
    # Words of another track inside a covered span are hidden too (e.g. the translation).
    other = [W(0.8, 1.4, "Aisha"), W(1.5, 2.0, "here")]
    assert [w.text for w in rd.mask_words(other, [], [(0.82, 1.58)])] == ["▇▇▇", "here"]


def test_envelope_fades_without_steps():
    t = np.arange(0, 3, 1 / 16000)
    env = rd.envelope(t, [(1.0, 2.0)], fade=0.02)
    assert env[(t > 1.0) & (t < 2.0)].min() == 1.0
    assert env[(t < 0.98) | (t > 2.02)].max() == 0.0
    assert np.abs(np.diff(env)).max() <= 1 / (0.02 * 16000) + 1e-9


def test_redacted_audio_covers_span_smoothly_and_keeps_the_rest(tmp_path):
    sr = 16000
    t = np.arange(sr * 3) / sr
    voice = (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    src = write_wav(tmp_path / "in.wav", voice, sr)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    out = rd.redact_audio(src, tmp_path / "out.wav", [(1.0, 1.5)], mode="silence")
    y = decode_audio(out)
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    assert len(y) == len(voice)
    assert np.abs(y[int(1.0 * sr) : int(1.5 * sr)]).max() < 1e-3
    keep = (t < 0.97) | (t > 1.53)
    assert np.abs(y[keep] - voice[keep]).max() < 2e-4
    # No click: the largest sample step stays that of the original sine.
    assert np.abs(np.diff(y)).max() <= np.abs(np.diff(voice)).max() + 1e-3
    tone = decode_audio(rd.redact_audio(src, tmp_path / "tone.wav", [(1.0, 1.5)], mode="tone"))
    seg = tone[int(1.05 * sr) : int(1.45 * sr)]
    spectrum = np.abs(np.fft.rfft(seg))
    assert abs(np.argmax(spectrum) * sr / len(seg) - 440) < 5
    with pytest.raises(rd.RedactionError, match="new file"):
        rd.redact_audio(src, src, [(0, 1)])


def test_read_phrases(tmp_path):
    p = tmp_path / "hide.txt"
    p.write_text("\ufeff# names\nAyesha\n\n  Mall Road \nعائشہ\n", encoding="utf-8")
    assert rd.read_phrases(p) == ["Ayesha", "Mall Road", "عائشہ"]
    p.write_text("# nothing\n\n", encoding="utf-8")
    with pytest.raises(rd.RedactionError, match="empty"):
        rd.read_phrases(p)


@pytest.mark.slow
def test_spoken_word_is_gone_after_redaction(tmp_path):
    """Real run: hide "harshly" in a LibriSpeech clip; Whisper no longer hears it, the rest survives."""
    from storyteller.pipeline.speech.tracks import make_subtitles
    from storyteller.pipeline.speech.transcribe import transcribe

    whisper_model_or_skip("whisper-tiny.en")
    clip = shared_data("speech", "librispeech-test-other", "1688", "1688-142285-0000.flac")
    story = make_subtitles(clip, "en", model="whisper-tiny.en", redact=["harshly", "blood"])
    text = " ".join(c.text for c in story.tracks[0].cues).lower()
    assert "harshly" not in text and "blood" not in text and text.count("▇▇▇") == 2
    assert "harshly" not in story.transcript.text.lower()
    assert len(story.redaction.spans) == 2
    out = rd.redact_audio(clip, tmp_path / "redacted.wav", story.redaction.spans)
    again = transcribe(out, "en", model="whisper-tiny.en").text.lower()
    assert "harshly" not in again and "blood" not in again
    assert "steel" in again and "iron" in again
