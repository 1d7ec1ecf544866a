"""Replace her voice entirely: a synthetic voice (``synthetic``) or a second person (``double``).

Both keep the story's timing, so subtitles made from her recording still fit.
The synthetic voice says her words unit by unit (a sentence, or the words
between two of her longer pauses), each unit starting where she started it and
read at the speed that ends it where she ended it, in the voice's own natural
rhythm. The double is in ``double.py``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from storyteller.errors import CancelFn, ProgressFn, UserError
from storyteller.pipeline.media.audio import speech_regions
from storyteller.pipeline.voice import tts
from storyteller.pipeline.voice.secret import secret_rng


class ReplaceError(UserError):
    """The replacement voice could not be made; the message says why."""


def _resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = np.gcd(sr_in, sr_out)
    return resample_poly(y, sr_out // g, sr_in // g).astype(np.float32)


def _place(out: np.ndarray, piece: np.ndarray, start: int, sr: int) -> None:
    """Add ``piece`` at ``start`` with 10 ms fades so no edge clicks."""
    piece = piece[: max(0, len(out) - start)].copy()
    f = min(len(piece) // 2, int(0.01 * sr))
    if f:
        ramp = np.linspace(0, 1, f, dtype=np.float32)
        piece[:f] *= ramp
        piece[-f:] *= ramp[::-1]
    out[start : start + len(piece)] += piece


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(y, np.float64) ** 2) + 1e-12))


# ------------------------------------------------------------------ synthetic
_SENTENCE_END = re.compile(r"[.!?؟۔]\W*$")
_QUESTION = re.compile(r"[?؟]\W*$")
_CLAUSE_END = re.compile(r"[,;:،؛]\W*$")
# Her pause that starts a new unit: each unit begins at her time and is said in the voice's own rhythm.
# Measured (bench_voice.py docstring): the longer the stretch said naturally, the better it is understood.
UNIT_GAP = 0.7
COMMA_GAP = 0.25  # a shorter pause of hers inside a unit: the voice pauses there too, as at a comma
MAX_UNIT_WORDS = 40
# A preview's first unit: a long opening sentence said whole kept the listener waiting. Kokoro takes
# about 1 s of one core per second of speech, so the first unit is short: 4 words instead of 8 took the
# first sound 4.4 -> 2.5 s and the whole 10 s preview 10.0 -> 8.1 s (with her script, quiet machine,
# 2026-12-02; the units after it share the two cores better).
PREVIEW_FIRST_WORDS = 4
SPEEDS = (0.8, 1.3)  # how much the voice may slow down or hurry to fit her time: beyond this it sounds unnatural
WORKERS = 2  # units made at once, one core each
MIN_GAP = 0.12  # seconds of silence kept between two units when the voice runs late
LOUDNESS_RANGE = 2.0  # a unit may be at most this much louder or quieter than her average (x, either way)
_WHISPER_CODE = {"prs": "fa"}  # Dari is transcribed as Persian


@dataclass(frozen=True)
class TimedWord:
    """One word she said, in samples of her recording."""

    start: int
    end: int
    text: str


def no_voice_message(language: str) -> str:
    """The plain refusal for a language the synthetic voice cannot speak, naming what remains."""
    from storyteller.pipeline.speech.transcribe import LANGUAGE_NAMES

    name = LANGUAGE_NAMES.get(language, repr(language))
    return (
        f"There is no synthetic voice for {name} yet. The methods that remain: 'double' (a volunteer reads "
        "her script) or 'disguise' (keeps the feel of her voice; people who know her may still recognise it)."
    )


def her_words(
    inp, y: np.ndarray, sr: int, script: str | None, language: str, progress: ProgressFn, cancel: CancelFn
) -> tuple[list[TimedWord], tuple[str, ...]]:
    """Her words and their times, as the subtitles get them: Whisper's word times, the script laid on them.

    With a script that Whisper could not follow at all, the script is spread over
    her speech by length. Without a script, what Whisper heard is what the new voice says.
    """
    from storyteller.pipeline.speech import align, transcribe

    heard = transcribe.transcribe(inp, _WHISPER_CODE.get(language, language), progress=progress, cancel=cancel)
    words = [w for seg in heard.segments for w in seg.words]
    warnings = list(heard.warnings)
    if script and script.strip():
        timed = align.align(script, words, heard.duration) if words else None
        if timed is None or not timed.words:
            regions = [(a / sr, b / sr) for a, b in speech_regions(y, sr)]
            timed = align.spread(script, regions, len(y) / sr)
        warnings = list(timed.warnings)  # the alignment's warnings replace the transcript's ("no speech" etc.)
        spoken = [(w.start, w.end, w.text) for w in timed.words]
    else:
        spoken = [(w.start, w.end, w.text) for w in words]
    return [TimedWord(int(a * sr), int(b * sr), t) for a, b, t in spoken if t.strip()], tuple(warnings)


def units(words: list[TimedWord], sr: int, first_words: int = MAX_UNIT_WORDS) -> list[list[TimedWord]]:
    """Her words grouped into the stretches the voice says in one breath: a sentence's end or a pause of
    ``UNIT_GAP`` starts a new one, so the first sentence can also be heard before the rest is made. The
    first unit holds at most ``first_words`` (a preview's first sound comes sooner)."""
    out: list[list[TimedWord]] = []
    for w in words:
        if (
            out
            and w.start - out[-1][-1].end < UNIT_GAP * sr
            and len(out[-1]) < (first_words if len(out) == 1 else MAX_UNIT_WORDS)
            and not _SENTENCE_END.search(out[-1][-1].text)
        ):
            out[-1].append(w)
        else:
            out.append([w])
    return out


def unit_marks(unit: list[TimedWord], sr: int) -> dict[int, str]:
    """The punctuation the voice reads after each word: her commas and her shorter pauses become commas,
    and the unit ends as a sentence or a question, so the voice pauses and falls where she did."""
    marks = {}
    for k, (w, nxt) in enumerate(zip(unit, unit[1:])):
        if _CLAUSE_END.search(w.text) or _SENTENCE_END.search(w.text) or nxt.start - w.end >= COMMA_GAP * sr:
            marks[k] = ","
    last = unit[-1].text
    marks[len(unit) - 1] = "?" if _QUESTION.search(last) else "." if _SENTENCE_END.search(last) else ","
    return marks


# The story's voice: jf_tebukuro with a secret share of jf_nezumi (see synthetic_voice). jf_alpha stays out:
# alone it was the one voice Whisper misheard (WER 4.6 against 1.5 for each of the others, bench_voice.py).
BLEND = ("jf_tebukuro", "jf_nezumi")
BLEND_MIX = (0.25, 0.5)


def synthetic_voice(secret) -> tts.Voice:
    """The story's synthetic voice: a secret blend of two of the shipped voices, within a narrow range.

    Any two of the voices at any mix left stories sounding apart, and an attacker who made his own
    blends found her story's among them more often than by chance (EER_lazy 43.8 over three draws);
    blends held near one voice sound alike from story to story (EER_lazy 45.4 over six), and this pair,
    mostly jf_tebukuro, was the best understood of three such pairs (all in bench_voice.py's docstring).
    """
    rng = secret_rng(secret, "synthetic")
    return tts.Voice(*BLEND, mix=float(rng.uniform(*BLEND_MIX)))


def _espeak_language(language: str, text: str) -> str:
    # Pakistani Punjabi is written in Shahmukhi (Arabic script); eSpeak's pa reads Gurmukhi, so use the Urdu voice
    if language == "pa" and re.search(r"[\u0600-\u06FF]", text):
        return "ur"
    return language


class _Speaker:
    """Says a unit at a pace near hers: Kokoro when installed, else eSpeak's robotic voice."""

    def __init__(self, secret, language: str):
        self.language = language
        self.voice = synthetic_voice(secret)
        self.warning = ""
        try:
            tts._model()
            self.neural = True
        except tts.VoiceModelMissing as exc:
            self.neural = False
            self.warning = f"The voice is robotic because {exc}. Install the natural voice with `storyteller models install`."
            rng = secret_rng(secret, "synthetic-espeak")
            self.variant = str(rng.choice(tts.ESPEAK_VARIANTS))
            self.pitch = int(rng.integers(30, 71))

    def say(self, words: list[str], marks: dict[int, str], speed: float) -> tuple[np.ndarray, int, int, int]:
        """(audio, first word's start, last word's end, rate)."""
        language = _espeak_language(self.language, " ".join(words))
        if self.neural:
            audio, spans, rate = tts.speak_words(words, language, replace(self.voice, speed=speed), marks)
        else:
            audio, spans, rate = tts.espeak_words(words, language, self.variant, self.pitch, marks, speed)
        said = [(a, b) for a, b in spans if b > a]
        return audio, (said[0][0] if said else 0), (said[-1][1] if said else 0), rate

    def _seconds(self, words: list[str], marks: dict[int, str], speed: float) -> float:
        """How long the unit lasts at ``speed``, first word's start to last word's end."""
        language = _espeak_language(self.language, " ".join(words))
        if self.neural:  # the model's duration part alone: the unit is known before it is made
            spans, rate = tts.word_spans(words, language, replace(self.voice, speed=speed), marks)
        else:
            _audio, *ends, rate = self.say(words, marks, speed)
            spans = [tuple(ends)]
        said = [(a, b) for a, b in spans if b > a]
        return (said[-1][1] - said[0][0]) / rate if said else 0.0

    def fit(self, words: list[str], marks: dict[int, str], seconds: float) -> tuple[float, float]:
        """(the speed within ``SPEEDS`` that says the unit in about ``seconds``, how long it then lasts)."""
        natural = self._seconds(words, marks, 1.0)
        speed = float(np.clip(natural / max(seconds, 0.05), *SPEEDS))
        # the model rounds each sound's duration at the speed asked, so the length is asked again there
        return speed, (self._seconds(words, marks, speed) if self.neural else natural / speed)


def _her_levels(y: np.ndarray, groups: list[list[TimedWord]]) -> list[float]:
    """Her loudness in each unit, kept within ``LOUDNESS_RANGE`` of her average (geometric mean)."""
    levels = np.array([_rms(y[u[0].start : u[-1].end]) for u in groups])
    mean = float(np.exp(np.mean(np.log(levels + 1e-9))))
    return list(np.clip(levels, mean / LOUDNESS_RANGE, mean * LOUDNESS_RANGE))


def synthetic(
    inp,
    y: np.ndarray,
    sr: int,
    secret,
    *,
    script: str | None = None,
    language: str = "en",
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Her words spoken by a synthetic voice, unit by unit in her time, each unit at her loudness.

    Returns the new audio (as long as ``y``) and plain warnings (a robotic
    fallback voice, a script that does not match the recording, ...).
    """
    progress = progress or (lambda f: None)
    cancel = cancel or (lambda: False)
    if not tts.language_supported(language):
        raise ReplaceError(no_voice_message(language))
    words, warnings = her_words(inp, y, sr, script, language, lambda f: progress(0.4 * f), cancel)
    if not words:
        raise ReplaceError(
            "No speech was recognised in this recording (it may be silence or music), so the "
            "synthetic voice has no words to say. Check the recording, or give her script with --script."
        )
    speaker = _Speaker(secret, language)
    if speaker.warning:
        warnings = (speaker.warning, *warnings)
    out = speak_over(y, sr, words, speaker, lambda f: progress(0.4 + 0.6 * f), cancel)
    return out, warnings


def speak_over(
    y: np.ndarray,
    sr: int,
    words: list[TimedWord],
    speaker: _Speaker,
    progress: ProgressFn,
    cancel: CancelFn,
    on_unit=None,
    first_words: int = MAX_UNIT_WORDS,
) -> np.ndarray:
    """Say ``words`` unit by unit into a silence as long as ``y``; ``on_unit(out, end)`` after each.

    Each unit starts where she started it (or just after the previous one, when
    the voice ran late) and is read at the speed, within ``SPEEDS``, that ends it
    where she ended it; inside it the voice keeps its own natural rhythm. It
    takes her loudness for that unit. Every unit's speed and place are settled
    first (the model's duration part is cheap), then the units are made
    ``WORKERS`` at a time and laid down in order.
    """
    out = np.zeros(len(y), np.float32)
    groups = units(words, sr, first_words)
    levels = _her_levels(y, groups)
    lead, tail = int(0.03 * sr), int(0.25 * sr)  # the voice's own onset and decay around its words
    plan = []  # (words, marks, speed, her start) of each unit
    late_until = 0
    for unit in groups:
        if cancel():
            return out
        start = max(unit[0].start, late_until + int(MIN_GAP * sr))
        seconds = max(unit[-1].end - start, 0.5 * (unit[-1].end - unit[0].start)) / sr
        texts, marks = [w.text for w in unit], unit_marks(unit, sr)
        speed, lasts = speaker.fit(texts, marks, seconds)
        plan.append((texts, marks, speed, start))
        late_until = start + int(lasts * sr)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        made = {}
        for k, ((*_said, start), level) in enumerate(zip(plan, levels)):
            for j in range(k, min(k + WORKERS, len(plan))):  # a bounded window: memory stays flat on long takes
                if j not in made:
                    made[j] = pool.submit(speaker.say, *plan[j][:3])
            if cancel():
                pool.shutdown(cancel_futures=True)
                break
            audio, a, b, rate = made.pop(k).result()
            audio = _resample(audio, rate, sr)
            a, b = int(a * sr / rate), int(b * sr / rate)
            piece = audio[max(0, a - lead) : b + tail]
            piece = piece * (level / max(_rms(audio[a:b]), 1e-6))
            at = start - min(lead, a)
            _place(out, piece, max(0, at), sr)
            progress((k + 1) / len(plan))
            if on_unit is not None:
                on_unit(out, min(len(out), at + len(piece)))
    return out


def unsaid(words: list[TimedWord], hidden: Sequence[str]) -> list[TimedWord]:
    """``words`` without any that holds (part of) a word or name she asked to hide, found as the render
    finds them in her script: anywhere in the text, in any case, across words ("Bibi Ayesha")."""
    text, at = "", []
    for w in words:
        at.append(len(text))
        text += w.text + " "
    dropped: set[int] = set()
    for phrase in (h.strip() for h in hidden):
        for m in re.finditer(re.escape(phrase), text, flags=re.IGNORECASE) if phrase else ():
            dropped |= {k for k, w in enumerate(words) if at[k] < m.end() and m.start() < at[k] + len(w.text)}
    return [w for k, w in enumerate(words) if k not in dropped]


def synthetic_preview(
    inp,
    y: np.ndarray,
    sr: int,
    seconds: float,
    secret,
    *,
    script: str | None,
    language: str,
    hidden: Sequence[str] = (),
    on_first=None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The first ``seconds`` of ``synthetic``, made for listening before choosing; returns (audio, the
    words said).

    With a script no Whisper runs: the script is spread over her speech by
    length (as the subtitles are when Whisper cannot follow her). Without one,
    Whisper listens to the excerpt only. Either way no word in ``hidden`` is
    said. The first unit is handed to ``on_first(audio)`` as soon as it is
    said, so a page can start playing.
    """
    from storyteller.pipeline.speech import align

    if not tts.language_supported(language):
        raise ReplaceError(no_voice_message(language))
    n = int(seconds * sr)
    if script and script.strip():
        regions = [(a / sr, b / sr) for a, b in speech_regions(y, sr)]
        spread = align.spread(script, regions, len(y) / sr) if regions else None
        words = [TimedWord(int(w.start * sr), int(w.end * sr), w.text) for w in (spread.words if spread else ())]
        words = [w for w in words if w.end <= n]
    else:
        words, _ = her_words(inp, y[:n], sr, None, language, lambda f: None, lambda: False)
    words = unsaid(words, hidden)
    if not words:
        raise ReplaceError("No speech was recognised at the start of this recording, so there is nothing to preview.")
    first = [True]

    def report(out: np.ndarray, end: int) -> None:
        if first[0] and on_first is not None:
            on_first(out[:end].copy())
        first[0] = False

    speaker = _Speaker(secret, language)
    audio = speak_over(y[:n], sr, words, speaker, lambda f: None, lambda: False, report, first_words=PREVIEW_FIRST_WORDS)
    return audio, tuple(w.text for w in words)
