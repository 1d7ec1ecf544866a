"""The soundtrack: narration over music that ducks under the voice, loudness-normalised.

One ffmpeg run builds it, as a WAV of exactly the video's length:
- the narration is delayed to its start time and padded with silence;
- the music loops, fades in and out, and a sidechain compressor keyed by the
  narration pulls it down while someone speaks (ducking);
- ``loudnorm`` brings the mix to about -16 LUFS integrated, -1.5 dBTP, the level
  phones and social sites expect.
A story with no sound at all still gets a silent track, because some players and
WhatsApp handle a video without audio badly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storyteller.pipeline.ffmpeg import CancelFn, FFmpegCancelled, FFmpegError, run_ffmpeg

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


def mix_args(narration: SoundInput | None, music: SoundInput | None, duration: float, out: Path) -> list[str]:
    """The ffmpeg arguments that build the soundtrack (pure: handy to test and to read)."""
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
        return args + ["-filter_complex", ";".join(graph), "-map", "[out]", "-t", d, "-c:a", "pcm_s16le", "-y", str(out)]
    # loudnorm works at 192 kHz internally; resample back. Silence stays silence.
    graph.append(f"[{last}]loudnorm=I={TARGET_LUFS}:TP=-1.5:LRA=11,aresample={SAMPLE_RATE},atrim=0:{d}[out]")
    return args + [
        "-filter_complex", ";".join(graph), "-map", "[out]", "-t", d, "-ar", str(SAMPLE_RATE),
        "-c:a", "pcm_s16le", "-y", str(out),
    ]


def mix_soundtrack(
    narration: SoundInput | None,
    music: SoundInput | None,
    duration: float,
    out: str | Path,
    *,
    cancel: CancelFn | None = None,
) -> Path:
    """Write the soundtrack WAV to ``out`` (a private work file, not an export)."""
    out = Path(out)
    try:
        run_ffmpeg(mix_args(narration, music, duration, out), cancel=cancel, timeout=1800)
    except FFmpegCancelled:
        raise
    except FFmpegError as exc:
        names = " and ".join(s.path.name for s in (narration, music) if s is not None) or "silence"
        raise MixError(f"The sound ({names}) could not be mixed: {exc}") from exc
    return out
