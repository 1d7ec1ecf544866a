"""Make the bundled sample story (run once by a developer; the outputs are committed).

    .venv/bin/python media/sample/make_sample.py

It draws five illustrations with Pillow (no photos of real people), speaks the
narration with the product's own natural synthetic voice (Kokoro reading eSpeak
NG's phonemes, `storyteller.pipeline.voice.tts`: what a public story sounds like),
times the subtitles from the spoken sentences, synthesises a soft music bed,
and writes story.json. Sound is stored as small Ogg/Opus files through the
project's one ffmpeg. `storyteller demo` renders this folder.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from media.synth import encode_opus, tone  # noqa: E402
from storyteller.pipeline.voice import tts  # noqa: E402

W, H = 1280, 720
GAP = 0.35  # seconds of quiet between sentences

# (text, language, subtitle text)
SENTENCES = [
    ("My story. A story of courage.", "en", "My story: a story of courage."),
    ("It started with messages I did not want.", "en", "It started with messages I did not want."),
    ("I felt alone, and I was afraid to tell anyone.", "en", "I felt alone, and I was afraid to tell anyone."),
    ("Then I spoke to my sister, and she listened.", "en", "Then I spoke to my sister, and she listened."),
    ("ہم سب کی آواز اہم ہے", "ur", "ہم سب کی آواز اہم ہے — every voice matters."),
    ("Today I walk my own path, one step at a time.", "en", "Today I walk my own path, one step at a time."),
    ("You are not alone. Help is one call away.", "en", "You are not alone. Help is one call away."),
]
NARRATOR = tts.Voice("jf_alpha", "jf_nezumi", mix=0.3, speed=0.9)  # a calm blend, a little slower than the default


def gradient(top, bottom, w=W, h=H) -> Image.Image:
    t = np.linspace(0, 1, h)[:, None, None]
    arr = (np.array(top) * (1 - t) + np.array(bottom) * t).astype(np.uint8)
    return Image.fromarray(np.repeat(arr, w, axis=1))


def hills(d: ImageDraw.ImageDraw, w, h, base, amp, color, phase=0.0, freq=1.5):
    pts = [(0, h)]
    for x in range(0, w + 20, 20):
        y = base + amp * math.sin(phase + freq * x / w * math.pi * 2) + amp * 0.4 * math.sin(phase * 2 + 3.1 * x / w * math.pi)
        pts.append((x, y))
    pts.append((w, h))
    d.polygon(pts, fill=color)


def figure(d: ImageDraw.ImageDraw, x, y, s, color):
    """A simple faceless figure: head circle and a long dress shape."""
    d.ellipse((x - 0.35 * s, y - 1.6 * s, x + 0.35 * s, y - 0.9 * s), fill=color)
    d.polygon(
        [(x - 0.25 * s, y - 0.85 * s), (x + 0.25 * s, y - 0.85 * s), (x + 0.7 * s, y + 1.2 * s), (x - 0.7 * s, y + 1.2 * s)], fill=color
    )


def scene1() -> Image.Image:  # dawn over hills
    img = gradient((250, 190, 140), (120, 90, 150))
    d = ImageDraw.Draw(img)
    d.ellipse((560, 300, 760, 500), fill=(255, 230, 170))
    hills(d, W, H, 470, 40, (90, 70, 120), 0.5)
    hills(d, W, H, 560, 30, (60, 50, 90), 2.0, 1.1)
    hills(d, W, H, 640, 20, (35, 30, 60), 4.0, 0.8)
    return img


def scene2() -> Image.Image:  # a phone glowing in a dark room, messages piling up
    img = gradient((25, 30, 50), (10, 10, 20))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((520, 140, 760, 600), radius=30, fill=(30, 35, 45), outline=(90, 100, 120), width=6)
    d.rounded_rectangle((540, 180, 740, 560), radius=10, fill=(210, 225, 240))
    for i, (x0, x1) in enumerate([(555, 700), (580, 725), (555, 680), (575, 725), (555, 710), (590, 725)]):
        y = 200 + i * 58
        d.rounded_rectangle((x0, y, x1, y + 40), radius=12, fill=(235, 90, 90) if i % 2 == 0 else (200, 120, 120))
    glow = Image.new("L", (W, H), 0)
    ImageDraw.Draw(glow).ellipse((420, 80, 860, 660), fill=90)
    glow = glow.filter(ImageFilter.GaussianBlur(60))
    return Image.composite(Image.new("RGB", (W, H), (120, 150, 200)), img, glow)


def scene3() -> Image.Image:  # alone by a window with rain (portrait shape: tests blurred fill)
    w, h = 720, 960
    img = gradient((60, 70, 95), (30, 30, 45), w, h)
    d = ImageDraw.Draw(img)
    d.rectangle((140, 120, 580, 560), fill=(110, 130, 160), outline=(200, 190, 170), width=14)
    d.line((360, 120, 360, 560), fill=(200, 190, 170), width=10)
    d.line((140, 340, 580, 340), fill=(200, 190, 170), width=10)
    rng = np.random.default_rng(3)
    for _ in range(90):
        x, y = rng.uniform(150, 570), rng.uniform(130, 540)
        d.line((x, y, x - 4, y + 22), fill=(180, 200, 225), width=2)
    figure(d, 360, 760, 120, (20, 20, 30))
    return img


def scene4() -> Image.Image:  # two sisters sitting together under a tree
    img = gradient((170, 210, 200), (240, 225, 190))
    d = ImageDraw.Draw(img)
    hills(d, W, H, 560, 15, (120, 160, 110), 1.0, 0.6)
    d.rectangle((880, 250, 920, 560), fill=(100, 70, 50))
    d.ellipse((740, 90, 1060, 330), fill=(70, 130, 80))
    d.ellipse((800, 60, 1000, 250), fill=(90, 150, 90))
    figure(d, 520, 520, 90, (150, 60, 90))
    figure(d, 660, 520, 90, (60, 80, 150))
    d.ellipse((580, 330, 600, 350), fill=(240, 120, 140))  # a small heart-ish dot between them
    return img


def scene5() -> Image.Image:  # a path toward the sun
    img = gradient((255, 215, 140), (250, 160, 110))
    d = ImageDraw.Draw(img)
    d.ellipse((540, 120, 740, 320), fill=(255, 245, 200))
    hills(d, W, H, 420, 25, (200, 140, 100), 1.2, 0.9)
    hills(d, W, H, 500, 20, (150, 110, 90), 3.0, 1.3)
    d.polygon([(600, 430), (680, 430), (1000, H), (280, H)], fill=(235, 200, 150))
    figure(d, 640, 560, 55, (60, 40, 60))
    for bx in (300, 360, 950):
        d.arc((bx, 200, bx + 40, 230), 200, 340, fill=(90, 60, 70), width=4)
        d.arc((bx + 36, 200, bx + 76, 230), 200, 340, fill=(90, 60, 70), width=4)
    return img


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    # Truncates to 16 bits (the project's write_wav rounds): kept, so the committed sound stays the same bytes.
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1 if samples.ndim == 1 else samples.shape[1])
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def narration(tmp: Path) -> tuple[float, list[dict]]:
    parts, cues, t, rate = [], [], 0.0, None
    for text, language, sub in SENTENCES:
        audio, rate = tts.synthesize(text, language, NARRATOR)  # trimmed to the words, so cues sit on them
        audio = 0.5 * audio / np.abs(audio).max()
        dur = len(audio) / rate
        cues.append({"start": round(t, 2), "end": round(t + dur + 0.2, 2), "text": sub})
        parts += [audio, np.zeros(int(GAP * rate), np.float32)]
        t += dur + GAP
    full = np.concatenate(parts[:-1] + [np.zeros(int(0.6 * rate), np.float32)])
    encode_opus(write_wav(tmp / "narration.wav", full * 0.9, rate), HERE / "narration.ogg", "24k")
    return len(full) / rate, cues


def music(tmp: Path) -> None:
    """A slow, soft chord pad (I-vi-IV-V in C), 16 s, loops cleanly."""
    rate, bar = 48000, 4.0
    chords = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7)]
    # Each chord's notes with their octave, rising and falling over 0.8 s.
    out = [0.12 * sum(tone(f, bar, rate, 0.8, 0.8, (1.0, 0.3)) for f in chord) / len(chord) for chord in chords]
    encode_opus(write_wav(tmp / "music.wav", np.concatenate(out).astype(np.float32), rate), HERE / "music.ogg", "24k")


def main() -> None:
    names = []
    for i, draw in enumerate([scene1, scene2, scene3, scene4, scene5], start=1):
        name = f"{i:02d}.jpg"
        draw().save(HERE / name, quality=82, optimize=True)
        names.append(name)
    with tempfile.TemporaryDirectory() as d:
        total, cues = narration(Path(d))
        music(Path(d))
    story = {
        "version": 1,
        "aspect": "16:9",
        "language": "en",
        "fps": 25,
        "transition_seconds": 0.8,
        "title": {"text": "میری کہانی · My Story", "lines": ["A sample story made with Storyteller"], "duration": 3.5},
        "scenes": [{"image": n, "duration": "auto", "motion": "auto", "transition": "crossfade"} for n in names],
        "end_card": {"text": "#YouAreNotAlone", "lines": ["Helpline: 1234 (free, 24 hours)", "آپ اکیلی نہیں ہیں"], "duration": 4.0},
        "narration": {"file": "narration.ogg", "start": 0.0, "volume": 1.0},
        "music": {"file": "music.ogg", "start": 0.0, "volume": 0.35},
        "subtitles": cues,
    }
    (HERE / "story.json").write_text(json.dumps(story, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"narration {total:.2f} s, {len(cues)} cues")


if __name__ == "__main__":
    main()
