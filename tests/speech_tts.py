"""Test narration with a known text: espeak-ng (from the ``espeakng-loader`` wheel) through ctypes.

The wheel ships libespeak-ng and its voice data, so CI needs no apt package.
espeak-ng's Urdu voice is robotic, but the words it says are exactly the
script we give it, which is what the alignment tests need.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from storyteller.pipeline.media.audio import write_wav
from storyteller.pipeline.voice import tts

_state: dict = {}
_SYNTH_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
ESPEAK_RATE = 22050  # eSpeak NG always synthesises at this rate


def _lib():
    # The product's engine (tts._engine) already loaded and initialised the library; only the audio
    # callback, which the product does not use, is added here. Callers hold tts's eSpeak lock.
    if "lib" in _state:
        return _state["lib"]
    lib = tts._engine()
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    chunks: list[np.ndarray] = []

    def on_audio(wav, n, _events):
        if n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    cb = _SYNTH_CB(on_audio)
    lib.espeak_SetSynthCallback(cb)
    _state.update(lib=lib, chunks=chunks, cb=cb)
    return lib


def speak(text: str, voice: str = "ur", rate_wpm: int = 150) -> tuple[np.ndarray, int]:
    """Synthesize ``text`` with espeak-ng; returns (float32 mono samples, sample rate)."""
    with tts._ESPEAK_LOCK:
        lib = _lib()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {voice!r}")
        lib.espeak_SetParameter(1, rate_wpm, 0)  # espeakRATE
        chunks = _state["chunks"]
        chunks.clear()
        raw = text.encode("utf-8") + b"\0"
        # position_type 1 = POS_CHARACTER; flags 1 = espeakCHARS_UTF8.
        if lib.espeak_Synth(raw, len(raw), 0, 1, 0, 1, None, None) != 0:
            raise RuntimeError("espeak-ng could not synthesize the text")
        lib.espeak_Synchronize()
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return (samples.astype(np.float32) / 32768.0), ESPEAK_RATE


def speak_to_wav(text: str, target: Path, voice: str = "ur", rate_wpm: int = 150, lead: float = 0.5) -> Path:
    """Write ``text`` spoken by espeak-ng to a WAV with ``lead`` seconds of silence around it."""
    samples, rate = speak(text, voice, rate_wpm)
    pad = np.zeros(int(lead * rate), dtype=np.float32)
    return write_wav(target, np.concatenate([pad, samples, pad]), rate)
