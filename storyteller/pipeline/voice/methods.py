"""Voice anonymization: four methods, each keyed by the story's secret.

Methods (``METHODS``), strongest privacy last-but-one:

* ``disguise`` (default): Praat PSOLA moves her pitch and her formants
  (vocal-tract length) by two different secret ratios and scales her melody,
  then her long-term average spectrum is overshot past a speech-like one with
  a secret slope (:mod:`storyteller.pipeline.voice.psola`).
  An attacker who shifts the pitch back still meets the changed spectrum;
  one who evens out the tone first undoes most of it, so what really hides her
  is the vocal tract and pitch change. Chosen and tuned by measurement (the
  figures are in ``tests/bench/bench_voice.py``).
* ``synthetic``: her words spoken by an offline synthetic voice (Kokoro reading
  eSpeak NG's phonemes, see ``tts``), each sentence stretched to the time she took to say it, so subtitles fit.
  Nothing of her voice remains.
* ``double``: a second person's recording of the script, fitted to the timing
  of her speech.
* ``pitch``: a plain pitch shift. It can be undone, so it always carries
  ``PITCH_LABEL``.
* ``own``: her voice unchanged (a workshop screening, where everyone knows her).

Which method her audience calls for is decided in ``audience``.

The same secret always gives the same voice (every take of a story sounds like
the same person); another secret gives another voice. Long takes are streamed
in blocks with overlap-add, so memory stays bounded and block edges do not
click. The original file is never written to.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storyteller.errors import CancelFn, Cancelled, ProgressFn, UserError
from storyteller.pipeline.media.audio import (
    AudioError,
    WavWriter,
    decode_audio,
    iter_audio_blocks,
    write_wav,
)
from storyteller.pipeline.media.probe import ProbeError, require_stream
from storyteller.pipeline.voice import double as voice_double
from storyteller.pipeline.voice import pitch, psola
from storyteller.pipeline.voice import replace as voice_replace
from storyteller.pipeline.voice.secret import secret_rng, signed
from storyteller.pipeline.voice.stream import soft_limit, stream_process

METHODS = ("disguise", "synthetic", "double", "pitch", "own")
DEFAULT_METHOD = "disguise"
PITCH_LABEL = "changes the sound, does not hide who you are"
LABELS = {
    # a verifier that evens out the tone first still matches her often (tests/bench/bench_voice.py)
    "disguise": "pitch, vocal tract and tone changed with a secret setting: harder to recognise, "
    "but someone who knows her voice well may still recognise her",
    "synthetic": "synthetic voice reads her words: nothing of her voice remains",
    "double": "another person reads her words",
    "pitch": PITCH_LABEL,
    "own": "her own voice, unchanged: anyone who knows her will recognise it",
}

SAMPLE_RATE = 16000  # speech band; Praat, WORLD and the verifier all work here
BLOCK_SECONDS = 20.0
PAD_SECONDS = 0.5  # context on each side of a block, so the edges are processed like the middle
MIN_SECONDS = 0.2
PREVIEW_SECONDS = 10.0
MAX_REPLACE_SECONDS = 30 * 60  # a whole take in memory: 30 minutes is about 115 MB of 16 kHz float samples


class VoiceError(UserError):
    """The voice could not be processed; the message is a plain sentence."""


@dataclass(frozen=True)
class VoiceResult:
    """What :func:`anonymize` wrote."""

    path: Path
    method: str
    label: str
    duration: float
    sample_rate: int
    seconds: float  # wall-clock processing time
    warnings: tuple[str, ...] = ()

    @property
    def speed(self) -> float:
        """How many times faster than real time the processing ran."""
        return self.duration / self.seconds if self.seconds > 0 else float("inf")


def disguise_settings(secret: int | str | bytes) -> psola.VoiceChange:
    """Draw the disguise's secret amounts. Pitch and formants are kept away from 'no change'.

    Pitch (2 to 5 semitones) and formants (x0.78..0.82 or x1.21..1.27) move
    up or down independently; a pitch ratio rather than a fixed target keeps
    two seeds of one voice apart. Her average spectrum is overshot past the
    neutral one (``flatten=1.5``): a deep cut of her strong low band, which
    the verifier relies on. The verifier hardly hears pitch, so an attacker
    who shifts the pitch back still meets the changed formants and spectrum.
    The measurements behind these amounts, and the variants that were not
    better, are in ``tests/bench/bench_voice.py``.
    """
    rng = secret_rng(secret, "disguise")
    return psola.VoiceChange(
        pitch_ratio=float(2 ** (signed(rng, 2.0, 5.0) / 12)),
        formant_ratio=float(2 ** signed(rng, 0.28, 0.35)),
        range_factor=float(rng.uniform(0.7, 1.0)),
        flatten=1.5,
        slope_db=float(rng.uniform(-2.0, 2.0)),
    )


def pitch_settings(secret: int | str | bytes) -> pitch.PitchChange:
    """A plain pitch shift of 3 to 6 semitones up or down."""
    rng = secret_rng(secret, "pitch")
    return pitch.PitchChange(pitch_ratio=float(2 ** (signed(rng, 3.0, 6.0) / 12)))


# ------------------------------------------------------------------ per-block core
class _Processor:
    """Turns one block of mono 16 kHz audio into its anonymized twin (same length)."""

    def __init__(self, method: str, secret: int | str | bytes, denoise: bool = False):
        self.method = method
        self.denoise = denoise
        if method == "disguise":
            self.settings: psola.VoiceChange | pitch.PitchChange = disguise_settings(secret)
        elif method == "pitch":
            self.settings = pitch_settings(secret)
        elif method != "own":
            raise VoiceError(f"The method {method!r} does not work block by block.")

    def __call__(self, y: np.ndarray) -> np.ndarray:
        if self.denoise:
            y = scrub_background(y, SAMPLE_RATE)
        if self.method == "own":
            return y
        if self.method == "pitch":
            return pitch.change(y, SAMPLE_RATE, self.settings)
        return psola.change(y, SAMPLE_RATE, self.settings)


def scrub_background(y: np.ndarray, sr: int) -> np.ndarray:
    """Spectral-gating noise reduction, so background sounds do not reveal a place."""
    import noisereduce

    if len(y) < sr // 4 or not np.any(y):
        return y
    return noisereduce.reduce_noise(y=y, sr=sr, stationary=True, prop_decrease=0.9).astype(np.float32)


def _check_paths(inp: Path, out: Path) -> float:
    if not inp.exists():
        raise VoiceError(f"The recording {inp.name} was not found.")
    try:
        same = out.exists() and out.resolve().samefile(inp.resolve())
    except OSError:
        same = False
    if same or out.resolve() == inp.resolve():
        raise VoiceError("The output would overwrite the original recording. Choose another file name.")
    return float(require_stream(inp, "audio", VoiceError).duration or 0.0)


def _input_warnings(stats: dict) -> tuple[str, ...]:
    w = []
    if stats["n"] and stats["clipped"] / stats["n"] > 0.001:
        w.append("The recording is clipped (too loud in places); the result may sound rough. Record a little quieter if you can.")
    if stats["peak"] < 1e-4:
        w.append("The recording is silent: no voice was found, so the result is silent too.")
    return tuple(w)


def anonymize(
    inp: str | Path,
    out: str | Path,
    method: str = DEFAULT_METHOD,
    secret: int | str | bytes = 0,
    *,
    denoise: bool = False,
    script: str | None = None,
    language: str = "en",
    double: str | Path | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> VoiceResult:
    """Anonymize the voice in ``inp`` and write a 16 kHz mono WAV to ``out``.

    ``secret`` is the story's secret (the CLI's ``--seed``). ``script`` (text)
    and ``language`` feed ``synthetic``; ``double`` is the second person's
    recording for ``double``. Raises :class:`VoiceError` with a plain sentence
    for bad input; ``inp`` is only ever read.
    """
    inp, out = Path(inp), Path(out)
    if method not in METHODS:
        raise VoiceError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    if method == "synthetic" and not voice_replace.tts.language_supported(language):
        raise VoiceError(voice_replace.no_voice_message(language))
    duration = _check_paths(inp, out)
    progress = progress or (lambda f: None)
    cancel = cancel or (lambda: False)
    t0 = time.perf_counter()
    if method in ("synthetic", "double"):
        if duration > MAX_REPLACE_SECONDS:
            # these two hold the whole take (and Whisper's words) in memory; refused before decoding
            raise VoiceError(
                f"This recording is {duration / 60:.0f} minutes long; '{method}' takes at most "
                f"{MAX_REPLACE_SECONDS // 60} minutes at a time. Record the story in shorter takes (one per part), "
                "or choose 'disguise', which works on long recordings."
            )
        y = decode_audio(inp, SAMPLE_RATE)
        stats = _stats(y)
        if len(y) < MIN_SECONDS * SAMPLE_RATE:
            raise VoiceError("The recording is too short to process (less than 0.2 seconds).")
        extra: tuple[str, ...] = ()
        if method == "synthetic":
            try:
                z, extra = voice_replace.synthetic(
                    inp, y, SAMPLE_RATE, secret, script=script, language=language, progress=progress, cancel=cancel
                )
            except voice_replace.ReplaceError as exc:
                raise VoiceError(str(exc)) from exc
        else:
            if double is None:
                raise VoiceError("The 'double' method needs the second person's recording (--double FILE).")
            z = voice_double.fit_double(y, decode_audio(Path(double), SAMPLE_RATE), SAMPLE_RATE, progress=progress)
        if cancel():
            raise Cancelled("Stopped.")
        write_wav(out, soft_limit(np.asarray(z, np.float32)), SAMPLE_RATE)
        total = len(y)
    else:
        extra = ()
        proc = _Processor(method, secret, denoise)
        stats = {"n": 0, "clipped": 0, "peak": 0.0}
        expected = max(duration, 1e-3) * SAMPLE_RATE

        def blocks() -> Iterator[np.ndarray]:
            for b in iter_audio_blocks(inp, SAMPLE_RATE, 1, BLOCK_SECONDS):
                if cancel():
                    raise Cancelled("Stopped.")
                s = _stats(b)
                stats["n"] += s["n"]
                stats["clipped"] += s["clipped"]
                stats["peak"] = max(stats["peak"], s["peak"])
                yield b

        total = 0
        try:
            with WavWriter(out, SAMPLE_RATE) as writer:
                for piece in stream_process(blocks(), proc, SAMPLE_RATE, PAD_SECONDS):
                    writer.write(soft_limit(piece))
                    total += len(piece)
                    progress(min(1.0, total / expected))
                if total < MIN_SECONDS * SAMPLE_RATE:
                    raise VoiceError("The recording is too short to process (less than 0.2 seconds).")
        except AudioError as exc:
            raise VoiceError(str(exc)) from exc
    progress(1.0)
    return VoiceResult(
        path=out,
        method=method,
        label=LABELS[method],
        duration=total / SAMPLE_RATE,
        sample_rate=SAMPLE_RATE,
        seconds=time.perf_counter() - t0,
        warnings=_input_warnings(stats) + extra,
    )


def _stats(y: np.ndarray) -> dict:
    a = np.abs(y)
    return {"n": len(y), "clipped": int(np.count_nonzero(a >= 0.999)), "peak": float(a.max()) if len(a) else 0.0}


@dataclass(frozen=True)
class Preview:
    """A short before/after pair for listening (mono float32 at ``sample_rate``)."""

    before: np.ndarray
    after: np.ndarray
    sample_rate: int
    start: float
    label: str
    said: tuple[str, ...] = ()  # the synthetic voice's words (never a hidden one)


def loudest_start(y: np.ndarray, sr: int, seconds: float) -> int:
    """Start sample of the ``seconds``-long stretch with the most speech energy."""
    n = int(seconds * sr)
    if len(y) <= n:
        return 0
    hop = sr // 4
    energy = np.convolve(np.add.reduceat(y.astype(np.float64) ** 2, np.arange(0, len(y), hop)), np.ones(n // hop), "valid")
    return int(np.argmax(energy)) * hop


def preview(
    inp: str | Path,
    method: str = DEFAULT_METHOD,
    secret: int | str | bytes = 0,
    *,
    start: float | None = None,
    seconds: float = PREVIEW_SECONDS,
    denoise: bool = False,
    script: str | None = None,
    language: str = "en",
    hidden: tuple[str, ...] = (),
    on_first=None,
) -> Preview:
    """Process a short excerpt (10 s by default) for before/after listening.

    ``disguise``, ``pitch`` and ``own`` take the liveliest part unless ``start``
    is given. ``synthetic`` takes the opening (her first sentence is said first
    and handed to ``on_first(after)`` at once). ``double`` needs the second
    person's recording and has no quick preview. ``synthetic`` never says a word
    in ``hidden`` (the words she asked to hide).
    """
    if method == "double":
        raise VoiceError("The 'double' method has no quick preview: it needs the second person's recording first.")
    if method not in METHODS:
        raise VoiceError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    inp = Path(inp)
    if method == "synthetic":
        try:
            return _synthetic_preview(inp, secret, seconds, script, language, hidden, on_first)
        except voice_replace.ReplaceError as exc:
            raise VoiceError(str(exc)) from exc
    try:
        if start is None:
            # decoding a long take just to choose the excerpt costs little next to processing it
            y = decode_audio(inp, SAMPLE_RATE)
            i = loudest_start(y, SAMPLE_RATE, seconds)
            excerpt = y[i : i + int(seconds * SAMPLE_RATE)]
            start = i / SAMPLE_RATE
        else:
            excerpt = _decode_range(inp, start, seconds)
    except (AudioError, ProbeError) as exc:
        raise VoiceError(str(exc)) from exc
    if len(excerpt) < MIN_SECONDS * SAMPLE_RATE:
        raise VoiceError("The recording is too short to preview.")
    # two halves on two cores, joined with the same crossfade as a full take
    half = (len(excerpt) + 1) // 2
    proc = _Processor(method, secret, denoise)
    after = soft_limit(np.concatenate(list(stream_process([excerpt[:half], excerpt[half:]], proc, SAMPLE_RATE, PAD_SECONDS))))
    return Preview(before=excerpt, after=after, sample_rate=SAMPLE_RATE, start=float(start), label=LABELS[method])


def _synthetic_preview(inp: Path, secret, seconds: float, script: str | None, language: str, hidden, on_first) -> Preview:
    import tempfile

    try:
        # with a script the whole take is needed to spread it; without one only the opening is heard
        y = decode_audio(inp, SAMPLE_RATE) if script else _decode_range(inp, 0.0, seconds)
    except (AudioError, ProbeError) as exc:
        raise VoiceError(str(exc)) from exc
    if len(y) < MIN_SECONDS * SAMPLE_RATE:
        raise VoiceError("The recording is too short to preview.")
    n = int(seconds * SAMPLE_RATE)
    first = (lambda a: on_first(soft_limit(a))) if on_first else None
    with tempfile.TemporaryDirectory(prefix="storyteller-preview-") as tmp:
        excerpt = Path(tmp) / "opening.wav" if not script else inp
        if not script:
            write_wav(excerpt, y[:n], SAMPLE_RATE)
        after, said = voice_replace.synthetic_preview(
            excerpt, y, SAMPLE_RATE, seconds, secret, script=script, language=language, hidden=hidden, on_first=first
        )
    return Preview(before=y[:n], after=soft_limit(after), sample_rate=SAMPLE_RATE, start=0.0, label=LABELS["synthetic"], said=said)


def _decode_range(inp: Path, start: float, seconds: float) -> np.ndarray:
    skip = int(start * SAMPLE_RATE)
    want = int(seconds * SAMPLE_RATE)
    got: list[np.ndarray] = []
    pos = 0
    for b in iter_audio_blocks(inp, SAMPLE_RATE, 1, 10.0):
        lo, hi = max(0, skip - pos), min(len(b), skip + want - pos)
        if hi > lo:
            got.append(b[lo:hi])
        pos += len(b)
        if pos >= skip + want:
            break
    return np.concatenate(got) if got else np.zeros(0, np.float32)
