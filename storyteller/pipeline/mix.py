"""The soundtrack: narration over music that ducks under the voice, loudness-normalised.

One ffmpeg run builds it, as a WAV of exactly the video's length:
- the narration is delayed to its start time and padded with silence;
- the music loops, fades in and out, and a sidechain compressor keyed by the
  narration pulls it down while someone speaks (ducking);
- the whole mix is then measured (ITU-R BS.1770 / EBU R128 integrated loudness:
  ffmpeg applies the K-weighting filters, numpy does the gated mean) and one
  linear gain brings it to -16 LUFS, the level phones and social sites expect;
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
    # Channels 0-1: the mix. Channels 2-3: the same through the BS.1770 K-weighting filters,
    # used only to measure loudness (so no scipy at run time).
    graph.append(f"[{last}]atrim=0:{d},asplit=2[mixed][tomeasure]")
    graph.append(f"[tomeasure]{K_WEIGHTING}[kw]")
    graph.append("[mixed][kw]amerge=inputs=2[out]")
    return args + [
        "-filter_complex", ";".join(graph), "-map", "[out]", "-t", d, "-ar", str(SAMPLE_RATE),
        "-f", "f32le", "-c:a", "pcm_f32le", "pipe:1",
    ]


# ITU-R BS.1770-4 K-weighting at 48 kHz: a high shelf (head effect), then the RLB high-pass.
K_WEIGHTING = (
    "biquad=b0=1.53512485958697:b1=-2.69169618940638:b2=1.19839281085285:a0=1:a1=-1.69065929318241:a2=0.73248077421585,"
    "biquad=b0=1:b1=-2:b2=1:a0=1:a1=-1.99004745483398:a2=0.99007225036621"
)


def integrated_loudness(k_weighted: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """BS.1770 gated integrated loudness (LUFS) of K-weighted samples (n, channels); -inf if silent."""
    hop = int(0.1 * rate)
    m = len(k_weighted) // hop
    if m < 4:
        return float("-inf")
    # Sum of squares per 100 ms hop (no big temporaries), then 400 ms blocks overlapping by 75%.
    hops = k_weighted[: m * hop].reshape(m, hop, -1)
    energy = np.einsum("ijk,ijk->i", hops, hops, dtype=np.float64)
    power = (energy[:-3] + energy[1:-2] + energy[2:-1] + energy[3:]) / (4 * hop)  # channel weights 1 (L, R)
    with np.errstate(divide="ignore"):
        loud = -0.691 + 10 * np.log10(power)
    gated = power[loud > -70.0]  # absolute gate
    if gated.size == 0:
        return float("-inf")
    relative = -0.691 + 10 * np.log10(gated.mean()) - 10.0
    gated = power[(loud > -70.0) & (loud > relative)]
    return float(-0.691 + 10 * np.log10(gated.mean()))


def normalize_loudness(x: np.ndarray, loudness: float, target: float = TARGET_LUFS, rate: int = SAMPLE_RATE) -> np.ndarray:
    """One gain from ``loudness`` to ``target`` LUFS, then a look-ahead peak limiter at -2 dBFS."""
    import cv2

    if x.size == 0 or not np.any(x):
        return x
    if np.isfinite(loudness):
        x = x * np.float32(10 ** (min(30.0, target - loudness) / 20))  # at most +30 dB: do not lift hiss
    ceiling = np.float32(10 ** (-2.0 / 20))
    peak = np.max(np.abs(x), axis=1)
    if peak.max() <= ceiling:
        return x.astype(np.float32)
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-9)).astype(np.float32)
    # Hold the lowest gain 5 ms either side (a running minimum = erosion), then smooth over
    # 5 ms: no clicks, and the result never rises above what a peak needs.
    win = max(1, rate // 200)
    held = cv2.erode(need[None, :], np.ones((1, 2 * win + 1), np.uint8), borderType=cv2.BORDER_REPLICATE)
    gain = cv2.blur(held, (win + 1, 1), borderType=cv2.BORDER_REPLICATE)[0]
    gain = np.minimum(gain, need)
    return (x * gain[:, None]).astype(np.float32)


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
    channels = 4 if (narration or music) else 2
    want = int(round(duration * SAMPLE_RATE))
    # Filled in place: a 3-minute, 4-channel float mix is 140 MB, so no growing buffers or copies.
    x = np.zeros((want, channels), np.float32)
    raw = x.reshape(-1).view(np.uint8)
    filled = 0
    try:
        for chunk in read_ffmpeg(mix_args(narration, music, duration), timeout=1800):
            n = min(len(chunk), raw.size - filled)
            raw[filled:filled + n] = np.frombuffer(chunk, np.uint8, count=n)
            filled += n
            if cancel is not None and cancel():
                raise FFmpegCancelled("Stopped on request.")
    except FFmpegCancelled:
        raise
    except FFmpegError as exc:
        raise MixError(f"The sound ({names}) could not be mixed: {exc}") from exc
    # Whatever ffmpeg did not fill stays silent: never hand over a short track.
    if channels == 4:
        x = normalize_loudness(np.ascontiguousarray(x[:, :2]), integrated_loudness(x[:, 2:]))
    write_wav(out, x, SAMPLE_RATE)
    return out
