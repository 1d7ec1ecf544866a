"""Speech to timed words with Whisper (faster-whisper, int8 on the CPU).

The language is always chosen by a person: Whisper's auto-detect is unreliable
on short clips and answers Urdu in Hindi script. Long recordings are decoded in
blocks of ``chunk_seconds`` (cut at the quietest moment near the block end) so an
hour-long take never sits in memory as a whole. The model is loaded once per
process and reused by every job of a worker.

Results are frozen dataclasses that round-trip through JSON, keeping each
word's probability so the editor can highlight doubtful words.
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from storyteller import config
from storyteller.pipeline.speech import models as whisper_models
from storyteller.pipeline.media.audio import AudioError, iter_audio_blocks
from storyteller.pipeline.media.probe import ProbeError, probe

SAMPLE_RATE = 16000
# Whisper's own test for a failed decode (faster-whisper's compression_ratio_threshold):
# text that zlib squeezes more than this is one phrase said over and over.
LOOP_COMPRESSION_RATIO = 2.4
ProgressFn = Callable[[float], None]
CancelFn = Callable[[], bool]

# Languages written in Arabic script in Pakistan/Afghanistan, where Whisper
# may answer in Devanagari, Gurmukhi or Latin instead.
ARABIC_SCRIPT_LANGUAGES = frozenset({"ur", "ps", "sd", "fa", "pa", "ar"})

# A short prompt in the right script nudges the decoder towards it on retry.
_SCRIPT_PROMPTS = {
    "ur": "یہ میری کہانی ہے۔",
    "ps": "دا زما کیسه ده.",
    "sd": "هي منهنجي ڪهاڻي آهي.",
    "fa": "این داستان من است.",
    "pa": "ایہہ میری کہانی اے۔",
    "ar": "هذه قصتي.",
}

LANGUAGE_NAMES = {
    "ur": "Urdu", "en": "English", "ps": "Pashto", "pa": "Punjabi", "sd": "Sindhi",
    "fa": "Persian/Dari", "ar": "Arabic", "hi": "Hindi",
}


class TranscriptionError(RuntimeError):
    """Speech could not be turned into text; the message says why in plain words."""


class TranscriptionCancelled(TranscriptionError):
    """The caller asked to stop."""


@dataclass(frozen=True)
class Word:
    """One recognised word with its time (seconds) and Whisper's confidence (0..1)."""

    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True)
class Segment:
    """A stretch of speech as Whisper decoded it."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0


@dataclass(frozen=True)
class Transcript:
    """Everything Whisper said about one recording.

    ``language`` is the language of the text (``en`` for a translation);
    ``source_language`` the language spoken. ``warnings`` are plain sentences.
    """

    language: str
    duration: float
    segments: tuple[Segment, ...]
    task: str = "transcribe"
    source_language: str = ""
    model: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for s in self.segments for w in s.words)

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    @classmethod
    def from_dict(cls, data: dict) -> "Transcript":
        try:
            segments = tuple(
                Segment(
                    start=float(s["start"]), end=float(s["end"]), text=str(s["text"]),
                    words=tuple(Word(float(w["start"]), float(w["end"]), str(w["text"]), float(w.get("probability", 1.0)))
                                for w in s.get("words", ())),
                    avg_logprob=float(s.get("avg_logprob", 0.0)), no_speech_prob=float(s.get("no_speech_prob", 0.0)),
                )
                for s in data["segments"]
            )
            return cls(
                language=str(data["language"]), duration=float(data["duration"]), segments=segments,
                task=str(data.get("task", "transcribe")), source_language=str(data.get("source_language", "")),
                model=str(data.get("model", "")), warnings=tuple(data.get("warnings", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TranscriptionError(f"This is not a Storyteller transcript file ({exc}).") from exc

    @classmethod
    def from_json(cls, text: str) -> "Transcript":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise TranscriptionError(f"The transcript file is damaged (line {exc.lineno}).") from exc


# ----------------------------------------------------------------- model
_load_lock = threading.Lock()


@lru_cache(maxsize=4)
def _load(path: str, compute_type: str, cpu_threads: int):
    from faster_whisper import WhisperModel

    return WhisperModel(path, device="cpu", compute_type=compute_type, cpu_threads=cpu_threads, local_files_only=True)


def load_model(name: str | None = None, compute_type: str = "int8", cpu_threads: int = 0):
    """The faster-whisper model ``name`` (or the best installed), loaded once per process.

    Returns ``(model, InstalledModel)``. Cached by folder, compute type and threads,
    so every job in a worker reuses the same weights.
    """
    info = whisper_models.resolve(config.models_dir(), name)
    try:
        with _load_lock:
            return _load(str(info.path), compute_type, int(cpu_threads)), info
    except (RuntimeError, ValueError, OSError) as exc:
        raise TranscriptionError(f"The speech model {info.name} could not be loaded: {exc}") from exc


def supported_languages() -> tuple[str, ...]:
    """Whisper's language codes (ur, en, ps, pa, sd, fa, ...)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return tuple(_LANGUAGE_CODES)


