"""The one atomic write: every file the project creates lands whole or not at all.

A temp file is written in the destination folder (so the final rename never
crosses a filesystem), flushed and fsynced, then moved over the target with
os.replace. A killed process or a full disk leaves the old file untouched and at
worst a stray ``.NAME.HEX.part.EXT`` file that the next cleanup removes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from storyteller.errors import UserError


class DiskFullError(OSError, UserError):
    """Raised when the disk filled up while writing; the old file is kept."""

    def __str__(self) -> str:  # the sentence, without OSError's "[Errno 28]"
        return self.strerror or ""


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside ``target``; on success it replaces ``target``.

    The caller (or a subprocess such as ffmpeg) writes the temp path. If the
    block raises, the temp file is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # The real suffix stays last: tools such as ffmpeg pick the format from it.
    tmp = target.parent / f".{target.stem}.{secrets.token_hex(6)}.part{target.suffix}"
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp.name}")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == 28:  # ENOSPC
            raise DiskFullError(28, "The disk is full. Nothing was lost; free some space and try again.") from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def is_partial(path: Path) -> bool:
    """True for a temp file of :func:`atomic_output` (a write that has not finished)."""
    return path.name.startswith(".") and ".part" in path.suffixes


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically and return the target path."""
    with atomic_output(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return Path(target)


def atomic_write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically."""
    return atomic_write_bytes(target, text.encode("utf-8"))
