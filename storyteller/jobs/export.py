"""The package a campaign team takes away: her finished video in each shape, its subtitles, a
poster, the consent receipt and a manifest, and nothing else.

Only what was made to be seen leaves the laptop: the finished, masked video (never a raw
recording or an unmasked photo). Consent is read when the export runs, and read again
just before the package is complete, so a withdrawal during a long render still stops it.
Every file is written afresh without metadata (container and stream tags, chapters,
encoder strings, x264's banner, PNG text chunks) and gets a random name; the folder
name is random too.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from storyteller.errors import N_, CancelFn, ProgressFn, UserError
from storyteller.fsutil import atomic_output, atomic_write_text
from storyteller.pipeline.media.ffmpeg import run_ffmpeg
from storyteller.pipeline.media.metadata import H264_STRIP_SEI, STRIP_ARGS
from storyteller.store import plans, stories
from storyteller.store.vault import Vault

# The uses an export may serve: a workshop-only consent keeps the video on the laptop.
EXPORT_NEEDS = "organisation"
POSTER_AT = 0.4  # of the video's length: past the title card, inside her pictures


class ExportRefused(UserError):
    """The story may not leave the laptop, or has nothing finished to export; a plain sentence."""


@dataclass(frozen=True)
class ExportedFile:
    name: str  # random, with its extension
    role: str  # video, subtitles, poster, consent
    sha256: str
    bytes: int
    shape: str | None = None


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    manifest: Path
    files: tuple[ExportedFile, ...]
    rendered: tuple[str, ...]  # the shapes that had no finished video and were rendered for this export


def _random_name(suffix: str) -> str:
    return secrets.token_hex(8) + suffix


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


REFUSED = N_("This story may not leave the laptop: her consent is only for the workshop screening, or it was withdrawn.")


def _check_consent(conn: sqlite3.Connection, story_id: int, workshop_key: bytes) -> None:
    if not stories.consent_allows(conn, story_id, EXPORT_NEEDS, workshop_key):
        raise ExportRefused(REFUSED)


def finished_videos(conn: sqlite3.Connection, story_id: int) -> dict[str, stories.Asset]:
    """Her latest final video in each shape it was rendered in."""
    found = {}
    for asset in stories.story_assets(conn, story_id, "export"):
        if asset.meta.get("quality") == "final" and asset.meta.get("aspect") in plans.ASPECTS:
            found[asset.meta["aspect"]] = asset  # oldest first: the latest wins
    return found


def _render_shape(
    conn: sqlite3.Connection, vault: Vault, workshop_key: bytes, story_id: int, shape: str, work: Path, cancel: CancelFn | None
) -> Path:
    """Render her story in ``shape`` from its plan, through the same path as the journey's render."""
    from storyteller.jobs.story_build import build_story_folder
    from storyteller.pipeline.render.encode import render_story

    story = build_story_folder(
        conn, vault, story_id, work / f"story-{shape.replace(':', 'x')}", workshop_key=workshop_key, aspect=shape, cancel=cancel
    )
    return render_story(story, work / f"render-{shape.replace(':', 'x')}.mp4", quality="final", aspect=shape, cancel=cancel).path


def _clean_video(src: Path, out: Path, cancel: CancelFn | None) -> Path:
    """A fresh MP4 without tags, chapters or encoder strings.

    The picture is copied as it is (its x264 banner, an SEI unit, dropped). The sound is
    encoded again, bit-exact: an AAC encoder writes its name and version into the first
    audio frame itself, where no tag option reaches; a second AAC generation at 160 kbit/s
    is not audible in speech and music.
    """
    with atomic_output(out) as tmp:
        run_ffmpeg(
            [
                *("-i", str(src), "-map", "0:v", "-map", "0:a?", "-map", "0:s?"),
                *("-c:v", "copy", "-c:a", "aac", "-b:a", "160k", "-c:s", "mov_text"),
                *H264_STRIP_SEI,
                *STRIP_ARGS,
                *("-movflags", "+faststart", "-f", "mp4", "-y", str(tmp)),
            ],
            cancel=cancel,
        )
    return out


