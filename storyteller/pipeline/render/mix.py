"""The soundtrack: narration over music that ducks under the voice, loudness-normalised.

One ffmpeg run builds it, as float samples of exactly the video's length:
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

The mix is stereo only when an input is: a phone's narration and the shipped music are
mono, and a stereo mix of them is one signal twice. Mixed and encoded as mono it costs
about half the filtering and half the AAC encode (3 minutes, mix and encode: 5.4 -> 3.3 s of CPU,
tests/bench/bench_render.py), and its loudness is measured as the same signal on two
speakers would be, so it plays exactly as loud as the stereo mix did.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storyteller.errors import CancelFn, Cancelled, UserError
from storyteller.pipeline.media.ffmpeg import FFmpegError, read_ffmpeg

SAMPLE_RATE = 48000
TARGET_LUFS = -16.0


class MixError(UserError):
    """The soundtrack could not be made; the message says which file and why."""


@dataclass(frozen=True)
class SoundInput:
    """A sound file placed on the video's clock."""

    path: Path
    start: float = 0.0
    volume: float = 1.0
    channels: int = 2  # the file's, as probed: a mix of mono inputs stays mono
    seconds: float = 0.0  # the file's length, as probed; 0 when unknown


def mix_channels(*inputs: SoundInput | None) -> int:
    """1 when every input is mono (or there is none), else 2."""
    return 2 if any(s is not None and s.channels > 1 for s in inputs) else 1


def _fmt(label_in: str, label_out: str, layout: str, extra: str = "") -> str:
    chain = f"aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts={layout}"
    return f"[{label_in}]{chain}{',' + extra if extra else ''}[{label_out}]"


def mix_args(narration: SoundInput | None, music: SoundInput | None, duration: float) -> list[str]:
    """The ffmpeg arguments that mix the soundtrack to raw float32 on stdout (pure): the mix's
    ``mix_channels`` channels, then as many again K-weighted (none for silence)."""
    d = f"{duration:.3f}"
    layout = "stereo" if mix_channels(narration, music) == 2 else "mono"
    # ffmpeg spreads a mono input over stereo at -3 dB a side; a mono mix keeps that level, so
    # the ducking's threshold meets the same signal and the mix equals either stereo channel.
    level = 1.0 if layout == "stereo" else 0.5**0.5
    args: list[str] = []
    graph: list[str] = []
    idx = 0
    if narration is not None:
        args += ["-i", str(narration.path)]
        delay = round(narration.start * 1000)
        graph.append(_fmt(f"{idx}:a", "nar", layout, f"volume={narration.volume * level:.6f},adelay={delay}:all=1,apad,atrim=0:{d}"))
        idx += 1
    if music is not None:
        # Loop only music shorter than the story: a looped input ends its last frame unevenly, so
        # one run in four lost the fade-out's last 49 ms and two renders of one story differed.
        loop = ["-stream_loop", "-1"] if music.seconds < duration else []
        args += [*loop, "-i", str(music.path)]
        fade_out = max(0.0, duration - 2.0)
        graph.append(
            _fmt(
                f"{idx}:a",
                "mus",
                layout,
                f"volume={music.volume * level:.6f},apad,atrim=0:{d},afade=t=in:d=1.5,afade=t=out:st={fade_out:.3f}:d=2",
            )
        )
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
        args += ["-f", "lavfi", "-i", f"anullsrc=r={SAMPLE_RATE}:cl=mono"]
        graph.append(f"[0:a]atrim=0:{d}[out]")
        return args + ["-filter_complex", ";".join(graph), "-map", "[out]", "-t", d, "-f", "f32le", "-c:a", "pcm_f32le", "pipe:1"]
    # First half of the channels: the mix. Second half: the same through the BS.1770 K-weighting filters,
    # used only to measure loudness (so no scipy at run time).
    graph.append(f"[{last}]atrim=0:{d},asplit=2[mixed][tomeasure]")
    graph.append(f"[tomeasure]{K_WEIGHTING}[kw]")
    graph.append("[mixed][kw]amerge=inputs=2[out]")
    return args + [
        "-filter_complex",
        ";".join(graph),
        "-map",
        "[out]",
        "-t",
        d,
        "-ar",
        str(SAMPLE_RATE),
        "-f",
        "f32le",
        "-c:a",
        "pcm_f32le",
        "pipe:1",
    ]


# ITU-R BS.1770-4 K-weighting at 48 kHz: a high shelf (head effect), then the RLB high-pass.
K_WEIGHTING = (
    "biquad=b0=1.53512485958697:b1=-2.69169618940638:b2=1.19839281085285:a0=1:a1=-1.69065929318241:a2=0.73248077421585,"
    "biquad=b0=1:b1=-2:b2=1:a0=1:a1=-1.99004745483398:a2=0.99007225036621"
)


HOP = SAMPLE_RATE // 10  # 100 ms


def loudness_from_hops(energy: np.ndarray) -> float:
    """BS.1770 gated integrated loudness (LUFS) from K-weighted energy per 100 ms hop
    (sum over samples and channels of squares); -inf when silent or shorter than 400 ms."""
    if len(energy) < 4:
        return float("-inf")
    # 400 ms blocks overlapping by 75%; channel weights are 1 for L and R.
    power = (energy[:-3] + energy[1:-2] + energy[2:-1] + energy[3:]) / (4 * HOP)
    with np.errstate(divide="ignore"):
        loud = -0.691 + 10 * np.log10(power)
    gated = power[loud > -70.0]  # absolute gate
    if gated.size == 0:
        return float("-inf")
    relative = -0.691 + 10 * np.log10(gated.mean()) - 10.0
    gated = power[(loud > -70.0) & (loud > relative)]
    return float(-0.691 + 10 * np.log10(gated.mean()))


