"""Subtitle segmentation rules (property-style over random word streams), writers and readers."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from storyteller.pipeline.speech.subtitles import (
    Cue,
    Rules,
    SubtitleError,
    parse,
    read,
    segment,
    to_ass,
    to_srt,
    to_vtt,
    wrap,
    write,
)

RULES = Rules()
URDU = "میں نے اپنی کہانی لکھی اور سب کو سنائی کیونکہ یہ ضروری تھا ہمارے گاؤں میں لڑکیاں اسکول".split()
ENGLISH = "I walked to the school every morning with my sister and we talked about the future".split()


@dataclass(frozen=True)
class W:
    start: float
    end: float
    text: str


def random_words(rng: random.Random, n: int, rate: float = 13.0) -> list[W]:
    """A stream of words spoken at about ``rate`` characters a second, with pauses and punctuation."""
    t = rng.uniform(0, 2)
    out = []
    for _ in range(n):
        text = rng.choice(URDU if rng.random() < 0.5 else ENGLISH)
        r = rng.random()
        if r < 0.08:
            text += rng.choice(["۔", ".", "؟", "?"])
        elif r < 0.16:
            text += rng.choice(["،", ","])
        if rng.random() < 0.01:
            text = "نہایتطویللفظجوکبھیختمنہیںہوتااورایکلائنسےبھیلمباہے"  # longer than one line
        dur = max(0.08, len(text) / rate * rng.uniform(0.6, 1.4))
        out.append(W(round(t, 3), round(t + dur, 3), text))
        t += dur + (rng.uniform(0.8, 3.0) if rng.random() < 0.05 else rng.uniform(0.0, 0.2))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_segmentation_properties(seed):
    rng = random.Random(seed)
    words = random_words(rng, rng.randint(1, 250), rate=rng.choice([9.0, 13.0, 20.0]))
    limit = words[-1].end + rng.choice([0.0, 0.5, 3.0])
    cues = segment(words, RULES, end_limit=limit)
    # Text is kept exactly, in order.
    assert " ".join(c.text.replace("\n", " ") for c in cues).split() == [w.text for w in words]
    pos = 0
    for k, c in enumerate(cues):
        lines = c.text.split("\n")
        n_words = len(c.text.split())
        assert len(lines) <= RULES.max_lines
        assert all(len(ln) <= RULES.max_line for ln in lines) or n_words == 1
        assert 0 <= c.start < c.end <= limit + 1e-6
        assert c.end - c.start <= RULES.max_duration + 1e-6
        first, last = words[pos], words[pos + n_words - 1]
        pos += n_words
        nxt = cues[k + 1] if k + 1 < len(cues) else None
        if nxt is not None:
            assert c.end <= nxt.start + 1e-6, "cues overlap"
        # A cue shows from its first word; it stays at least until its last word ends, unless capped at 7 s.
        assert c.start <= first.start + 1e-6 or (k and abs(c.start - cues[k - 1].end) < 1e-6)
        assert c.end >= min(last.end, c.start + RULES.max_duration, limit) - 1e-6
        # Readability: short or fast cues are extended unless the next cue (or the audio end) is in the way.
        flat = c.text.replace("\n", " ")
        short = c.end - c.start < RULES.min_duration - 1e-6
        fast = len(flat) / (c.end - c.start) > RULES.max_cps + 1e-6
        if short or fast:
            blocked = (nxt is not None and c.end >= nxt.start - RULES.gap - 1e-6) or c.end >= limit - 1e-6
            blocked = blocked or c.end - c.start >= RULES.max_duration - 1e-6
            assert blocked, (c, nxt)


def test_breaks_at_urdu_full_stop_and_arabic_comma():
    text = "میرا نام عائشہ ہے۔ میں لاہور میں رہتی ہوں۔ میرے والد، جو کسان تھے، بہت محنتی تھے اور ہم سب ان سے پیار کرتے تھے۔"
    words = [W(i * 0.4, i * 0.4 + 0.35, t) for i, t in enumerate(text.split())]
    cues = segment(words)
    assert cues[0].text == "میرا نام عائشہ ہے۔"
    assert cues[1].text == "میں لاہور میں رہتی ہوں۔"
    # The long last sentence is split after a comma, not mid-phrase.
    assert all(c.text.replace("\n", " ").split()[-1][-1] in "۔،" for c in cues)


def test_pause_starts_a_new_cue_and_silence_is_not_covered():
    words = [W(0.0, 0.4, "Hello"), W(0.5, 0.9, "there"), W(4.0, 4.5, "again")]
    cues = segment(words)
    assert [c.text for c in cues] == ["Hello there", "again"]
    assert cues[0].end < 4.0


def test_wrap_balances_lines_and_prefers_punctuation():
    assert wrap("short text") == "short text"
    lines = wrap("one two three four five six seven eight nine ten eleven twelve").split("\n")
    assert len(lines) == 2 and abs(len(lines[0]) - len(lines[1])) <= 8
    assert wrap("This sentence is done, and this other part goes on a bit").split("\n")[0].endswith(",")
    assert wrap("x " * 60) is None


def test_empty_words_make_no_cues():
    assert segment([]) == []
    assert segment([W(0, 1, "  ")]) == []


CUES = [Cue(0.5, 2.25, "Hello & <world>"), Cue(2.5, 5.0, "میرا نام\nعائشہ ہے۔"), Cue(3661.001, 3662.5, "late")]


def test_srt_vtt_round_trip():
    assert parse(to_srt(CUES)) == CUES
    assert parse(to_vtt(CUES)) == CUES
    assert "01:01:01,001 --> 01:01:02,500" in to_srt(CUES)
    assert to_vtt(CUES).startswith("WEBVTT\n") and "&lt;world&gt;" in to_vtt(CUES)


# A blank line ends an SRT/VTT cue and "-->" starts a time line: in cue text they would break the file.
TRICKY = [
    Cue(0.5, 1.5, "first line\n\n  after a blank line "),
    Cue(2.0, 3.0, "an arrow --> inside"),
    Cue(3.5, 4.0, "  \n "),
    Cue(4.5, 5.0, "Hello & <world>"),
]


def test_writers_keep_the_file_structure_whatever_the_text():
    for text in (to_srt(TRICKY), to_vtt(TRICKY)):
        back = parse(text)
        assert [c.text for c in back] == ["first line\nafter a blank line", "an arrow → inside", "Hello & <world>"]
        assert [(c.start, c.end) for c in back] == [(0.5, 1.5), (2.0, 3.0), (4.5, 5.0)]
    assert to_srt(TRICKY).startswith("1\n") and "\n3\n00:00:04,500 --> " in to_srt(TRICKY)  # numbered without gaps


def test_render_writes_the_same_subtitle_files_as_the_cli(tmp_path):
    """One writer: the .srt/.vtt beside a rendered video are what the transcribe command writes for those cues."""
    from storyteller.pipeline.render.encode import render_story
    from storyteller.pipeline.render.story import load_story
    from storyteller.pipeline.render.timeline import video_cues
    from tests.render_helpers import make_story

    subs = [{"start": c.start, "end": c.end, "text": c.text} for c in TRICKY]
    folder = make_story(tmp_path / "s", scenes=1, seconds=5.5, subtitles=subs)
    result = render_story(folder, tmp_path / "v.mp4", quality="preview")
    cues = video_cues(load_story(folder), result.duration)
    write(cues, tmp_path / "cli.srt")
    write(cues, tmp_path / "cli.vtt")
    assert result.srt_path.read_bytes() == (tmp_path / "cli.srt").read_bytes()
    assert result.vtt_path.read_bytes() == (tmp_path / "cli.vtt").read_bytes()


def test_ass_has_one_dialogue_per_cue():
    ass = to_ass(CUES)
    dialogue = [ln for ln in ass.splitlines() if ln.startswith("Dialogue:")]
    assert len(dialogue) == 3
    assert dialogue[1].endswith("میرا نام\\Nعائشہ ہے۔")
    assert "0:00:00.50,0:00:02.25" in dialogue[0]


def test_reader_tolerates_bom_crlf_tags_settings_and_notes(tmp_path):
    srt = "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hi</i> there\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\nOK\r\n"
    p = tmp_path / "a.srt"
    p.write_bytes(srt.encode("utf-8"))
    assert read(p) == [Cue(1.0, 2.5, "Hi there"), Cue(3.0, 4.0, "OK")]
    vtt = "WEBVTT - title\n\nNOTE a comment\n\nid1\n00:01.000 --> 00:02.000 align:start line:80%\nفرمایا\n\n"
    q = tmp_path / "b.vtt"
    q.write_text(vtt, encoding="utf-8")
    assert read(q) == [Cue(1.0, 2.0, "فرمایا")]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "no subtitles"),
        ("1\nnot a time\nhello\n", "expected a time line"),
        ("1\n00:00:05,000 --> 00:00:01,000\nbackwards\n", "ends before it starts"),
        ("1\n00:00:xx,000 --> 00:00:01,000\nbad\n", "not valid"),
    ],
)
def test_bad_srt_gives_clear_error(tmp_path, content, message):
    p = tmp_path / "bad.srt"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(SubtitleError, match=message):
        read(p)


def test_bad_files_give_clear_errors(tmp_path):
    p = tmp_path / "x.vtt"
    p.write_text("00:01.000 --> 00:02.000\nno header\n", encoding="utf-8")
    with pytest.raises(SubtitleError, match="WEBVTT"):
        read(p)
    b = tmp_path / "bin.srt"
    b.write_bytes(bytes(range(128, 256)) * 3)
    with pytest.raises(SubtitleError, match="UTF-8"):
        read(b)
    with pytest.raises(SubtitleError, match=".srt or .vtt"):
        read(tmp_path / "x.txt")
    with pytest.raises(SubtitleError, match=".srt, .vtt or .ass"):
        write(CUES, tmp_path / "x.doc")


def test_write_by_extension(tmp_path):
    for ext in (".srt", ".vtt", ".ass"):
        out = write(CUES, tmp_path / f"s{ext}")
        assert out.read_text(encoding="utf-8")
    assert read(tmp_path / "s.srt") == CUES
