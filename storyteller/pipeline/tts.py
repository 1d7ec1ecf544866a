"""Offline text to speech with eSpeak NG, driven through ctypes.

The ``espeakng-loader`` wheel ships ``libespeak-ng.so`` and its voice data
(Urdu, Punjabi, Sindhi, Persian, English and many more); nothing is downloaded.
The library keeps global state, so calls are serialised with a lock and the
library is initialised once per process.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from functools import cache

import numpy as np

# espeak_AUDIO_OUTPUT.AUDIO_OUTPUT_SYNCHRONOUS: samples come back through the callback
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
# espeak_PARAMETER
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_LOCK = threading.Lock()

# Storyteller language code -> eSpeak voice. Pashto has no eSpeak voice; Dari is Persian.
LANGUAGES = {"en": "en-us", "ur": "ur", "pa": "pa", "sd": "sd", "fa": "fa", "prs": "fa", "hi": "hi"}
VARIANTS = ("f1", "f2", "f3", "f4", "f5", "m1", "m2", "m3", "m4", "m5", "m6", "m7")


class TTSError(RuntimeError):
    """Speech could not be synthesised; the message says why in plain words."""


@dataclass(frozen=True)
class Voice:
    """A synthetic voice: eSpeak language, variant, speaking rate (wpm), pitch and range (0-100)."""

    language: str = "en"
    variant: str = "f3"
    rate: int = 160
    pitch: int = 50
    range: int = 50


@cache
def _engine() -> tuple[ctypes.CDLL, int]:
    try:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path()
    except (ImportError, OSError, RuntimeError) as exc:
        raise TTSError("The offline speech voice (espeakng-loader) is not installed.") from exc
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]
    sr = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 500, data.encode(), 0)
    if sr <= 0:
        raise TTSError("The offline speech voice could not start.")
    return lib, sr


def language_supported(language: str) -> bool:
    """True when eSpeak has a voice for this language code."""
    return language in LANGUAGES


def synthesize(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    """Speak ``text`` with ``voice``; returns (float32 mono samples, sample rate)."""
    if voice.language not in LANGUAGES:
        raise TTSError(f"There is no offline voice for the language {voice.language!r}.")
    lib, sr = _engine()
    chunks: list[np.ndarray] = []

    @_CALLBACK
    def collect(wav, n, _events):
        if n > 0 and wav:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768.0)
        return 0

    name = f"{LANGUAGES[voice.language]}+{voice.variant}".encode()
    raw = text.encode("utf-8") + b"\0"
    with _LOCK:
        lib.espeak_SetSynthCallback(collect)
        if lib.espeak_SetVoiceByName(name) != 0 and lib.espeak_SetVoiceByName(LANGUAGES[voice.language].encode()) != 0:
            raise TTSError(f"The offline voice for {voice.language!r} could not be loaded.")
        lib.espeak_SetParameter(_RATE, int(voice.rate), 0)
        lib.espeak_SetParameter(_PITCH, int(voice.pitch), 0)
        lib.espeak_SetParameter(_RANGE, int(voice.range), 0)
        buf = ctypes.create_string_buffer(raw)
        err = lib.espeak_Synth(buf, len(raw), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
    if err != 0:
        raise TTSError("The offline voice could not speak this text.")
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return audio, sr
