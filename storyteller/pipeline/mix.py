"""The soundtrack: narration over music that ducks under the voice, loudness-normalised.

One ffmpeg run builds it, as a WAV of exactly the video's length:
- the narration is delayed to its start time and padded with silence;
- the music loops, fades in and out, and a sidechain compressor keyed by the
  narration pulls it down while someone speaks (ducking);
- the whole mix is then measured (EBU R128 integrated loudness, pyloudnorm) and
  one linear gain brings it to -16 LUFS, the level phones and social sites expect;
  a short look-ahead limiter keeps peaks under -2 dBFS. (ffmpeg's one-pass
  ``loudnorm`` does this too, but it resamples to 192 kHz and cost 1.7 s per 22 s of
  sound here, which is a third of the video encode; and a single gain keeps the
  voice's natural dynamics where loudnorm's dynamic mode pumps.)
A story with no sound at all still gets a silent track, because some players and
WhatsApp handle a video without audio badly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storyteller.pipeline.audio import write_wav
from storyteller.pipeline.ffmpeg import CancelFn, FFmpegCancelled, FFmpegError, read_ffmpeg

SAMPLE_RATE = 48000
TARGET_LUFS = -16.0


class MixError(RuntimeError):
    """The soundtrack could not be made; the message says which file and why."""


@dataclass(frozen=True)
class SoundInput:
    """A sound file placed on the video's clock."""

    path: Path
    start: float = 0.0
    volume: float = 1.0


def _fmt(label_in: str, label_out: str, extra: str = "") -> str:
    chain = f"aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"
    return f"[{label_in}]{chain}{',' + extra if extra else ''}[{label_out}]"


def mix_args(narration: SoundInput | None, music: SoundInput | None, duration: float) -> list[str]:
    """The ffmpeg arguments that mix the soundtrack to raw float32 stereo on stdout (pure)."""
    d = f"{duration:.3f}"
    args: list[str] = []
    graph: list[str] = []
    idx = 0
    if narration is not None:
        args += ["-i", str(narration.path)]
        delay = round(narration.start * 1000)
        graph.append(_fmt(f"{idx}:a", "nar", f"volume={narration.volume:.3f},adelay={delay}:all=1,apad,atrim=0:{d}"))
        idx += 1
    if music is not None:
        args += ["-stream_loop", "-1", "-i", str(music.path)]
        fade_out = max(0.0, duration - 2.0)
        graph.append(_fmt(
            f"{idx}:a", "mus",
            f"volume={music.volume:.3f},apad,atrim=0:{d},afade=t=in:d=1.5,afade=t=out:st={fade_out:.3f}:d=2",
        ))
        idx += 1
    if narration is not None and music is not None:
        graph.append("[nar]asplit=2[voice][key]")
        # Ducking: about -12 dB on the music while the voice is above -34 dBFS; quick attack, slow release.
        graph.append("[mus][key]sidechaincompress=threshold=0.02:ratio=6:attack=15:release=450:makeup=1[ducked]")
        graph.append("[voice][ducked]amix=inputs=2:duration=first:normalize=0[mix]")
        last = "mix"
    elif narration is not None:
        last = "nar"
    elif music is not None:
        last = "mus"
    else:
        args += ["-f", "lavfi", "-i", f"anullsrc=r={SAMPLE_RATE}:cl=stereo"]
        graph.append(f"[0:a]atrim=0:{d}[out]")
        return args + ["-filter_complex", ";".join(graph), "-map", "[out]", "-t", d, "-f", "f32le", "-c:a", "pcm_f32le", "pipe:1"]
    graph.append(f"[{last}]atrim=0:{d}[out]")
    return args + [
        "-filter_complex", ";".join(graph), "-map", "[out]", "-t", d, "-ar", str(SAMPLE_RATE),
        "-f", "f32le", "-c:a", "pcm_f32le", "pipe:1",
    ]


def normalize_loudness(x: np.ndarray, rate: int = SAMPLE_RATE, target: float = TARGET_LUFS) -> np.ndarray:
    """One gain to ``target`` LUFS integrated, then a look-ahead peak limiter at -2 dBFS."""
    import pyloudnorm
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    if x.size == 0 or not np.any(x):
        return x
    if len(x) >= rate // 2:  # the meter needs at least one 400 ms block
        loudness = pyloudnorm.Meter(rate).integrated_loudness(x)
        if np.isfinite(loudness):
            x = x * np.float32(10 ** (min(30.0, target - loudness) / 20))  # at most +30 dB: do not lift hiss
    ceiling = np.float32(10 ** (-2.0 / 20))
    peak = np.max(np.abs(x), axis=1) if x.ndim == 2 else np.abs(x)
    if peak.max() <= ceiling:
        return x.astype(np.float32)
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-9))
    # Hold the lowest gain 5 ms either side, then smooth over 5 ms: no clicks, and the
    # smoothed gain never rises above what a peak needs.
    win = max(1, rate // 200)
    gain = uniform_filter1d(minimum_filter1d(need, size=2 * win + 1), size=win + 1)
    gain = np.minimum(gain, need)
    return (x * (gain[:, None] if x.ndim == 2 else gain)).astype(np.float32)


def mix_soundtrack(
    narration: SoundInput | None,
    music: SoundInput | None,
    duration: float,
    out: str | Path,
    *,
    cancel: CancelFn | None = None,
) -> Path:
    """Write the soundtrack (16-bit stereo WAV, 48 kHz) to ``out``, a private work file."""
    out = Path(out)
    names = " and ".join(s.path.name for s in (narration, music) if s is not None) or "silence"
    try:
        raw = bytearray()
        for chunk in read_ffmpeg(mix_args(narration, music, duration), timeout=1800):
            raw += chunk
            if cancel is not None and cancel():
                raise FFmpegCancelled("Stopped on request.")
    except FFmpegCancelled:
        raise
    except FFmpegError as exc:
        raise MixError(f"The sound ({names}) could not be mixed: {exc}") from exc
    usable = len(raw) - len(raw) % 8
    x = np.frombuffer(bytes(raw[:usable]), dtype="<f4").reshape(-1, 2)
    want = int(round(duration * SAMPLE_RATE))
    if len(x) < want:  # the pad filters should make it exact; never hand over a short track
        x = np.concatenate([x, np.zeros((want - len(x), 2), np.float32)])
    x = normalize_loudness(x[:want]) if (narration or music) else x[:want]
    write_wav(out, x, SAMPLE_RATE)
    return out