def _check_language(language: str | None, multilingual: bool, task: str) -> str:
    if not language:
        raise TranscriptionError("Choose the spoken language (for example ur for Urdu or en for English).")
    language = language.strip().lower()
    if language not in supported_languages():
        raise TranscriptionError(f"Whisper does not know the language code {language!r}. Use a code such as ur, en, ps, pa, sd or fa.")
    if not multilingual and (language != "en" or task != "transcribe"):
        raise TranscriptionError(
            "The installed English-only speech model cannot "
            + ("translate." if task != "transcribe" else f"understand {LANGUAGE_NAMES.get(language, language)}.")
            + " Use the multilingual model (--model base)."
        )
    return language


# ----------------------------------------------------------------- scripts
def script_shares(text: str) -> dict[str, float]:
    """Fraction of letters in each script: arabic, devanagari, gurmukhi, latin, other."""
    counts = {"arabic": 0, "devanagari": 0, "gurmukhi": 0, "latin": 0, "other": 0}
    for ch in text:
        if not ch.isalpha():
            continue
        o = ord(ch)
        if 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0x08A0 <= o <= 0x08FF or 0xFB50 <= o <= 0xFEFF:
            counts["arabic"] += 1
        elif 0x0900 <= o <= 0x097F:
            counts["devanagari"] += 1
        elif 0x0A00 <= o <= 0x0A7F:
            counts["gurmukhi"] += 1
        elif o < 0x0250 or 0x1E00 <= o <= 0x1EFF:
            counts["latin"] += 1
        else:
            counts["other"] += 1
    total = sum(counts.values())
    return {k: (v / total if total else 0.0) for k, v in counts.items()}


def wrong_script(text: str, language: str) -> str | None:
    """For an Arabic-script language, the script the text is mostly in if it is not Arabic."""
    if language not in ARABIC_SCRIPT_LANGUAGES:
        return None
    shares = script_shares(text)
    if sum(shares.values()) == 0 or shares["arabic"] >= 0.5:
        return None
    return max((k for k in shares if k != "arabic"), key=shares.get)


def _bytes_of_token():
    # GPT-2 byte-level BPE maps every byte to a printable character; invert it.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


