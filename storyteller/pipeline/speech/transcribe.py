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

import threading
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from storyteller import config
from storyteller.errors import CancelFn, Cancelled, ProgressFn
from storyteller.pipeline.media.audio import AudioError, iter_audio_blocks
from storyteller.pipeline.media.probe import require_stream
from storyteller.pipeline.speech import models as whisper_models
from storyteller.pipeline.speech.loops import (
    drop_repeated_segments,
    is_repetition_loop,
    loop_message,
)
from storyteller.pipeline.speech.scripts import (
    ARABIC_SCRIPT_LANGUAGES,
    SCRIPT_PROMPTS,
    is_prompt_echo,
    non_arabic_indic_tokens,
    sounds_like,
    wrong_script,
)
from storyteller.pipeline.speech.transcript import (
    Segment,
    Transcript,
    TranscriptionError,
    Word,
)

SAMPLE_RATE = 16000


LANGUAGE_NAMES = {
    "ur": "Urdu",
    "en": "English",
    "ps": "Pashto",
    "pa": "Punjabi",
    "sd": "Sindhi",
    "fa": "Persian/Dari",
    "ar": "Arabic",
    "hi": "Hindi",
}


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
        raise TranscriptionError(
            f"The speech model {info.name} could not be loaded; install it again with `storyteller models install`."
        ) from exc


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


# ----------------------------------------------------------------- audio
def _quiet_cut(block: np.ndarray, search_seconds: float = 8.0) -> int:
    """Index of the quietest 50 ms near the end of ``block``, to split between words."""
    hop = SAMPLE_RATE // 20
    tail = block[-int(search_seconds * SAMPLE_RATE) :]
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
def _segments_of(
    model,
    samples: np.ndarray,
    offset: float,
    language: str,
    task: str,
    *,
    beam_size: int,
    initial_prompt: str | None,
    suppress: Iterable[int] | None,
) -> Iterator[Segment]:
    kwargs = dict(
        language=language,
        task=task,
        beam_size=beam_size,
        word_timestamps=True,
        vad_filter=True,
        vad_parameters={"min_silence_duration_ms": 500},
        initial_prompt=initial_prompt,
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
            for w in (seg.words or ())
            if w.word.strip()
        )
        yield Segment(
            round(offset + float(seg.start), 3),
            round(offset + float(seg.end), 3),
            seg.text.strip(),
            words,
            round(float(seg.avg_logprob), 4),
            round(float(seg.no_speech_prob), 4),
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
    and raises :class:`~storyteller.errors.Cancelled`. Never returns text in the wrong
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
    media = require_stream(audio, "audio", TranscriptionError)
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
                raise Cancelled("Transcription was cancelled.")
            chunk: list[Segment] = []
            for seg in _segments_of(
                whisper, samples, offset, language, task, beam_size=beam_size, initial_prompt=initial_prompt, suppress=None
            ):
                chunk.append(seg)
                end_seen = max(end_seen, seg.end)
                progress(min(1.0, end_seen / duration) if duration else 0.0)
                if cancel():
                    raise Cancelled("Transcription was cancelled.")
            bad = wrong_script(" ".join(s.text for s in chunk), language) if check_script else None
            # Only a Latin answer can mean another language (English chosen as Urdu):
            # Hindi or Gurmukhi script is this speech in the wrong script, whatever the
            # language detector guesses (it called accented Urdu Latin).
            heard_as = sounds_like(whisper, samples, language) if bad == "latin" else None
            if heard_as:
                # Forcing the script would only make Whisper invent Urdu. Keep it, and say so.
                other_language.add(heard_as)
            elif bad:
                retried = True
                # Ban the Indic scripts' byte prefix and prompt in the right script.
                retry = list(
                    _segments_of(
                        whisper,
                        samples,
                        offset,
                        language,
                        task,
                        beam_size=beam_size,
                        initial_prompt=SCRIPT_PROMPTS.get(language, initial_prompt),
                        suppress=non_arabic_indic_tokens(str(info.path)),
                    )
                )
                if cancel():
                    raise Cancelled("Transcription was cancelled.")
                prompt = SCRIPT_PROMPTS.get(language, "")
                retry = [s for s in retry if not is_prompt_echo(s.text, prompt)]
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
        warnings.append(loop_message(looped, task))
    elif not segments:
        warnings.append(_NOTHING_TRANSLATED if task == "translate" else _no_speech_message(duration))
    progress(1.0)
    return Transcript(
        language=out_language,
        duration=round(duration, 3),
        segments=tuple(segments),
        task=task,
        source_language=language,
        model=info.name,
        warnings=tuple(warnings),
    )


# may all look like silence); "no speech" would then contradict the transcript.
_NOTHING_TRANSLATED = "Whisper could not translate this recording into English. Type the English subtitles in the editor."


def _no_speech_message(duration: float) -> str:
    if duration < 1.0:
        return f"The recording is too short ({duration:.1f} s) to hold speech."
    return "No speech was heard in this recording (it may be silence, music or noise)."


__all__ = [
    "Word",
    "Segment",
    "Transcript",
    "TranscriptionError",
    "transcribe",
    "load_model",
    "supported_languages",
    "SAMPLE_RATE",
]
