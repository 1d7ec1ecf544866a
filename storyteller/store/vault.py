"""The media vault: the one seam for reading and writing participant media.

Raw recordings and photos are the most dangerous data in a workshop. Every
byte of them enters and leaves through this module, so that encryption at
rest (a later issue) lands in one place. Names are random and carry no
participant information. Writes are atomic (``storyteller.fsutil``): an upload
streams into a ``.part`` file that is renamed only when complete, so a killed
process or full disk never leaves half a recording under a real name.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from storyteller.errors import UserError
from storyteller.fsutil import atomic_output, is_partial

_NAME = re.compile(r"^[0-9a-f]{32}(\.[a-z0-9]{1,5})?$")
_SAFE_SUFFIX = re.compile(r"^\.[a-z0-9]{1,5}$")


class VaultError(UserError):
    """A vault operation was refused; the message is plain language."""


class TooLarge(VaultError):
    pass


class Vault:
    """Media files under ``root``, addressed by random names such as ``3f2a….webm``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # -- naming ---------------------------------------------------------
    @staticmethod
    def _new_name(suffix: str) -> str:
        suffix = suffix.lower()
        if suffix and not _SAFE_SUFFIX.match(suffix):
            raise VaultError(f"Unsupported file type {suffix!r}.")
        return secrets.token_hex(16) + suffix

    def path(self, name: str) -> Path:
        """The file path of a stored item, for pipeline code that reads it."""
        if not _NAME.match(name or ""):
            raise VaultError("Unknown media name.")
        p = self.root / name
        if not p.is_file():
            raise VaultError("This media file is missing from the vault.")
        return p

    def exists(self, name: str) -> bool:
        return bool(_NAME.match(name or "")) and (self.root / name).is_file()

    # -- writing --------------------------------------------------------
    def put_stream(self, stream: BinaryIO, suffix: str, max_bytes: int | None = None) -> str:
        """Copy ``stream`` into the vault in chunks; refuse beyond ``max_bytes``."""
        name = self._new_name(suffix)
        written = 0
        with atomic_output(self.root / name) as tmp:
            with open(tmp, "wb") as out:
                for chunk in iter(lambda: stream.read(1 << 20), b""):
                    written += len(chunk)
                    if max_bytes is not None and written > max_bytes:
                        raise TooLarge(f"The file is larger than {max_bytes // (1 << 20)} MB.")
                    out.write(chunk)
        return name

    def put_bytes(self, data: bytes, suffix: str) -> str:
        name = self._new_name(suffix)
        with atomic_output(self.root / name) as tmp:
            tmp.write_bytes(data)
        return name

    def put_file(self, source: str | Path, suffix: str | None = None) -> str:
        """Copy a file into the vault (the source is left untouched)."""
        source = Path(source)
        with open(source, "rb") as fh:
            return self.put_stream(fh, suffix if suffix is not None else source.suffix)

    def adopt(self, source: str | Path, suffix: str | None = None) -> str:
        """Move a finished file (on the same disk, e.g. a job's work folder) into the vault."""
        source = Path(source)
        name = self._new_name(suffix if suffix is not None else source.suffix)
        os.replace(source, self.root / name)
        return name

    @contextlib.contextmanager
    def new_file(self, suffix: str) -> Iterator[tuple[str, Path]]:
        """Reserve a name and yield ``(name, temp_path)`` for a tool such as ffmpeg to write.

        The item appears under ``name`` only if the block finishes without error.
        """
        name = self._new_name(suffix)
        with atomic_output(self.root / name) as tmp:
            yield name, tmp

    # -- recordings that grow chunk by chunk --------------------------------
    # A recording in the browser arrives every few seconds. Its chunks are appended
    # to ``recording/<name>.part`` (outside the sweep of stale atomic writes, so a
    # server restart mid-recording keeps it); ``finish_growing`` moves it in whole.
    def _growing(self, name: str) -> Path:
        if not _NAME.match(name or ""):
            raise VaultError("Unknown media name.")
        return self.root / "recording" / f"{name}.part"

    def start_growing(self, suffix: str) -> str:
        name = self._new_name(suffix)
        path = self._growing(name)
        path.parent.mkdir(exist_ok=True)
        path.touch(exist_ok=False)
        return name

    def growing_size(self, name: str) -> int:
        """Bytes received so far; VaultError when there is no such recording."""
        try:
            return self._growing(name).stat().st_size
        except FileNotFoundError:
            raise VaultError("This recording is not in progress.") from None

    def growing_mtime(self, name: str) -> float:
        """When the last chunk arrived (seconds since the epoch)."""
        try:
            return self._growing(name).stat().st_mtime
        except FileNotFoundError:
            raise VaultError("This recording is not in progress.") from None

    def append_growing(self, name: str, data: bytes, offset: int, max_bytes: int | None = None) -> int:
        """Append ``data`` written at ``offset``; return the new size.

        A chunk sent twice (a retry after a lost answer) is ignored; a chunk after a
        gap is refused, and the caller resends from ``growing_size``.
        """
        size = self.growing_size(name)
        if offset + len(data) <= size:
            return size
        if offset != size:
            raise VaultError("A piece of the recording is missing; it is sent again.")
        if max_bytes is not None and size + len(data) > max_bytes:
            raise TooLarge(f"The recording is larger than {max_bytes // (1 << 20)} MB.")
        with open(self._growing(name), "ab") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        return size + len(data)

    def finish_growing(self, name: str) -> str:
        """The finished recording, under its name like any other item."""
        path = self._growing(name)
        if not path.is_file() or path.stat().st_size == 0:
            raise VaultError("Nothing was recorded.")
        os.replace(path, self.root / name)
        return name

    def discard_growing(self, name: str) -> None:
        with contextlib.suppress(VaultError, FileNotFoundError):
            self._growing(name).unlink()

    # -- reading and removing ---------------------------------------------
    def open(self, name: str) -> BinaryIO:
        return open(self.path(name), "rb")

    def delete(self, name: str) -> None:
        with contextlib.suppress(VaultError, FileNotFoundError):
            self.path(name).unlink()

    def sweep_partials(self, idle_seconds: float = 0.0) -> int:
        """Remove ``.part`` files left by a killed process; returns how many.

        A write in progress touches its file continuously, so a part file idle
        for ``idle_seconds`` belongs to a process that died.
        """
        import time

        count = 0
        cutoff = time.time() - idle_seconds
        for p in self.root.glob(".*"):
            if not is_partial(p):
                continue
            try:
                if p.stat().st_mtime <= cutoff:
                    p.unlink()
                    count += 1
            except FileNotFoundError:
                pass
        return count

    def export_copy(self, name: str, target: str | Path) -> Path:
        """Copy a stored item out of the vault (for exports already stripped of metadata)."""
        with atomic_output(target) as tmp, self.open(name) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return Path(target)


def vault_for(data_dir: str | Path) -> Vault:
    """The vault of a data folder."""
    return Vault(Path(data_dir) / "vault")
