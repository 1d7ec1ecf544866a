"""From a narration to subtitle tracks: the driver that the CLI and the app share.

Transcribe once; if there is a script, time the script's words with the
alignment (or fall back to the transcript with a warning); optionally add an
English track from Whisper's translate task; hide spoken identifiers in text
and plan where to cover them in the audio. Each track keeps its timed words so
an editor can re-segment without running Whisper again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from storyteller.errors import CancelFn, ProgressFn
from storyteller.pipeline.media.audio import decode_audio, speech_regions
from storyteller.pipeline.speech import align as align_mod
from storyteller.pipeline.speech import redact as redact_mod
from storyteller.pipeline.speech.subtitles import Cue, Rules, segment
from storyteller.pipeline.speech.transcribe import SAMPLE_RATE, transcribe
from storyteller.pipeline.speech.transcript import Transcript


@dataclass(frozen=True)
class Track:
    """One subtitle track: its language, where the text came from, cues and timed words."""

    language: str
    source: str  # "script", "transcript" or "translation"
    cues: tuple[Cue, ...]
    words: tuple = ()


@dataclass(frozen=True)
class StorySubtitles:
    """Everything made for one narration; ``warnings`` are plain sentences for the user."""

    duration: float
    transcript: Transcript
    tracks: tuple[Track, ...]
    alignment: align_mod.Alignment | None = None
    translation: Transcript | None = None
    redaction: redact_mod.RedactionPlan | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def make_subtitles(
    audio: str | Path,
    language: str | None,
    *,
    script: str | None = None,
    translate: bool = False,
    redact: Sequence[str] = (),
    model: str | None = None,
    rules: Rules = Rules(),
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> StorySubtitles:
    """Subtitle tracks for ``audio``: the script (or transcript), plus English if ``translate``."""
    progress = progress or (lambda _f: None)
    share = 0.5 if translate else 1.0
    transcript = transcribe(audio, language, model=model, progress=lambda f: progress(f * share), cancel=cancel)
    warnings = list(transcript.warnings)
    duration = transcript.duration
    alignment = None
    words: list = list(transcript.words)
    source = "transcript"
    if script is not None:
        # Nothing recognised (or only loops, which are dropped): her script still
        # deserves subtitles, laid over the stretches where she speaks.
        alignment = align_mod.align(script, words, duration) if words else align_mod.spread(script, _speech_seconds(audio), duration)
        warnings.extend(alignment.warnings)
        if alignment.used_script:
            words, source = list(alignment.words), "script"
    translation = None
    if translate:
        translation = transcribe(
            audio, language, model=model, task="translate", progress=lambda f: progress(share + f * (1 - share)), cancel=cancel
        )
    plan = None
    if redact:
        plan = redact_mod.plan(redact, transcript.words, alignment.words if alignment and alignment.used_script else (), duration)
        words = redact_mod.mask_words(words, redact, plan.spans)
        warnings.extend(plan.messages)
        # Nothing kept for the editor may still hold the hidden words.
        transcript = _masked(transcript, redact, plan.spans)
        if alignment is not None:
            alignment = replace(
                alignment,
                words=tuple(redact_mod.mask_words(alignment.words, redact, plan.spans)),
                added=tuple(redact_mod.mask_words(alignment.added, redact, plan.spans)),
            )
    tracks = [Track(transcript.language, source, tuple(segment(words, rules, end_limit=duration)), tuple(words))]
    if translation is not None:
        twords = list(translation.words)
        if plan is not None:
            twords = redact_mod.mask_words(twords, redact, plan.spans)
            translation = _masked(translation, redact, plan.spans)
        tracks.append(Track("en", "translation", tuple(segment(twords, rules, end_limit=duration)), tuple(twords)))
        warnings.extend(w for w in translation.warnings if w not in warnings)
    progress(1.0)
    return StorySubtitles(duration, transcript, tuple(tracks), alignment, translation, plan, tuple(dict.fromkeys(warnings)))


def _masked(transcript: Transcript, phrases: Sequence[str], spans) -> Transcript:
    segments = []
    for seg in transcript.segments:
        words = tuple(redact_mod.mask_words(seg.words, phrases, spans))
        segments.append(replace(seg, words=words, text=" ".join(w.text for w in words)))
    return replace(transcript, segments=tuple(segments))


def _speech_seconds(audio) -> list[tuple[float, float]]:
    return [(a / SAMPLE_RATE, b / SAMPLE_RATE) for a, b in speech_regions(decode_audio(audio, SAMPLE_RATE), SAMPLE_RATE)]
