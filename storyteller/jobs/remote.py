"""Render machines: her story rendered on another computer, with only Redis between them.

A render machine runs ``storyteller worker --render-machine --data <its own empty folder>``
with the same ``STORYTELLER_REDIS_URL`` and ``STORYTELLER_RENDER_SECRET`` as the laptop.
It never opens the laptop's database or vault, and needs no network share: the laptop's
own worker builds the story folder as for a local render (masked pictures, the protected
voice, music, story.json), seals it (AES-GCM, with a key derived from the shared secret)
and puts it in Redis under a random key. The render machine opens it, renders in a private
plaintext folder (0700, in memory when it fits, TMPDIR pointed there), reports progress and a heartbeat, puts the sealed video back and deletes its
plain copy. The laptop keeps the job row: it shows the progress, passes Stop on, sends the work
again when the render machine falls silent, and keeps the video in her vault.

What crosses the network: the sealed story folder and the sealed video (unreadable and
unforgeable without the secret), and in clear a random key, the progress fraction, a
heartbeat counter, and whether Stop was pressed.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from storyteller import config
from storyteller.errors import N_, CancelFn, Cancelled, ProgressFn, UserError, plain_message
from storyteller.fsutil import atomic_write_bytes
from storyteller.store.vault import plaintext_folders, plaintext_workspace, wipe_folder

log = logging.getLogger(__name__)

QUEUE_NAME = "storyteller-render"
PREFIX = "storyteller:render:"
KEEP_SECONDS = 6 * 3600  # nothing sent is kept in Redis longer than a workshop day
BEAT_SECONDS = 1.0
SILENT_AFTER = 10.0  # a render machine that has not beaten for this long is gone: the work is sent again
MAX_SENDS = 3


class RenderMachineError(UserError):
    """Rendering on a render machine failed; the message is a plain sentence."""


def render_secret() -> bytes | None:
    """$STORYTELLER_RENDER_SECRET: shared by the laptop and its render machines; without it nothing is sent."""
    value = os.environ.get("STORYTELLER_RENDER_SECRET", "")
    return value.encode() if value else None


def enabled() -> bool:
    """Renders go to render machines when both a Redis queue and a render secret are configured."""
    return bool(config.redis_url() and render_secret())


# ----------------------------------------------------------------- sealing
def _cipher(secret: bytes):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return AESGCM(HKDF(hashes.SHA256(), 32, salt=None, info=b"storyteller render machines").derive(secret))


def seal(secret: bytes, data: bytes, key: str) -> bytes:
    """``data`` encrypted and bound to ``key`` (a sealed input cannot be replayed as another job's)."""
    nonce = secrets.token_bytes(12)
    return nonce + _cipher(secret).encrypt(nonce, data, key.encode())


def unseal(secret: bytes, blob: bytes, key: str) -> bytes:
    from cryptography.exceptions import InvalidTag

    try:
        return _cipher(secret).decrypt(blob[:12], blob[12:], key.encode())
    except (InvalidTag, ValueError):
        raise RenderMachineError(N_("The render machine and this laptop do not share the same render secret.")) from None


def _pack(folder: Path, header: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("render.json")
        body = json.dumps(header).encode()
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
        for path in sorted(folder.iterdir()):
            if path.is_file():
                tar.add(path, arcname=path.name)
    return buffer.getvalue()


def _unpack(data: bytes, folder: Path) -> dict:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(folder, filter="data")  # no links, no paths outside the folder
    return json.loads((folder / "render.json").read_text())


def _redis(url: str | None = None):
    import redis

    return redis.Redis.from_url(url or config.redis_url())


def make_render_huey(redis_url: str | None = None):
    """The render machines' own queue: they take renders only, never the laptop's other jobs."""
    from huey import RedisHuey

    huey = RedisHuey(QUEUE_NAME, url=redis_url or config.redis_url())

    @huey.task(name="storyteller.render_here")
    def render_here_task(key: str, data_dir: str | None = None) -> None:
        render_here(key, Path(data_dir or huey.render_data_dir))  # type: ignore[attr-defined]

    huey.render_here_task = render_here_task  # type: ignore[attr-defined]
    return huey


# ----------------------------------------------------------------- the laptop's side
@dataclass(frozen=True)
class RenderedElsewhere:
    path: Path
    duration: float
    width: int
    height: int
    seconds: float
    sends: int


def render_elsewhere(
    folder: Path, out: Path, *, quality: str, progress: ProgressFn | None = None, cancel: CancelFn | None = None
) -> RenderedElsewhere:
    """Render the story in ``folder`` on a render machine and write the video to ``out``."""
    secret = render_secret()
    if secret is None:
        raise RenderMachineError(N_("No render secret is set, so nothing can be sent to a render machine."))
    progress, cancel = progress or (lambda f: None), cancel or (lambda: False)
    r, huey = _redis(), make_render_huey()
    key = PREFIX + secrets.token_hex(16)
    started = time.monotonic()
    r.set(key + ":in", seal(secret, _pack(folder, {"quality": quality}), key), ex=KEEP_SECONDS)
    huey.render_here_task(key)  # type: ignore[attr-defined]
    sends, last_beat, heard_at = 1, None, time.monotonic()
    try:
        while True:
            if cancel():
                r.set(key + ":cancel", b"1", ex=KEEP_SECONDS)
                raise Cancelled("Stopped on request.")
            done, failed, beat, fraction = r.mget(key + ":out", key + ":error", key + ":beat", key + ":progress")
            if failed is not None:
                raise RenderMachineError(unseal(secret, failed, key).decode())
            if done is not None:
                body = unseal(secret, done, key)
                size = int.from_bytes(body[:4], "big")
                facts = json.loads(body[4 : 4 + size])
                atomic_write_bytes(out, body[4 + size :])
                return RenderedElsewhere(out, facts["duration"], facts["width"], facts["height"], time.monotonic() - started, sends)
            if fraction is not None:
                progress(float(fraction))
            if beat != last_beat:
                last_beat, heard_at = beat, time.monotonic()
            elif last_beat is not None and time.monotonic() - heard_at > SILENT_AFTER:
                if sends >= MAX_SENDS:
                    raise RenderMachineError(N_("The render machines stopped answering. Your story is safe; try again."))
                log.warning("render %s: the render machine fell silent; sent again", key[len(PREFIX) :])
                sends, last_beat, heard_at = sends + 1, None, time.monotonic()
                r.delete(key + ":beat")
                huey.render_here_task(key)  # type: ignore[attr-defined]
            time.sleep(0.3)
    finally:
        r.delete(key + ":in", key + ":out", key + ":error", key + ":beat", key + ":progress")
        r.close()


# ----------------------------------------------------------------- the render machine's side
def render_here(key: str, data_dir: Path) -> str:
    """Render one sealed story from Redis in a plaintext folder of ``data_dir``; return what became of it."""
    from storyteller.pipeline.render.encode import render_story

    secret = render_secret()
    r = _redis()
    blob = r.get(key + ":in")
    if blob is None or r.exists(key + ":out"):
        return "gone"  # finished elsewhere, stopped, or expired
    if secret is None:
        log.error("render %s refused: no STORYTELLER_RENDER_SECRET on this machine", key)
        return "refused"
    try:
        payload = unseal(secret, blob, key)
    except RenderMachineError:
        log.error("render %s refused: it was sealed with another secret", key)
        return "refused"
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(BEAT_SECONDS):
            r.incr(key + ":beat")
            r.expire(key + ":beat", KEEP_SECONDS)

    beating = threading.Thread(target=beat, daemon=True)
    r.incr(key + ":beat")
    beating.start()
    try:
        with plaintext_workspace(data_dir, "render", 3 * len(payload) + (200 << 20)) as work:  # her story and its video, in plain form
            header = _unpack(payload, work / "story")
            del payload, blob
            result = render_story(
                work / "story",
                work / "video.mp4",
                quality=header["quality"],
                progress=lambda f: r.set(key + ":progress", f"{f:.4f}", ex=KEEP_SECONDS),
                cancel=lambda: bool(r.exists(key + ":cancel")),
            )
            video = result.path.read_bytes()
        facts = json.dumps({"duration": result.duration, "width": result.width, "height": result.height}).encode()
        stop.set()  # the last beat before the video: the laptop deletes every key of the job once it has it
        beating.join(timeout=5)
        r.set(key + ":out", seal(secret, len(facts).to_bytes(4, "big") + facts + video, key), ex=KEEP_SECONDS)
        log.info("render %s done", key[len(PREFIX) :])
        return "done"
    except Cancelled:
        return "cancelled"
    except Exception as exc:
        if isinstance(exc, (UserError, OSError)):
            log.warning("render %s failed: %s", key[len(PREFIX) :], exc)
        else:
            log.exception("render %s crashed", key[len(PREFIX) :])
        stop.set()
        beating.join(timeout=5)
        r.set(key + ":error", seal(secret, plain_message(exc).encode(), key), ex=KEEP_SECONDS)
        return "failed"
    finally:
        stop.set()
        beating.join(timeout=5)
        r.close()


def run_render_machine(data_dir: str | Path) -> None:
    """Take renders from the shared Redis queue, one at a time, until SIGINT/SIGTERM.

    One at a time because a render points the process's TMPDIR at its own plaintext folder.
    """
    from huey.consumer import Consumer

    data_dir = Path(data_dir).resolve()
    _wipe_plaintext(data_dir)  # copies left by a killed render
    huey = make_render_huey()
    huey.render_data_dir = str(data_dir)  # type: ignore[attr-defined]
    try:
        Consumer(huey, workers=1, worker_type="thread", periodic=False, check_worker_health=True, max_delay=0.5).run()
    finally:
        _wipe_plaintext(data_dir)  # a render stopped midway: the laptop sends it again


def _wipe_plaintext(data_dir: Path) -> None:
    """Every plaintext folder of this render machine: its data folder serves it alone."""
    for folder in list(plaintext_folders(data_dir)):
        wipe_folder(folder)
