"""Handing the workshop key to the worker: a private pipe, never argv, env, disk, queue or log.

``storyteller serve`` starts the worker with ``--key-from-stdin`` and keeps the
write end of its stdin. When the facilitator signs in at the desk, the app
(which then holds the key in memory) writes it down the pipe as one line of hex.
The worker reads lines until the pipe closes; when its parent is gone, the
worker stops, so it never outlives the app that could unlock it.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable
from typing import BinaryIO

from storyteller.store.crypto import KEY_BYTES

log = logging.getLogger(__name__)


class WorkshopKey:
    """The unlocked workshop key in this process's memory (None until it arrives)."""

    def __init__(self, key: bytes | None = None):
        self._key = key
        self._arrived = threading.Event()
        if key is not None:
            self._arrived.set()

    def get(self) -> bytes | None:
        return self._key

    def set(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("a workshop key is 32 bytes")
        self._key = key
        self._arrived.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._arrived.wait(timeout)


def send_key(pipe: BinaryIO, key: bytes) -> None:
    pipe.write(key.hex().encode("ascii") + b"\n")
    pipe.flush()


def read_keys(pipe: BinaryIO, holder: WorkshopKey, on_key: Callable[[], None], on_close: Callable[[], None]) -> None:
    """Read keys from ``pipe`` into ``holder`` until it closes (run in a thread)."""
    for line in iter(pipe.readline, b""):
        try:
            holder.set(bytes.fromhex(line.strip().decode("ascii")))
        except ValueError:
            log.warning("ignored a line on the key pipe that is not a key")
            continue
        log.info("the workshop is unlocked")
        on_key()
    on_close()


class WorkerKeyPipe:
    """The app's end of the pipe to one worker process."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self._lock = threading.Lock()

    def send(self, key: bytes) -> None:
        with self._lock:
            if self.process.poll() is None and self.process.stdin is not None:
                try:
                    send_key(self.process.stdin, key)
                except (BrokenPipeError, OSError):
                    log.warning("the worker did not take the workshop key (it has stopped)")