def integrated_loudness(k_weighted: np.ndarray) -> float:
    """BS.1770 integrated loudness of K-weighted samples (n, channels) at 48 kHz."""
    m = len(k_weighted) // HOP
    hops = k_weighted[: m * HOP].reshape(m, HOP, -1)
    return loudness_from_hops(np.einsum("ijk,ijk->i", hops, hops, dtype=np.float64))


def _limit(x: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Look-ahead peak limiter at -2 dBFS, in place. Returns the mean squared gain per 100 ms hop."""
    import cv2

    factors = np.ones(len(x) // HOP, np.float64)
    ceiling = np.float32(10 ** (-2.0 / 20))
    win = max(1, rate // 200)
    kernel = np.ones((1, 2 * win + 1), np.uint8)
    step, pad = rate * 10, 2 * win + 2  # step is a whole number of hops
    # 10 s at a time: OpenCV's box filter on one very long row allocates several times its size.
    for start in range(0, len(x), step):
        lo, hi = max(0, start - pad), min(len(x), start + step + pad)
        peak = np.abs(x[lo:hi, 0])
        if x.shape[1] > 1:
            peak = np.maximum(peak, np.abs(x[lo:hi, 1]))  # 10x faster than max(axis=1) over 2 columns
        if peak.max() <= ceiling:
            continue
        need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-9)).astype(np.float32)
        # Hold the lowest gain 5 ms either side (a running minimum = erosion), then smooth
        # over 5 ms: no clicks, and the result never rises above what a peak needs.
        held = cv2.erode(need[None, :], kernel, borderType=cv2.BORDER_REPLICATE)
        gain = cv2.blur(held, (win + 1, 1), borderType=cv2.BORDER_REPLICATE)[0]
        end = min(len(x), start + step)
        g = np.minimum(gain[start - lo : end - lo], need[start - lo : end - lo])
        x[start:end] *= g[:, None]
        full = (len(g) // HOP) * HOP
        factors[start // HOP : start // HOP + full // HOP] = (g[:full].astype(np.float64) ** 2).reshape(-1, HOP).mean(1)
    return factors


def normalize_loudness(x: np.ndarray, energy: np.ndarray, target: float = TARGET_LUFS) -> np.ndarray:
    """Gain to ``target`` LUFS, limiting peaks at -2 dBFS, in place.

    ``energy`` is the K-weighted energy per 100 ms hop of ``x``. When the limiter had
    to pull peaks down (a quiet mix with loud moments), the loudness it took away is
    estimated from its gain per hop and made up, at most twice and +30 dB in all.
    """
    if x.size == 0 or not np.any(x):
        return x
    energy = energy.astype(np.float64, copy=True)
    applied = 0.0
    for _ in range(3):
        loudness = loudness_from_hops(energy)
        if not np.isfinite(loudness) or abs(target - loudness) < 0.3:
            break
        step = min(30.0 - applied, target - loudness)  # at most +30 dB overall: do not lift hiss
        x *= np.float32(10 ** (step / 20))
        energy *= 10 ** (step / 10)
        applied += step
        energy *= _limit(x)
    return x


def mix_soundtrack(
    narration: SoundInput | None,
    music: SoundInput | None,
    duration: float,
    *,
    cancel: CancelFn | None = None,
) -> np.ndarray:
    """The soundtrack as float32 samples at 48 kHz, (n, channels), exactly ``duration`` long:
    mono when every input is (``mix_channels``), else stereo.

    The samples go straight to the AAC encoder's stdin (encode.py): no WAV file is written
    and read back, and no 16-bit rounding happens before the encoder.
    """
    names = " and ".join(s.path.name for s in (narration, music) if s is not None) or "silence"
    mixed = mix_channels(narration, music)
    channels = 2 * mixed if (narration or music) else mixed
    want = int(round(duration * SAMPLE_RATE))
    # Bounded memory for long stories: only the stereo mix is kept (filled in place); the
    # K-weighted copy is reduced to one energy number per 100 ms as it streams past.
    x = np.zeros((want, mixed), np.float32)
    energy = np.zeros(want // HOP + 1, np.float64)
    frame_bytes = 4 * channels
    pending = b""
    pos = 0
    try:
        for chunk in read_ffmpeg(mix_args(narration, music, duration), chunk_bytes=1 << 18, timeout=1800):
            data = pending + chunk
            usable = len(data) - len(data) % frame_bytes
            pending = data[usable:]
            block = np.frombuffer(data[:usable], dtype="<f4").reshape(-1, channels)[: want - pos]
            n = len(block)
            x[pos : pos + n] = block[:, :mixed]
            if channels > mixed and n:
                e = np.einsum("ij,ij->i", block[:, mixed:], block[:, mixed:], dtype=np.float64)
                idx = np.arange(pos, pos + n) // HOP
                energy[idx[0] : idx[-1] + 1] += np.bincount(idx - idx[0], weights=e)
            pos += n
            if cancel is not None and cancel():
                raise Cancelled("Stopped on request.")
    except FFmpegError as exc:
        raise MixError(f"The sound ({names}) could not be mixed: {exc}") from exc
    # Whatever ffmpeg did not fill stays silent: never hand over a short track.
    if channels > mixed:
        # A mono mix plays on two speakers: measured as two identical channels (BS.1770 sums
        # their power), it is normalised to the level the same mix in stereo had.
        x = normalize_loudness(x, energy[: want // HOP] * (2 // mixed))
    return x
