"""The renderer: timeline, motion, framing, sound, subtitles, metadata, progress and cancel.

Everything runs for real: Pillow/OpenCV frames piped into the bundled ffmpeg, read
back with PyAV. Stories are a few seconds long and mostly rendered as previews.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pyloudnorm
import pytest

from storyteller.errors import Cancelled
from storyteller.pipeline.media import images as photos
from storyteller.pipeline.media.audio import decode_audio
from storyteller.pipeline.media.probe import probe, stream_tags
from storyteller.pipeline.render import kenburns
from storyteller.pipeline.render.encode import render_story
from storyteller.pipeline.render.frames import KenBurns
from storyteller.pipeline.render.mix import SoundInput, mix_soundtrack
from storyteller.pipeline.render.story import Motion, Rect, load_story, story_from_dict
from storyteller.pipeline.render.textlayout import Typesetter, layout_text, subtitle_image
from storyteller.pipeline.render.timeline import output_size, plan_timeline
from storyteller.pipeline.render.yuv import Frame
from tests.render_helpers import make_story, tone


def frame_at(path: Path, t: float) -> np.ndarray:
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            if f.time >= t:
                return f.to_ndarray(format="rgb24")
    raise AssertionError("no frame")


# ----------------------------------------------------------------- pure parts
def test_output_sizes() -> None:
    assert output_size("16:9", False, "final") == (1280, 720)
    assert output_size("16:9", True, "final") == (1920, 1080)
    assert output_size("9:16", False, "final") == (720, 1280)
    assert output_size("1:1", False, "final") == (1080, 1080)
    assert output_size("16:9", True, "preview") == (640, 360)
    assert output_size("9:16", False, "preview") == (360, 640)


def test_auto_scenes_follow_the_narration() -> None:
    s = story_from_dict(
        {
            "title": "T",
            "end_card": "E",
            "scenes": [{"image": "a.jpg"}, {"image": "b.jpg"}, {"image": "c.jpg"}],
            "narration": {"file": "n.wav", "start": 1.0},
        }
    )
    tl = plan_timeline(s, narration_seconds=20.0)
    assert tl.duration == pytest.approx(21.0, abs=1e-6)
    scenes = [g for g in tl.segments if g.kind == "scene"]
    assert len({round(g.duration, 6) for g in scenes}) == 1  # shared equally
    for a, b in zip(tl.segments, tl.segments[1:]):
        assert b.start == pytest.approx(a.end - b.overlap)


def test_narration_longer_than_fixed_scenes_extends_the_last_scene() -> None:
    s = story_from_dict(
        {
            "scenes": [{"image": "a.jpg", "duration": 2}, {"image": "b.jpg", "duration": 2}],
            "narration": {"file": "n.wav"},
            "transition_seconds": 0.5,
        }
    )
    tl = plan_timeline(s, narration_seconds=9.0)
    assert tl.duration == pytest.approx(9.0)
    assert tl.segments[-1].duration > 2


def test_no_narration_gives_default_lengths_and_cut_has_no_overlap() -> None:
    s = story_from_dict({"scenes": [{"image": "a.jpg"}, {"image": "b.jpg", "transition": "cut"}]})
    tl = plan_timeline(s)
    assert tl.duration == pytest.approx(10.0) and tl.segments[1].overlap == 0.0


def test_ken_burns_moves_smoothly_with_sub_pixel_steps() -> None:
    """A slow pan: the edge must move by nearly the same fraction of a pixel every frame (no jitter)."""
    rgb = np.zeros((540, 960, 3), np.uint8)
    rgb[:, 480:] = 255
    canvas = kenburns.prepare_canvas(rgb, 1.2)
    start, end = kenburns.view_of(Rect(0.0, 0.1, 0.8, 0.8)), kenburns.view_of(Rect(0.02, 0.1, 0.8, 0.8))
    positions = []
    for i in range(50):
        out = Frame(640, 360)
        # Linear part of the move only (the middle of the eased curve), like a slow drift.
        kenburns.warp(canvas, kenburns.view_at(start, end, 0.4 + 0.2 * i / 49), out)
        row = (out.y[180].astype(np.float64) - 16) / 219  # 0 black .. 1 white
        positions.append(row.size - row.sum())  # sub-pixel edge position: where the white begins
    steps = np.diff(positions)
    mean = abs(steps.mean())
    assert mean < 0.5  # sub-pixel motion per frame
    # Every frame moves (no stall-then-jump), and evenly: what is left is OpenCV's 1/32-pixel grid.
    assert np.all(steps < -0.3 * mean), steps
    assert steps.std() < 0.3 * mean, steps


def test_a_scene_without_motion_is_warped_once_and_handed_out_as_copies() -> None:
    rng = np.random.default_rng(3)
    canvas = kenburns.prepare_canvas(rng.integers(0, 255, (540, 960, 3), dtype=np.uint8), 1.5)
    view = kenburns.view_of(Rect(0.1, 0.1, 0.8, 0.8))
    still = KenBurns(canvas, view, view, 4.0, 640, 360)
    expected = Frame(640, 360)
    kenburns.warp(canvas, view, expected)
    for t in (0.0, 1.0, 3.9):
        frame = still.frame(t)
        assert np.array_equal(frame.buf, expected.buf)
        frame.fade(0.0)  # callers draw on the frame they get (subtitles, fades): never on the kept one
    moving = KenBurns(canvas, view, kenburns.view_of(Rect(0.0, 0.0, 1.0, 1.0)), 4.0, 640, 360)
    assert not np.array_equal(moving.frame(0.0).buf, moving.frame(2.0).buf)


def test_a_still_picture_is_sent_again_without_recomposing_and_never_drawn_on() -> None:
    """frame_loop queues the same frame while nothing changes, and draws fades and subtitles on copies."""
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from storyteller.pipeline.render.frames import CueTrack, Still, frame_loop
    from storyteller.pipeline.speech.subtitles import Cue

    class Pipe:
        def __init__(self):
            self.frames = []

        def write_kept(self, buf) -> None:
            self.frames.append((buf, buf.copy()))  # the buffer as queued, and its bytes at that moment

        def kill(self) -> None:
            pass

    still = Still(np.full((360, 640, 3), (200, 120, 40), np.uint8))
    kept = still.peek(0.0)[0].buf.copy()
    segment = SimpleNamespace(start=0.0, end=4.0, duration=4.0, overlap=0.0)
    subs = CueTrack((Cue(1.0, 2.0, "A line"),), 640, 360, "en", False)
    pipe = Pipe()
    with ThreadPoolExecutor(max_workers=1) as pool:
        frame_loop(pipe, [segment], lambda seg: still, pool, subs, 100, 25, 4.0, lambda f: None, lambda: False)
    bufs = [b for b, _ in pipe.frames]
    assert bufs[15] is bufs[20] is still.peek(0.0)[0].buf  # the picture itself, no copy
    assert bufs[30] is bufs[40] and bufs[30] is not bufs[20]  # one composed frame under the subtitle
    assert not np.array_equal(bufs[30], kept) and not np.array_equal(bufs[0], kept)  # subtitle, fade-in
    assert np.array_equal(still.peek(0.0)[0].buf, kept)
    assert all(np.array_equal(b, seen) for b, seen in pipe.frames)  # nothing changed after it was queued


def test_frames_written_by_reference_reach_ffmpeg_unchanged(tmp_path) -> None:
    """write_kept hands the pipe a frame's own pages (vmsplice on Linux). Buffers are reused in a
    ring as soon as the writer lets go of them: what ffmpeg read must still be what was written."""
    import hashlib
    import sys

    from storyteller.pipeline.media.ffmpeg import open_ffmpeg

    w, h = 1000, 701  # not a whole number of pages
    out, expected, ring, reused = tmp_path / "md5.txt", hashlib.md5(), [], 0
    args = ["-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{w}x{h}", "-i", "pipe:0", "-f", "md5", "-y", str(out)]
    with open_ffmpeg(args) as pipe:
        if sys.platform.startswith("linux"):
            assert pipe._kept._fn is not None  # else this test would prove nothing
        for n in range(300):
            held = [b for b, _ in pipe._kept._held]
            free = [b for b in ring if not any(b is k for k in held)]
            if free:
                buf, reused = free[0], reused + 1
            else:
                buf = np.empty(w * h, np.uint8)
                ring.append(buf)
            buf.fill(n % 251)  # a memset: the writer outruns ffmpeg, so the pipe stays full
            buf[n % 4096 :: 4099] = 255 - n % 251
            expected.update(buf)
            pipe.write_kept(buf)
    assert reused > 250 and len(ring) <= 6
    assert out.read_text().strip() == f"MD5={expected.hexdigest()}"


@pytest.mark.parametrize("size", [(300, 900), (1600, 400), (64, 64)])
def test_other_shapes_are_framed_not_stretched(size) -> None:
    """A circle stays a circle when a portrait, panorama or square picture is framed into 16:9."""
    w, h = size
    img = np.full((h, w, 3), 30, np.uint8)
    r = min(w, h) // 3
    import cv2

    cv2.circle(img, (w // 2, h // 2), r, (255, 255, 255), -1)
    framed = photos.frame_photo(img, 1280, 720)
    mask = framed[:, :, 0] > 200
    ys, xs = np.nonzero(mask)
    bw, bh = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    assert abs(bw / bh - 1.0) < 0.06, (bw, bh)
    assert framed.shape == (720, 1280, 3)


@pytest.mark.parametrize(
    "text, rtl, lines",
    [
        ("Then I spoke to my sister, and she listened.", None, ["Then I spoke to my sister,", "and she listened."]),
        ("ہم سب کی آواز اہم ہے — every voice matters.", True, ["ہم سب کی آواز اہم ہے —", "every voice matters."]),
    ],
)
def test_a_two_line_subtitle_breaks_as_a_person_would(text: str, rtl, lines: list[str]) -> None:
    """Even lines, broken after the comma or where Urdu turns to English; no word or full stop alone."""
    ts = Typesetter(36, "en", rtl)
    assert ts.wrap(text, 1040, 2) == (lines, True)  # the sample's subtitle size and width at 720p
    if rtl:  # the English line of an Urdu paragraph is drawn left to right: its full stop ends it on the right
        mask = np.asarray(layout_text(text, size=36, max_width=1040, rtl=rtl))
        for direction, found in ((False, True), (True, False)):
            line = np.asarray(ts.draw_line(lines[1], rtl=direction))
            # an exact match of 8-bit pictures: OpenCV sums in floats (by DFT for large ones), so a match can
            # come out as 7e-8 instead of 0 (CI, twice); a single pixel one level off would give at least 1
            assert (cv2.matchTemplate(mask[-line.shape[0] - 4 :], line, cv2.TM_SQDIFF).min() < 0.5) == found


def test_ducking_and_loudness(tmp_path: Path) -> None:
    """Music is pulled down under the voice, and the mix lands near -16 LUFS."""
    voice = tone(tmp_path / "v.wav", 6.0, 1000.0, amp=0.2, on=(1.0, 3.0))
    music = tone(tmp_path / "m.wav", 6.0, 220.0, amp=0.2)
    stereo = mix_soundtrack(SoundInput(voice), SoundInput(music, seconds=6.0), 6.0)
    assert stereo.shape == (6 * 48000, 2) and stereo.dtype == np.float32
    x = stereo.mean(axis=1)

    def level_220(a: float, b: float) -> float:
        seg = x[int(a * 48000) : int(b * 48000)]
        spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
        freqs = np.fft.rfftfreq(seg.size, 1 / 48000)
        return 20 * np.log10(spec[(freqs > 200) & (freqs < 240)].max())

    assert level_220(4.0, 5.0) - level_220(1.8, 2.8) > 6.0  # at least 6 dB of ducking
    assert pyloudnorm.Meter(48000).integrated_loudness(stereo) == pytest.approx(-16.0, abs=1.0)
    assert np.abs(stereo).max() < 10 ** (-1.5 / 20)
    # Mono inputs make a mono mix: the same signal as either channel of the stereo one, as loud.
    mono = mix_soundtrack(SoundInput(voice, channels=1), SoundInput(music, channels=1, seconds=6.0), 6.0)
    assert mono.shape == (6 * 48000, 1)
    left = stereo[:, 0]
    assert 10 * np.log10(np.sum(left**2) / np.sum((mono[:, 0] - left) ** 2)) > 80.0


def test_music_shorter_than_the_story_loops_and_fades(tmp_path: Path) -> None:
    """A 2 s tune under a 6 s story plays three times, faded in and out."""
    music = tone(tmp_path / "m.wav", 2.0, 220.0, amp=0.2)
    mixed = mix_soundtrack(None, SoundInput(music, channels=1, seconds=2.0), 6.0)[:, 0]
    rms = [float(np.sqrt(np.mean(mixed[int(t * 48000) : int((t + 0.5) * 48000)] ** 2))) for t in (0.0, 2.5, 3.5, 5.5)]
    assert rms[1] > 0.05 and rms[2] > 0.05  # still playing after its own 2 s
    assert rms[0] < 0.8 * rms[1] and rms[3] < 0.5 * rms[2]


# ----------------------------------------------------------------- real renders
SPECIAL = "Colon: it's a \\ back-slash, 100% sure 🙂"


@pytest.mark.slow
def test_final_render_is_campaign_ready(tmp_path: Path) -> None:
    folder = make_story(
        tmp_path / "s",
        scenes=2,
        seconds="auto",
        narration=5.0,
        music=True,
        subtitles=[{"start": 0.2, "end": 1.4, "text": SPECIAL}, {"start": 1.5, "end": 2.9, "text": "ہم سب کی آواز اہم ہے"}],
        title={"text": "میری کہانی", "duration": 1.0},
    )
    fractions: list[float] = []
    out = tmp_path / "out" / "story.mp4"
    result = render_story(folder, out, quality="final", progress=fractions.append)
    info = probe(out)
    assert result.path == out and (result.width, result.height) == (1280, 720)
    assert info.video.codec == "h264" and info.video.profile == "High" and info.video.pix_fmt == "yuv420p"
    # The tones are mono, so the soundtrack is (mix.py: a stereo mix of mono inputs is one signal twice).
    assert info.audio.codec == "aac" and info.audio.channels == 1 and info.audio.sample_rate == 48000
    # The mix reaches the MP4 whole and clean (piped into the encoder, no file between): the
    # decoded sound matches the mix sample for sample, at -16 LUFS. On these tones AAC scores
    # 72 dB with the fast coder and 47 with twoloop; the same sound one sample late scores 25.
    story = load_story(folder)
    voice, music = SoundInput(folder / "voice.wav", channels=1), SoundInput(folder / "music.wav", 0.0, story.music.volume, 1)
    mix = mix_soundtrack(voice, music, result.duration)
    sound = decode_audio(out, 48000, 1)[:, None]
    assert sound.shape == mix.shape
    assert 10 * np.log10(np.sum(mix**2) / np.sum((sound - mix) ** 2)) > 40.0
    # measured as played, on two speakers
    assert pyloudnorm.Meter(48000).integrated_loudness(np.repeat(sound, 2, axis=1)) == pytest.approx(-16.0, abs=1.0)
    assert [s.codec for s in info.subtitles] == ["mov_text"]
    assert info.duration == pytest.approx(5.0, abs=0.1) == pytest.approx(result.duration, abs=0.1)
    # faststart: the index (moov) comes before the media data (mdat).
    head = out.read_bytes()[:4096]
    assert 0 <= head.find(b"moov") < 200 and b"mdat" not in head[: head.find(b"moov")]
    # no metadata
    for where, tags in stream_tags(out).items():
        assert not {"encoder", "creation_time", "comment", "title"} & {k.lower() for k in tags}, (where, tags)
    assert b"x264" not in out.read_bytes() and b"Lavf" not in out.read_bytes()
    # sidecars keep the text exactly
    srt = result.srt_path.read_text(encoding="utf-8")
    vtt = result.vtt_path.read_text(encoding="utf-8")
    assert SPECIAL in srt and SPECIAL in vtt and "ہم سب کی آواز اہم ہے" in srt
    assert "00:00:00,200 --> 00:00:01,400" in srt and "00:00:00.200 --> 00:00:01.400" in vtt
    # progress rises to 1
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    # the burned-in subtitle band darkens the bottom middle of the frame while a cue shows
    with_sub, without = frame_at(out, 0.8), frame_at(out, 4.0)
    band = (slice(560, 680), slice(500, 780))
    assert with_sub[band].std() > without[band].std() + 5  # white text on a dark band
    assert not list(out.parent.glob(".*part")) and not list(out.parent.glob(".render-*"))


@pytest.mark.parametrize("aspect, size", [("9:16", (360, 640)), ("1:1", (360, 360)), ("16:9", (640, 360))])
def test_preview_in_each_aspect(tmp_path: Path, aspect: str, size) -> None:
    folder = make_story(tmp_path / "s", scenes=1, seconds=1.0)
    result = render_story(folder, tmp_path / "p.mp4", quality="preview", aspect=aspect)
    info = probe(result.path)
    assert (info.video.width, info.video.height) == size
    assert info.video.fps == pytest.approx(15)  # previews are light: 15 frames a second
    assert info.has_audio  # a silent track, so every player is happy
    assert result.srt_path is None


@pytest.mark.slow
def test_cancel_stops_within_two_seconds_and_leaves_nothing(tmp_path: Path) -> None:
    folder = make_story(tmp_path / "s", scenes=2, seconds=60.0)
    out = tmp_path / "out" / "c.mp4"
    set_at: list[float] = []

    def cancel() -> bool:
        if time.monotonic() - start > 1.5:
            if not set_at:
                set_at.append(time.monotonic())
            return True
        return False

    start = time.monotonic()
    with pytest.raises(Cancelled):
        render_story(folder, out, quality="final", cancel=cancel)
    assert time.monotonic() - set_at[0] < 2.0
    assert not out.exists() and not list(out.parent.glob("*"))


def test_progress_is_reported_about_every_second(tmp_path: Path) -> None:
    folder = make_story(tmp_path / "s", scenes=2, seconds=4.0)
    stamps: list[float] = []
    render_story(folder, tmp_path / "p.mp4", quality="preview", progress=lambda f: stamps.append(time.monotonic()))
    gaps = np.diff(stamps[1:-1]) if len(stamps) > 3 else np.array([1.0])
    assert (gaps >= 0.95).all()  # throttled: not flooding the job table


def test_story_object_and_custom_motion_render(tmp_path: Path) -> None:
    folder = make_story(tmp_path / "s", scenes=1, seconds=1.0)
    story = load_story(folder)
    scene = story.scenes[0]
    from dataclasses import replace

    story = replace(story, scenes=(replace(scene, motion=Motion("custom", Rect(0, 0, 1, 1), Rect(0.5, 0.5, 0.5, 0.5))),))
    result = render_story(story, tmp_path / "m.mp4", quality="preview")
    assert probe(result.path).video.height == 360


def test_video_clip_scene_plays_for_its_own_length(tmp_path: Path) -> None:
    from storyteller.pipeline.media.ffmpeg import run_ffmpeg

    folder = make_story(tmp_path / "s", scenes=1, seconds=1.0)
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=2",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-y",
            str(folder / "clip.mp4"),
        ]
    )
    data = json.loads((folder / "story.json").read_text())
    data["scenes"].append({"video": "clip.mp4", "transition": "cut"})  # duration "auto": the clip's own
    (folder / "story.json").write_text(json.dumps(data))
    result = render_story(folder, tmp_path / "v.mp4", quality="preview")
    assert probe(result.path).duration == pytest.approx(3.0, abs=0.1)
    # testsrc2 is colourful and moving: two frames half a second apart differ
    a, b = frame_at(result.path, 1.5), frame_at(result.path, 2.0)
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 2


PATCHES = [(200, 40, 40), (40, 160, 60), (40, 60, 200), (230, 190, 150), (120, 120, 120), (250, 220, 40), (90, 40, 120), (20, 20, 20)]


def test_colours_play_back_as_drawn(tmp_path: Path) -> None:
    """Flat patches of colour decode (by the MP4's own BT.709 tags) within 4 levels of the picture.

    The frames are BT.709 and tagged so on the way in and out; when the input went untagged,
    ffmpeg took it for BT.601 and converted it: the red played back as 186,22,42.
    """
    folder = tmp_path / "s"
    folder.mkdir()
    rgb = np.zeros((720, 1280, 3), np.uint8)
    for i, colour in enumerate(PATCHES):
        rgb[(i // 4) * 360 : (i // 4 + 1) * 360, (i % 4) * 320 : (i % 4 + 1) * 320] = colour
    cv2.imwrite(str(folder / "p.png"), rgb[:, :, ::-1])
    (folder / "story.json").write_text(json.dumps({"scenes": [{"image": "p.png", "duration": 2, "motion": "none"}]}), encoding="utf-8")
    out = render_story(folder, tmp_path / "c.mp4", quality="preview").path
    frame = frame_at(out, 1.0)
    h, w = frame.shape[:2]
    for i, colour in enumerate(PATCHES):
        cy, cx = (i // 4) * h // 2 + h // 4, (i % 4) * w // 4 + w // 8
        got = frame[cy - h // 10 : cy + h // 10, cx - w // 20 : cx + w // 20].reshape(-1, 3).mean(axis=0)
        assert np.abs(got - colour).max() < 4.0, (colour, got.round(1))


def test_an_english_line_in_an_urdu_story_reads_left_to_right():
    """Seen in a render: the story-wide right-to-left setting put an English line's full stop first."""
    from storyteller.pipeline.render.frames import CueTrack
    from storyteller.pipeline.render.yuv import Overlay
    from storyteller.pipeline.speech.subtitles import Cue

    english, mixed = "Never stop learning, ask questions.", "Facebook پر اس نے میری تصویریں لگائیں۔"
    track = CueTrack((Cue(0.0, 2.0, english), Cue(2.0, 4.0, mixed)), 640, 360, "ur", True)

    def overlay(text, rtl):
        return Overlay.from_rgba(*subtitle_image(text, 640, 360, "ur", rtl)).y_pre

    # Direction shows in the pixels of a line drawn right to left (its full stop first) ...
    ts = Typesetter(18, "ur", True)
    assert not np.array_equal(np.asarray(ts.draw_line(english, rtl=True)), np.asarray(ts.draw_line(english, rtl=False)))
    # ... and layout never draws a line without Urdu letters that way, whatever the paragraph's direction.
    assert np.array_equal(overlay(english, None), overlay(english, True))
    assert np.array_equal(track.at(1.0).y_pre, overlay(english, None))
    # An Urdu line opening with an English word stays right to left.
    assert np.array_equal(track.at(3.0).y_pre, overlay(mixed, True))