def _subtitles(video: Path, out: Path, codec: str) -> Path | None:
    """The subtitle track of the finished video as a sidecar file, or None when it has none."""
    import av

    with av.open(str(video), options={"protocol_whitelist": "file"}) as container:
        if not container.streams.subtitles:
            return None
    with atomic_output(out) as tmp:
        fmt = "srt" if codec == "srt" else "webvtt"
        run_ffmpeg(
            ["-i", str(video), "-map", "0:s:0", "-c:s", codec, "-map_metadata", "-1", "-fflags", "+bitexact", "-f", fmt, "-y", str(tmp)]
        )
    return out


def _poster(video: Path, out: Path, work: Path) -> Path:
    """A frame of the finished, masked video, saved as a PNG of its pixels alone."""
    import av
    import numpy as np
    from PIL import Image

    with av.open(str(video), options={"protocol_whitelist": "file"}) as container:
        duration = float(container.duration or 0) / 1_000_000
    frame = work / "poster-frame.png"
    run_ffmpeg(["-ss", f"{duration * POSTER_AT:.3f}", "-i", str(video), "-frames:v", "1", "-f", "image2", "-c:v", "png", "-y", str(frame)])
    with Image.open(frame, formats=["PNG"]) as im:
        pixels = np.asarray(im.convert("RGB"))
    with atomic_output(out) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")  # no pnginfo: no text chunks, no time, no software
    return out


def export_story(
    conn: sqlite3.Connection,
    vault: Vault,
    story_id: int,
    out_dir: str | Path,
    shapes: Sequence[str] = plans.ASPECTS,
    *,
    workshop_key: bytes,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Write her export package into a new randomly named folder inside ``out_dir``.

    Each shape uses her latest final video in that shape; a shape she never rendered
    is rendered here from the story's plan. Raises ExportRefused without a consent
    that allows it (organisation or public).
    """
    progress = progress or (lambda f: None)
    shapes = tuple(dict.fromkeys(shapes))
    if not shapes or any(s not in plans.ASPECTS for s in shapes):
        raise ExportRefused(N_("Choose the video shapes to export: 16:9, 9:16 or 1:1."))
    if stories.get_story(conn, story_id, workshop_key) is None:
        raise ExportRefused(N_("This story no longer exists."))
    _check_consent(conn, story_id, workshop_key)
    out_dir = Path(out_dir)
    folder = out_dir / secrets.token_hex(8)
    finished = finished_videos(conn, story_id)
    files: list[ExportedFile] = []
    rendered = []

    def keep(path: Path, role: str, shape: str | None = None) -> None:
        files.append(ExportedFile(path.name, role, _sha256(path), path.stat().st_size, shape))

    # The package is made in a hidden folder beside its final place and renamed when complete:
    # it appears whole or not at all, even on a USB stick.
    out_dir.mkdir(parents=True, exist_ok=True)
    staged = out_dir / f".{folder.name}.part"
    staged.mkdir()
    try:
        with tempfile.TemporaryDirectory(prefix="storyteller-export-") as tmp:
            work = Path(tmp)
            videos = []
            for n, shape in enumerate(shapes):
                if shape in finished:
                    source = work / f"finished-{n}.mp4"
                    vault.export_copy(finished[shape].vault_name, source)
                else:
                    source = _render_shape(conn, vault, workshop_key, story_id, shape, work, cancel)
                    rendered.append(shape)
                video = _clean_video(source, staged / _random_name(".mp4"), cancel)
                source.unlink()
                keep(video, "video", shape)
                videos.append(video)
                progress((n + 1) / (len(shapes) + 1))
            for suffix, codec in ((".srt", "srt"), (".vtt", "webvtt")):
                sidecar = _subtitles(videos[0], staged / _random_name(suffix), codec)
                if sidecar is not None:
                    keep(sidecar, "subtitles")
            keep(_poster(videos[0], staged / _random_name(".png"), work), "poster")
            _check_consent(conn, story_id, workshop_key)  # again: a withdrawal during the render stops the package here
            receipt = atomic_write_text(
                staged / _random_name(".json"),
                json.dumps(stories.consent_receipt(conn, story_id, workshop_key), indent=2, ensure_ascii=False) + "\n",
            )
            keep(receipt, "consent")
            manifest = {
                "files": [
                    {"name": f.name, "role": f.role, "sha256": f.sha256, "bytes": f.bytes} | ({"shape": f.shape} if f.shape else {})
                    for f in files
                ],
            }
            atomic_write_text(staged / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        os.replace(staged, folder)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    progress(1.0)
    return ExportResult(folder, folder / "manifest.json", tuple(files), tuple(rendered))
