"""Is a narration usable? The one place the web reaches into the pipeline for recordings.

A take of silence, a slip of a third of a second, or a forty-minute recording
gets a plain sentence back instead of going on into subtitles and the render.
The messages are English source strings; the view translates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storyteller.errors import N_
from storyteller.pipeline.media.audio import AudioError, iter_audio_blocks

MIN_SECONDS = 1.0
MAX_SECONDS = 20 * 60
_RATE = 16000
_FRAME = 320  # 20 ms
# A voice at normal distance from a laptop microphone sits well above -45 dBFS;
# a room with nobody speaking stays below it.
_VOICE_DB = -45.0
_MIN_VOICED_SECONDS = 0.4

NOT_AUDIO = N_("This file is not a sound recording. Choose a recording such as .mp3, .m4a, .wav, .ogg or .webm.")
TOO_SHORT = N_("This recording is too short. Record at least a few words.")
SILENT = N_("We could not hear your voice in this recording. Check that the microphone is on and try again, a little closer.")
TOO_LONG = N_(
    "This recording is longer than 20 minutes. A story is usually 2 to 3 minutes: record it again shorter, or paragraph by paragraph."
)


@dataclass(frozen=True)
class NarrationCheck:
    seconds: float  # decoded, since a browser recording's header does not say
    problem: str | None  # None when the recording is fine, else the sentence that tells her why not


def check_narration(path: str | Path) -> NarrationCheck:
    samples = 0
    voiced_frames = 0
    try:
        for block in iter_audio_blocks(path, _RATE, 1, block_seconds=30.0):
            samples += len(block)
            if samples > MAX_SECONDS * _RATE:
                return NarrationCheck(samples / _RATE, TOO_LONG)
            frames = len(block) // _FRAME
            if frames:
                rms = np.sqrt(np.mean(block[: frames * _FRAME].reshape(frames, _FRAME).astype(np.float64) ** 2, axis=1))
                voiced_frames += int(np.count_nonzero(20 * np.log10(rms + 1e-10) > _VOICE_DB))
    except AudioError:
        return NarrationCheck(0.0, NOT_AUDIO)
    seconds = samples / _RATE
    if seconds < MIN_SECONDS:
        return NarrationCheck(seconds, TOO_SHORT if samples else NOT_AUDIO)
    if voiced_frames * _FRAME / _RATE < _MIN_VOICED_SECONDS:
        return NarrationCheck(seconds, SILENT)
    return NarrationCheck(seconds, None)
