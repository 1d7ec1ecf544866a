"""What Whisper said about one recording, as frozen dataclasses that round-trip through JSON,
keeping each word's probability so the editor can highlight doubtful words."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from storyteller.errors import UserError


class TranscriptionError(UserError):
    """Speech could not be turned into text; the message says why in plain words."""


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
    def from_dict(cls, data: dict) -> Transcript:
        try:
            segments = tuple(
                Segment(
                    start=float(s["start"]),
                    end=float(s["end"]),
                    text=str(s["text"]),
                    words=tuple(
                        Word(float(w["start"]), float(w["end"]), str(w["text"]), float(w.get("probability", 1.0)))
                        for w in s.get("words", ())
                    ),
                    avg_logprob=float(s.get("avg_logprob", 0.0)),
                    no_speech_prob=float(s.get("no_speech_prob", 0.0)),
                )
                for s in data["segments"]
            )
            return cls(
                language=str(data["language"]),
                duration=float(data["duration"]),
                segments=segments,
                task=str(data.get("task", "transcribe")),
                source_language=str(data.get("source_language", "")),
                model=str(data.get("model", "")),
                warnings=tuple(data.get("warnings", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TranscriptionError("This is not a Storyteller transcript file.") from exc

    @classmethod
    def from_json(cls, text: str) -> Transcript:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise TranscriptionError(f"The transcript file is damaged (line {exc.lineno}).") from exc
