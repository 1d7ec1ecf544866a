"""Decode and write audio as float32 numpy arrays, through the one ffmpeg.

``decode_audio`` loads a whole (short) file; ``iter_audio_blocks`` streams a
long one in fixed-size blocks so an hour-long take never sits in memory.
Both resample and downmix inside ffmpeg. Errors are :class:`AudioError` with a
plain sentence.
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from storyteller.errors import UserError
from storyteller.fsutil import atomic_output
from storyteller.pipeline.media.ffmpeg import FFmpegError, read_ffmpeg
from storyteller.pipeline.media.probe import require_stream


class AudioError(UserError):
    """The sound could not be read or written; the message is plain language."""


def _decode_args(path: Path, sample_rate: int, channels: int) -> list[str]:
    return [
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-vn",
        "-sn",
        "-dn",
        "-ac",
        str(channels),
        "-ar",
        str(sample_rate),
        "-f",
        "f32le",
        "-acodec",
        "pcm_f32le",
        "pipe:1",
    ]


def iter_audio_blocks(path: str | Path, sample_rate: int = 16000, channels: int = 1, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """Yield consecutive float32 blocks of ``block_seconds`` (the last may be shorter).

    Mono blocks have shape (n,); multichannel blocks have shape (n, channels).
    """
    path = Path(path)
    require_stream(path, "audio", AudioError)
    frame_bytes = 4 * channels
    block_bytes = int(block_seconds * sample_rate) * frame_bytes
    pending = bytearray()
    try:
        for chunk in read_ffmpeg(_decode_args(path, sample_rate, channels), chunk_bytes=1 << 16):
            pending += chunk
            while len(pending) >= block_bytes:
                yield _as_array(bytes(pending[:block_bytes]), channels)
                del pending[:block_bytes]
    except FFmpegError as exc:
        raise AudioError(str(exc)) from exc
    usable = len(pending) - len(pending) % frame_bytes
    if usable:
        yield _as_array(bytes(pending[:usable]), channels)


def _as_array(raw: bytes, channels: int) -> np.ndarray:
    arr = np.frombuffer(raw, dtype="<f4").astype(np.float32, copy=True)
    return arr if channels == 1 else arr.reshape(-1, channels)


def decode_audio(path: str | Path, sample_rate: int = 16000, channels: int = 1) -> np.ndarray:
    """Decode the first audio stream of ``path`` to float32 samples in [-1, 1]."""
    blocks = list(iter_audio_blocks(path, sample_rate, channels, block_seconds=60.0))
    if not blocks:
        return np.zeros((0,) if channels == 1 else (0, channels), dtype=np.float32)
    return np.concatenate(blocks)


def to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


class WavWriter:
    """Write 16-bit PCM WAV block by block, atomically (the file appears when closed)."""

    def __init__(self, target: str | Path, sample_rate: int, channels: int = 1):
        self._ctx = atomic_output(target)
        tmp = self._ctx.__enter__()
        self._wav = wave.open(str(tmp), "wb")
        self._wav.setnchannels(channels)
        self._wav.setsampwidth(2)
        self._wav.setframerate(sample_rate)

    def write(self, samples: np.ndarray) -> None:
        self._wav.writeframes(to_pcm16(samples))

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._wav.close()
        self._ctx.__exit__(exc_type, exc, tb)


def write_wav(target: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write float samples (mono (n,) or (n, ch)) as 16-bit PCM WAV, atomically."""
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with WavWriter(target, sample_rate, channels) as writer:
        writer.write(samples)
    return Path(target)


_ENERGY_FRAME = 0.010  # seconds per frame of the speech finder


def speech_regions(y: np.ndarray, sr: int, min_gap: float = 0.3, min_len: float = 0.12) -> list[tuple[int, int]]:
    """(start, end) samples of the stretches that hold speech, by frame energy.

    The threshold sits between the quiet floor and the loud level, so it adapts
    to a hissy phone recording as well as to a quiet room.
    """
    hop = int(_ENERGY_FRAME * sr)
    n = len(y) // hop
    if n == 0:
        return []
    e = 10 * np.log10(np.mean(y[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-10)
    lo, hi = np.percentile(e, 10), np.percentile(e, 95)
    if hi - lo < 6:  # flat energy: silence or constant noise, no speech to find
        return [] if hi < -60 else [(0, len(y))]
    active = e > lo + 0.35 * (hi - lo)
    regions: list[list[int]] = []
    for i in np.flatnonzero(active):
        if regions and i - regions[-1][1] <= min_gap / _ENERGY_FRAME:
            regions[-1][1] = i + 1
        else:
            regions.append([i, i + 1])
    return [(a * hop, min(len(y), b * hop)) for a, b in regions if (b - a) * _ENERGY_FRAME >= min_len]
