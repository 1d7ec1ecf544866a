"""The one ffmpeg runner and the PyAV probe, on media generated here."""

import time

import numpy as np
import pytest

from storyteller.errors import Cancelled
from storyteller.pipeline.media.audio import AudioError, decode_audio, iter_audio_blocks
from storyteller.pipeline.media.ffmpeg import FFmpegError, ffmpeg_binary, run_ffmpeg
from storyteller.pipeline.media.probe import ProbeError, probe


@pytest.fixture(scope="module")
def av_clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("media") / "clip.mp4"
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-shortest",
            str(out),
        ]
    )
    return out


def test_bundled_binary_is_used():
    assert "imageio_ffmpeg" in ffmpeg_binary()


def test_probe_reads_streams(av_clip):
    info = probe(av_clip)
    assert info.has_video and info.has_audio
    assert info.video.codec == "h264" and (info.video.width, info.video.height) == (320, 240)
    assert info.video.fps == pytest.approx(25)
    assert info.audio.sample_rate == 48000 and info.audio.channels == 1
    assert info.duration == pytest.approx(2.0, abs=0.1)


def test_probe_rotation(av_clip, tmp_path):
    rotated = tmp_path / "rot.mp4"
    run_ffmpeg(["-display_rotation", "90", "-i", str(av_clip), "-c", "copy", str(rotated)])
    v = probe(rotated).video
    assert v.rotation == 90
    assert v.display_size == (240, 320)


@pytest.mark.parametrize("content,words", [(b"", "empty"), (b"not a video at all" * 50, "damaged")])
def test_probe_bad_files_are_plain(tmp_path, content, words):
    f = tmp_path / "bad.mp4"
    f.write_bytes(content)
    with pytest.raises(ProbeError, match=words):
        probe(f)


def test_probe_missing_file(tmp_path):
    with pytest.raises(ProbeError, match="not found"):
        probe(tmp_path / "nope.wav")


def test_ffmpeg_error_is_plain_language(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"garbage" * 100)
    with pytest.raises(FFmpegError) as err:
        run_ffmpeg(["-i", str(bad), str(tmp_path / "out.wav")])
    assert "damaged" in str(err.value)
    assert err.value.detail  # ffmpeg's own words kept for developers


def test_arguments_are_never_a_shell(tmp_path):
    # A file name full of shell syntax is just a file name.
    weird = tmp_path / "a; rm -rf ~ $(echo x).wav"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=duration=0.2", str(weird)])
    assert weird.exists()


def test_cancel_kills_quickly(tmp_path):
    start = time.monotonic()
    with pytest.raises(Cancelled):
        run_ffmpeg(
            ["-f", "lavfi", "-i", "testsrc=size=1280x720:rate=25:duration=600", "-c:v", "libx264", str(tmp_path / "long.mp4")],
            cancel=lambda: time.monotonic() - start > 0.5,
        )
    assert time.monotonic() - start < 2.5


def test_timeout_kills(tmp_path):
    with pytest.raises(FFmpegError, match="longer than"):
        run_ffmpeg(["-f", "lavfi", "-i", "testsrc=duration=600", "-c:v", "libx264", str(tmp_path / "t.mp4")], timeout=0.5)


def test_progress_reaches_one(tmp_path):
    seen = []
    run_ffmpeg(
        ["-f", "lavfi", "-i", "sine=duration=3", str(tmp_path / "p.wav")],
        progress=seen.append,
        duration=3.0,
    )
    assert seen and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)


def test_decode_audio_resamples_and_downmixes(av_clip):
    samples = decode_audio(av_clip, sample_rate=16000)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) == pytest.approx(32000, abs=800)
    # a 440 Hz sine: the strongest frequency survives resampling
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.argmax(spectrum) * 16000 / len(samples) == pytest.approx(440, abs=5)


def test_audio_blocks_stream(av_clip):
    blocks = list(iter_audio_blocks(av_clip, 16000, 1, block_seconds=0.5))
    assert len(blocks) >= 4 and all(len(b) == 8000 for b in blocks[:-1])


def test_no_audio_stream_is_plain(tmp_path):
    silent_video = tmp_path / "v.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=duration=0.5", "-c:v", "libx264", "-preset", "ultrafast", str(silent_video)])
    with pytest.raises(AudioError, match="no sound"):
        decode_audio(silent_video)
