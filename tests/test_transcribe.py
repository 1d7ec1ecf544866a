"""Whisper transcription with the real model (tiny.en for speed), streaming, bad input and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from storyteller.cli import main
from storyteller.errors import Cancelled
from storyteller.pipeline.media.audio import decode_audio, write_wav
from storyteller.pipeline.speech import loops, scripts
from storyteller.pipeline.speech import transcribe as tx
from storyteller.pipeline.speech.subtitles import read
from tests.conftest import shared_data, whisper_model_or_skip

TINY = "whisper-tiny.en"
CLIP = ("speech", "librispeech-test-other", "1688", "1688-142285-0000.flac")
# LibriSpeech test-other transcript of this utterance (CC BY 4.0).
CLIP_TEXT = (
    "THERE'S IRON THEY SAY IN ALL OUR BLOOD AND A GRAIN OR TWO PERHAPS IS GOOD "
    "BUT HIS HE MAKES ME HARSHLY FEEL HAS GOT A LITTLE TOO MUCH OF STEEL ANON"
)


def words_of(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


@pytest.fixture(scope="module")
def clip_transcript():
    whisper_model_or_skip(TINY)
    return tx.transcribe(shared_data(*CLIP), "en", model=TINY)


def test_transcript_has_timed_confident_words(clip_transcript):
    t = clip_transcript
    assert t.language == "en" and t.task == "transcribe" and 14 < t.duration < 16
    hyp, ref = words_of(t.text), words_of(CLIP_TEXT)
    # Real recognition: most of the reference words come back.
    assert len(set(hyp) & set(ref)) >= 0.7 * len(set(ref))
    words = t.words
    assert len(words) >= 20
    assert all(0 <= w.start <= w.end <= t.duration + 0.05 for w in words)
    assert all(a.start <= b.start for a, b in zip(words, words[1:]))
    assert all(0.0 <= w.probability <= 1.0 for w in words)
    assert isinstance(words[0].start, float)


def test_transcript_json_round_trip(clip_transcript):
    text = clip_transcript.to_json()
    again = tx.Transcript.from_json(text)
    assert again == clip_transcript
    assert json.loads(text)["segments"][0]["words"][0]["probability"] > 0
    with pytest.raises(tx.TranscriptionError, match="damaged"):
        tx.Transcript.from_json("{not json")
    with pytest.raises(tx.TranscriptionError, match="not a Storyteller transcript"):
        tx.Transcript.from_json('{"segments": []}')


def test_model_is_loaded_once_per_process():
    whisper_model_or_skip(TINY)
    a, _ = tx.load_model(TINY)
    b, _ = tx.load_model(TINY)
    assert a is b


def test_progress_and_cancel():
    whisper_model_or_skip(TINY)
    seen: list[float] = []
    tx.transcribe(shared_data(*CLIP), "en", model=TINY, progress=seen.append)
    assert seen and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)
    assert seen == sorted(seen)
    assert any(0 < f < 1 for f in seen), "progress is reported while segments arrive"
    calls = []

    def cancel_after_first_segment() -> bool:
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(Cancelled):
        tx.transcribe(shared_data(*CLIP), "en", model=TINY, cancel=cancel_after_first_segment)


@pytest.mark.slow
def test_long_audio_is_streamed_in_chunks(tmp_path):
    """Chunks stay bounded and cut at quiet moments; times are offset across chunks."""
    whisper_model_or_skip(TINY)
    folder = shared_data("speech", "librispeech-test-other", "1688")
    parts = [decode_audio(p) for p in sorted(folder.glob("*.flac"))[:4]]
    gap = np.zeros(8000, dtype=np.float32)
    joined = np.concatenate([x for p in parts for x in (p, gap)])
    wav = write_wav(tmp_path / "long.wav", joined, 16000)
    chunks = list(tx._chunks(wav, 20.0))
    assert sum(len(c) for _, c in chunks) == len(joined)
    assert max(len(c) for _, c in chunks) <= 28 * 16000
    offsets = [o for o, _ in chunks]
    assert offsets == sorted(offsets) and offsets[0] == 0
    streamed = tx.transcribe(wav, "en", model=TINY, chunk_seconds=20.0)
    whole = tx.transcribe(wav, "en", model=TINY, chunk_seconds=600.0)
    assert streamed.words[-1].end > len(joined) / 16000 - 6
    a, b = set(words_of(streamed.text)), set(words_of(whole.text))
    assert len(a & b) >= 0.8 * len(b)


@pytest.fixture
def bad_audio(tmp_path):
    rng = np.random.default_rng(0)
    sr = 16000
    t = np.arange(sr * 6) / sr
    chord = sum(0.15 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    music = chord * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t))  # a pulsing chord, no voice
    return {
        "silence": write_wav(tmp_path / "silence.wav", np.zeros(sr * 5, dtype=np.float32), sr),
        "noise": write_wav(tmp_path / "noise.wav", (0.2 * rng.standard_normal(sr * 5)).astype(np.float32), sr),
        "music": write_wav(tmp_path / "music.wav", music.astype(np.float32), sr),
        "short": write_wav(tmp_path / "short.wav", (0.1 * rng.standard_normal(int(sr * 0.2))).astype(np.float32), sr),
    }


@pytest.mark.parametrize("kind", ["silence", "noise", "music", "short"])
def test_no_speech_inputs_do_not_crash_and_say_why(bad_audio, kind):
    whisper_model_or_skip(TINY)
    t = tx.transcribe(bad_audio[kind], "en", model=TINY)
    if not t.segments:
        assert t.warnings and ("No speech" in t.warnings[0] or "too short" in t.warnings[0])
    else:  # Whisper may hallucinate on noise; it must at least stay inside the audio.
        assert all(w.end <= t.duration + 0.05 for w in t.words)
    if kind == "silence":
        assert not t.segments and "No speech" in t.warnings[0]
    if kind == "short":
        assert "too short" in " ".join(t.warnings) or not t.segments


def test_language_must_be_chosen_and_known(tmp_path):
    whisper_model_or_skip(TINY)
    clip = shared_data(*CLIP)
    with pytest.raises(tx.TranscriptionError, match="Choose the spoken language"):
        tx.transcribe(clip, None, model=TINY)
    with pytest.raises(tx.TranscriptionError, match="does not know the language"):
        tx.transcribe(clip, "klingon", model=TINY)
    with pytest.raises(tx.TranscriptionError, match="English-only"):
        tx.transcribe(clip, "ur", model=TINY)
    with pytest.raises(tx.TranscriptionError, match="English-only"):
        tx.transcribe(clip, "en", model=TINY, task="translate")
    not_media = tmp_path / "notes.wav"
    not_media.write_text("this is not sound")
    with pytest.raises(tx.TranscriptionError):
        tx.transcribe(not_media, "en", model=TINY)
    with pytest.raises(tx.TranscriptionError, match="speech model"):
        tx.transcribe(clip, "en", model="whisper-nonexistent")
    assert {"ur", "en", "ps", "pa", "sd", "fa"} <= set(tx.supported_languages())


def test_script_detection():
    assert scripts.wrong_script("मेरा नाम आयशा है", "ur") == "devanagari"
    assert scripts.wrong_script("mera naam Ayesha hai", "ur") == "latin"
    assert scripts.wrong_script("ਮੇਰਾ ਨਾਮ", "pa") == "gurmukhi"
    assert scripts.wrong_script("میرا نام عائشہ ہے، I am from Lahore", "ur") is None
    assert scripts.wrong_script("mera naam", "en") is None
    assert scripts.script_shares("abc")["latin"] == 1.0


def test_repetition_loops_are_recognised():
    assert loops.is_repetition_loop("The sun is shining, " * 12)
    assert loops.is_repetition_loop("I am the mother of the mother of the mother of the mother of the mother of the mother")
    assert not loops.is_repetition_loop("My name is Ayesha. I was born in a small village.")
    assert not loops.is_repetition_loop(CLIP_TEXT.lower())
    assert not loops.is_repetition_loop("")
    # Squeezable but not a phrase over and over: a long cry is what she said.
    assert not loops.is_repetition_loop("He shouted: N" + "o" * 80 + "!")


@pytest.mark.slow
def test_translate_writes_english(tmp_path):
    """French from eSpeak, which Whisper base translates (its Urdu it cannot: see test_transcribe_urdu)."""
    from tests.speech_tts import speak_to_wav

    whisper_model_or_skip("whisper-base")
    fr = speak_to_wav(
        "Je m'appelle Aisha. Je suis née dans un petit village. Mon père était agriculteur. Aujourd'hui je suis enseignante.",
        tmp_path / "fr.wav",
        voice="fr",
    )
    t = tx.transcribe(fr, "fr", model="whisper-base", task="translate")
    assert t.language == "en" and t.source_language == "fr" and t.task == "translate"
    assert "my name is" in t.text.lower() and scripts.script_shares(t.text)["latin"] > 0.95


def test_indic_ban_list_keeps_arabic_script_tokens():
    whisper_model_or_skip("whisper-base")
    from tokenizers import Tokenizer

    from storyteller import config
    from storyteller.pipeline.speech import models as whisper_models

    path = whisper_models.resolve(config.models_dir(), "whisper-base").path
    banned = set(scripts.non_arabic_indic_tokens(str(path)))
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    assert not banned & set(tok.encode("میرا نام عائشہ ہے۔ دا زما کیسه ده").ids)
    hindi = set(tok.encode("मेरा नाम आयशा है", add_special_tokens=False).ids)
    assert hindi & banned
    # What is left after the ban cannot spell a single Devanagari letter.
    left = tok.decode(sorted(hindi - banned))
    assert not any(0x0900 <= ord(c) <= 0x097F for c in left)


def test_cli_writes_srt_and_json(tmp_path):
    whisper_model_or_skip(TINY)
    clip = shared_data(*CLIP)
    runner = CliRunner()
    out = tmp_path / "story.srt"
    res = runner.invoke(main, ["transcribe", str(clip), "--model", TINY, "-o", str(out)])
    assert res.exit_code == 0, res.output
    cues = read(out)
    assert cues and cues[-1].end <= 15.1
    script = tmp_path / "script.txt"
    script.write_text(CLIP_TEXT.lower(), encoding="utf-8")
    res = runner.invoke(main, ["transcribe", str(clip), "--model", TINY, "--script", str(script), "-o", str(tmp_path / "s.json")])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    track = data["tracks"][0]
    assert track["source"] == "script"
    assert " ".join(c["text"].replace("\n", " ") for c in track["cues"]) == CLIP_TEXT.lower()
    assert data["transcript"]["segments"][0]["words"][0]["probability"] > 0
    hide = tmp_path / "hide.txt"
    hide.write_text("harshly\n", encoding="utf-8")
    res = runner.invoke(main, ["transcribe", str(clip), "--model", TINY, "--redact", str(hide), "-o", str(tmp_path / "r.vtt")])
    assert res.exit_code == 0, res.output
    vtt = (tmp_path / "r.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT") and "harshly" not in vtt.lower() and "▇▇▇" in vtt
    assert (tmp_path / "r.redacted.wav").stat().st_size > 100_000


def test_cli_bad_input_is_one_plain_line(tmp_path, bad_audio):
    whisper_model_or_skip(TINY)
    runner = CliRunner()
    res = runner.invoke(main, ["transcribe", str(bad_audio["silence"]), "--model", TINY, "-o", str(tmp_path / "x.srt")])
    assert res.exit_code == 1 and "No speech" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x.srt").exists()
    res = runner.invoke(main, ["transcribe", str(bad_audio["silence"]), "--model", TINY, "-o", str(tmp_path / "x.doc")])
    assert res.exit_code == 1 and ".srt, .vtt, .ass or .json" in res.output
    res = runner.invoke(main, ["transcribe", str(bad_audio["silence"]), "--model", TINY, "-l", "ur", "-o", str(tmp_path / "x.srt")])
    assert res.exit_code == 1 and "English-only" in res.output
    assert Path(bad_audio["silence"]).exists()


def test_a_loop_across_segments_is_kept_once():
    def seg(start, text):
        return tx.Segment(start, start + 2.0, text, (), -0.3, 0.01)

    village = "I was born in a small village."
    segments = [
        seg(0, "My name is Asha. " + village),
        seg(2, f"{village} {village}"),
        seg(4, village),
        seg(6, "I went to school."),
        seg(8, "I went to school."),
        seg(10, "It was far."),
    ]
    kept, dropped = loops.drop_repeated_segments(segments)
    # Three or more in a row is a loop; twice in a row may be what she said.
    assert [s.start for s in kept] == [0, 6, 8, 10]
    assert dropped == [(2, 4.0), (4, 6.0)]
    assert loops.drop_repeated_segments([]) == ([], [])