@lru_cache(maxsize=4)
def _non_arabic_indic_tokens(model_path: str) -> tuple[int, ...]:
    """Token ids that can start a U+0800..U+0FFF character (Devanagari, Gurmukhi, Bengali...).

    Arabic script lives in two-byte UTF-8, so banning the 0xE0 lead byte stops
    Whisper from writing Urdu speech in Hindi or Punjabi in Gurmukhi.
    """
    vocab = json.loads((Path(model_path) / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    table = _bytes_of_token()
    banned = []
    for token, idx in vocab.items():
        try:
            raw = bytes(table[c] for c in token)
        except KeyError:
            continue
        if 0xE0 in raw:
            banned.append(int(idx))
    return tuple(sorted(banned))


# ----------------------------------------------------------------- audio
def _quiet_cut(block: np.ndarray, search_seconds: float = 8.0) -> int:
    """Index of the quietest 50 ms near the end of ``block``, to split between words."""
    hop = SAMPLE_RATE // 20
    tail = block[-int(search_seconds * SAMPLE_RATE):]
    frames = len(tail) // hop
    if frames < 2:
        return len(block)
    energy = (tail[: frames * hop].reshape(frames, hop) ** 2).mean(axis=1)
    quietest = int(np.argmin(energy))
    return len(block) - len(tail) + quietest * hop + hop // 2


def _chunks(path: Path, chunk_seconds: float) -> Iterator[tuple[float, np.ndarray]]:
    """(offset seconds, samples) blocks of about ``chunk_seconds``, split at quiet moments."""
    carry = np.zeros(0, dtype=np.float32)
    offset = 0.0
    pending = None  # one block of look-ahead: the last block is never cut
    for block in iter_audio_blocks(path, SAMPLE_RATE, 1, block_seconds=chunk_seconds):
        if pending is not None:
            pending = np.concatenate([carry, pending]) if len(carry) else pending
            cut = _quiet_cut(pending)
            yield offset, pending[:cut]
            offset += cut / SAMPLE_RATE
            carry = pending[cut:]
        pending = block
    if pending is not None:
        last = np.concatenate([carry, pending]) if len(carry) else pending
        if len(last):
            yield offset, last


# ----------------------------------------------------------------- transcribe
def _segments_of(model, samples: np.ndarray, offset: float, language: str, task: str, *,
                 beam_size: int, initial_prompt: str | None, suppress: Iterable[int] | None) -> Iterator[Segment]:
    kwargs = dict(
        language=language, task=task, beam_size=beam_size, word_timestamps=True, vad_filter=True,
        vad_parameters={"min_silence_duration_ms": 500}, initial_prompt=initial_prompt,
        # Conditioning on earlier text makes Whisper repeat itself on noise; the
        # story's sentences stand on their own.
        condition_on_previous_text=False,
        temperature=config.whisper_temperatures(),
    )
    if suppress:
        kwargs["suppress_tokens"] = [-1, *suppress]
    segments, _info = model.transcribe(samples, **kwargs)
    for seg in segments:
        words = tuple(
            Word(round(offset + float(w.start), 3), round(offset + float(w.end), 3), w.word.strip(), round(float(w.probability), 4))
            for w in (seg.words or ()) if w.word.strip()
        )
        yield Segment(
            round(offset + float(seg.start), 3), round(offset + float(seg.end), 3), seg.text.strip(), words,
            round(float(seg.avg_logprob), 4), round(float(seg.no_speech_prob), 4),
        )


def transcribe(
    audio: str | Path,
    language: str | None,
    *,
    model: str | None = None,
    task: str = "transcribe",
    compute_type: str = "int8",
    cpu_threads: int = 0,
    beam_size: int = 5,
    initial_prompt: str | None = None,
    chunk_seconds: float = 600.0,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Transcript:
    """Transcribe (or, with ``task="translate"``, translate to English) one recording.

    ``language`` is the spoken language code and is required. Progress is the
    fraction of audio time processed; ``cancel()`` is checked between segments
    and raises :class:`TranscriptionCancelled`. Never returns text in the wrong
    script silently: for Arabic-script languages a Devanagari/Gurmukhi/Latin
    answer is retried with those scripts banned and a prompt in the right
    script, and a warning is attached if it stays wrong.
    """
    if task not in ("transcribe", "translate"):
        raise TranscriptionError(f"Unknown task {task!r}.")
    audio = Path(audio)
    try:
        whisper, info = load_model(model, compute_type, cpu_threads)
    except whisper_models.ModelError as exc:
        raise TranscriptionError(str(exc)) from exc
    language = _check_language(language, info.multilingual, task)
    try:
        media = probe(audio)
    except ProbeError as exc:
        raise TranscriptionError(str(exc)) from exc
    if not media.has_audio:
        raise TranscriptionError(f"The file {audio.name} contains no sound.")
    duration = float(media.audio.duration or media.duration or 0.0)
    report = progress or (lambda _f: None)
    done = [0.0]

    def progress(fraction: float) -> None:
        # Never step backwards (a chunk's tail may be reported before its end).
        if fraction > done[0]:
            done[0] = fraction
            report(fraction)

    cancel = cancel or (lambda: False)
    out_language = "en" if task == "translate" else language
    check_script = task == "transcribe" and language in ARABIC_SCRIPT_LANGUAGES

    segments: list[Segment] = []
    warnings: list[str] = []
    retried = still_wrong = False
    other_language: set[str] = set()
    looped: list[tuple[float, float]] = []
    end_seen = 0.0
    try:
        for offset, samples in _chunks(audio, chunk_seconds):
            if cancel():
                raise TranscriptionCancelled("Transcription was cancelled.")
            chunk: list[Segment] = []
            for seg in _segments_of(whisper, samples, offset, language, task, beam_size=beam_size,
                                    initial_prompt=initial_prompt, suppress=None):
                chunk.append(seg)
                end_seen = max(end_seen, seg.end)
                progress(min(1.0, end_seen / duration) if duration else 0.0)
                if cancel():
                    raise TranscriptionCancelled("Transcription was cancelled.")
            bad = wrong_script(" ".join(s.text for s in chunk), language) if check_script else None
            # Only a Latin answer can mean another language (English chosen as Urdu):
            # Hindi or Gurmukhi script is this speech in the wrong script, whatever the
            # language detector guesses (it called accented Urdu Latin).
            heard_as = _sounds_like(whisper, samples, language) if bad == "latin" else None
            if heard_as:
                # Forcing the script would only make Whisper invent Urdu. Keep it, and say so.
                other_language.add(heard_as)
            elif bad:
                retried = True
                # Ban the Indic scripts' byte prefix and prompt in the right script.
                retry = list(_segments_of(
                    whisper, samples, offset, language, task, beam_size=beam_size,
                    initial_prompt=_SCRIPT_PROMPTS.get(language, initial_prompt),
                    suppress=_non_arabic_indic_tokens(str(info.path)),
                ))
                if cancel():
                    raise TranscriptionCancelled("Transcription was cancelled.")
                prompt = _SCRIPT_PROMPTS.get(language, "")
                retry = [s for s in retry if not _is_prompt_echo(s.text, prompt)]
                if wrong_script(" ".join(s.text for s in retry), language):
                    still_wrong = True
                else:
                    chunk = retry
            for seg in chunk:
                if is_repetition_loop(seg.text):
                    looped.append((seg.start, seg.end))
                else:
                    segments.append(seg)
            progress(min(1.0, (offset + len(samples) / SAMPLE_RATE) / duration) if duration else 1.0)
    except AudioError as exc:
        raise TranscriptionError(str(exc)) from exc

    segments, repeated = drop_repeated_segments(segments)
    looped = sorted(looped + repeated)
    name = LANGUAGE_NAMES.get(language, language)
    if retried:
        warnings.append(f"Whisper first wrote this {name} speech in the wrong script; it was run again with {name} forced.")
    if still_wrong:
        warnings.append(
            f"Whisper could not write this recording in {name} script (it may not be {name}, or the model is too small). "
            "Give the participant's script with --script, or install a larger model."
        )
    for other in sorted(other_language):
        warnings.append(
            f"This recording sounds like {LANGUAGE_NAMES.get(other, f'another language ({other})')}, not {name}. "
            f"Check the language chosen (the text above is what Whisper heard)."
        )
    if looped:
        warnings.append(_loop_message(looped, task))
    elif not segments:
        warnings.append(_NOTHING_TRANSLATED if task == "translate" else _no_speech_message(duration))
    progress(1.0)
    return Transcript(
        language=out_language, duration=round(duration, 3), segments=tuple(segments), task=task,
        source_language=language, model=info.name, warnings=tuple(warnings),
    )


# Languages Whisper confuses with each other when spoken (same speech, other script).
_SOUND_ALIKE = {
    "ur": {"hi", "pa", "sd"}, "pa": {"hi", "ur"}, "sd": {"ur", "hi", "pa"},
    "ps": {"fa", "ur", "ar"}, "fa": {"ps", "ar", "ur"}, "ar": {"fa", "ur"},
}


def _sounds_like(model, samples: np.ndarray, language: str) -> str | None:
    """The language the speech clearly is, if it is not ``language`` nor a close neighbour."""
    try:
        detected, prob, _ = model.detect_language(samples, vad_filter=True)
    except (RuntimeError, ValueError, IndexError):
        return None
    if detected == language or detected in _SOUND_ALIKE.get(language, set()) or prob < 0.6:
        return None
    return detected


def _is_prompt_echo(text: str, prompt: str) -> bool:
    # On unclear audio Whisper may repeat its prompt; that text was never spoken.
    squash = lambda x: "".join(ch for ch in x if ch.isalpha())  # noqa: E731
    return bool(prompt) and bool(squash(text)) and squash(text) in squash(prompt)


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
    said = [(i, _sentence_key(part)) for i, seg in enumerate(segments)
            for part in _SENTENCE_END.split(seg.text.strip()) if _sentence_key(part)]
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


def _loop_message(spans: list[tuple[float, float]], task: str) -> str:
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
# may all look like silence); "no speech" would then contradict the transcript.
_NOTHING_TRANSLATED = "Whisper could not translate this recording into English. Type the English subtitles in the editor."


def _no_speech_message(duration: float) -> str:
    if duration < 1.0:
        return f"The recording is too short ({duration:.1f} s) to hold speech."
    return "No speech was heard in this recording (it may be silence, music or noise)."


__all__ = [
    "Word", "Segment", "Transcript", "TranscriptionError", "TranscriptionCancelled", "transcribe", "load_model",
    "supported_languages", "script_shares", "wrong_script", "is_repetition_loop", "ARABIC_SCRIPT_LANGUAGES"
]
