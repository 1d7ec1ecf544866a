"""The media vault: the one seam for reading and writing participant media.

Raw recordings and photos are the most dangerous data in a workshop. Every
byte of them enters and leaves through this module, and on disk every byte is
ciphertext (``store/crypto.py``), sealed with the key of the story it belongs
to: ``vault_for(data_dir).with_key(story_key)``. Names are random and carry no
participant information. Writes are atomic (``storyteller.fsutil``).

ffmpeg, Whisper and Pillow need plain files. They get them only inside a
*plaintext folder*: ``/dev/shm/storyteller-…`` (memory, never a disk) when it
has room, else ``<data>/work/plain-…``; mode 0700, named after the data folder
so that one workshop never sweeps another's, and wiped when the work ends and
again at the next start (``sweep_plaintext``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from storyteller.errors import N_, UserError
from storyteller.fsutil import atomic_output, is_partial
from storyteller.store import crypto
from storyteller.store.crypto import VaultError

__all__ = ["TooLarge", "Vault", "VaultError", "WorkshopLocked", "sweep_plaintext", "vault_for"]

_NAME = re.compile(r"^[0-9a-f]{32}(\.[a-z0-9]{1,5})?$")
_SAFE_SUFFIX = re.compile(r"^\.[a-z0-9]{1,5}$")
SHM = Path("/dev/shm")  # nosec B108 - only 0700 folders with random names are made here
SHM_MARGIN = 256 << 20  # leave memory for the work itself
# A folder of a request or a CLI export (not of a job) where nothing was written for this long belongs to a process that died.
STALE_REQUEST_FOLDER_SECONDS = 600.0


class TooLarge(VaultError):
    pass


class WorkshopLocked(UserError):
    """The workshop key is not in memory (after a restart, before the facilitator signs in)."""


LOCKED = N_("Ask your facilitator to unlock the workshop.")


class Vault:
    """Media files under ``root``, addressed by random names such as ``3f2a….webm``.

    Without a key a vault can only tell what exists and remove files; reading
    and writing need ``with_key`` (the story's key, or the workshop's own files key).
    """

    def __init__(self, root: str | Path, key: bytes | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._key = key

    def with_key(self, key: bytes) -> Vault:
        return Vault(self.root, key)

    @property
    def data_dir(self) -> Path:
        return self.root.parent

    def _story_key(self) -> bytes:
        if self._key is None:
            raise WorkshopLocked(LOCKED)
        return self._key

    # -- naming ---------------------------------------------------------
    @staticmethod
    def _new_name(suffix: str) -> str:
        suffix = suffix.lower()
        if suffix and not _SAFE_SUFFIX.match(suffix):
            raise VaultError(f"Unsupported file type {suffix!r}.")
        return secrets.token_hex(16) + suffix

    def _file(self, name: str) -> Path:
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
        """Seal ``stream`` into the vault record by record; refuse beyond ``max_bytes``."""
        key = self._story_key()
        name = self._new_name(suffix)

        def too_large() -> TooLarge:
            return TooLarge(f"The file is larger than {max_bytes // (1 << 20)} MB.")

        with atomic_output(self.root / name) as tmp, open(tmp, "wb") as out:
            crypto.encrypt_stream(stream, out, key, name, max_bytes, too_large)
        return name

    def put_bytes(self, data: bytes, suffix: str) -> str:
        import io

        return self.put_stream(io.BytesIO(data), suffix)

    def put_file(self, source: str | Path, suffix: str | None = None) -> str:
        """Seal a copy of a file into the vault (the source is left untouched)."""
        source = Path(source)
        with open(source, "rb") as fh:
            return self.put_stream(fh, suffix if suffix is not None else source.suffix)

    def adopt(self, source: str | Path, suffix: str | None = None) -> str:
        """Seal a finished plain file (in a plaintext folder) into the vault, and remove the plain one."""
        source = Path(source)
        name = self.put_file(source, suffix)
        source.unlink()
        return name

    @contextlib.contextmanager
    def new_file(self, suffix: str) -> Iterator[tuple[str, Path]]:
        """Reserve a name and yield ``(name, plain_path)`` for a tool such as Pillow to write.

        The plain path lies in a plaintext folder; the item is sealed into the
        vault under ``name`` only if the block finishes without error.
        """
        self._story_key()
        with self.scratch("new") as folder:
            plain = folder / f"new{suffix.lower()}"
            name_holder = self._new_name(suffix)
            yield name_holder, plain
            with open(plain, "rb") as fh:
                key = self._story_key()
                with atomic_output(self.root / name_holder) as tmp, open(tmp, "wb") as out:
                    crypto.encrypt_stream(fh, out, key, name_holder)

    # -- recordings that grow chunk by chunk --------------------------------
    # A recording in the browser arrives every few seconds. Each piece is sealed as
    # its own records and appended to ``recording/<name>.part`` (outside the sweep of
    # stale atomic writes, so a server restart mid-recording keeps it);
    # ``finish_growing`` seals the last record and moves it in whole.
    def _growing(self, name: str) -> Path:
        if not _NAME.match(name or ""):
            raise VaultError("Unknown media name.")
        return self.root / "recording" / f"{name}.part"

    def start_growing(self, suffix: str) -> str:
        self._story_key()
        name = self._new_name(suffix)
        path = self._growing(name)
        path.parent.mkdir(exist_ok=True)
        with open(path, "xb") as out:
            crypto.start_growing(out)
        return name

    def growing_size(self, name: str) -> int:
        """Plain bytes received so far; VaultError when there is no such recording."""
        try:
            with open(self._growing(name), "rb") as f:
                return crypto.growing_plain_size(f)
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
        key = self._story_key()
        size = self.growing_size(name)
        if offset + len(data) <= size:
            return size
        if offset != size:
            raise VaultError("A piece of the recording is missing; it is sent again.")
        if max_bytes is not None and size + len(data) > max_bytes:
            raise TooLarge(f"The recording is larger than {max_bytes // (1 << 20)} MB.")
        path = self._growing(name)
        end = path.stat().st_size
        try:
            with open(path, "r+b") as f:
                return crypto.append_growing(f, key, name, data)
        except OSError:
            # A full or failing disk may have kept part of the chunk: cut it off, so the
            # recording is what it was and the browser sends the chunk again from there.
            with contextlib.suppress(OSError):
                os.truncate(path, end)
            raise

    def finish_growing(self, name: str) -> str:
        """Seal the recording (what arrived of it) and file it under its name like any other item."""
        key = self._story_key()
        path = self._growing(name)
        if not path.is_file() or self.growing_size(name) == 0:
            raise VaultError("Nothing was recorded.")
        with open(path, "r+b") as f:
            crypto.append_growing(f, key, name, b"", last=True)
        os.replace(path, self.root / name)
        return name

    def discard_growing(self, name: str) -> None:
        with contextlib.suppress(VaultError, FileNotFoundError):
            self._growing(name).unlink()

    # -- reading and removing ---------------------------------------------
    def open(self, name: str) -> crypto.StreamReader:
        """The plain bytes of an item as a seekable file (decrypted record by record)."""
        key = self._story_key()
        return crypto.StreamReader(open(self._file(name), "rb"), key, name)

    def size(self, name: str) -> int:
        """The plain size of an item."""
        with self.open(name) as reader:
            return reader.size

    def decrypt_to(self, name: str, target: Path) -> Path:
        """Write an item's plain bytes to ``target``, which must lie in a plaintext folder."""
        with self.open(name) as reader, open(target, "wb") as out:
            for plain in reader.iter_plain():
                out.write(plain)
        return target

    @contextlib.contextmanager
    def plain(self, name: str) -> Iterator[Path]:
        """An item as a plain file for a tool that needs a path, in a plaintext folder wiped at exit."""
        with self.scratch("read", self.size(name)) as folder:
            yield self.decrypt_to(name, folder / f"plain{Path(name).suffix}")

    @contextlib.contextmanager
    def scratch(self, purpose: str, needed_bytes: int = 0) -> Iterator[Path]:
        """A fresh plaintext folder for this data folder, wiped when the block ends."""
        folder = make_plaintext_folder(self.data_dir, purpose, needed_bytes)
        try:
            yield folder
        finally:
            wipe_folder(folder)

    def delete(self, name: str) -> None:
        with contextlib.suppress(VaultError, FileNotFoundError):
            self._file(name).unlink()

    def sweep_partials(self, idle_seconds: float = 0.0) -> int:
        """Remove ``.part`` files left by a killed process; returns how many.

        A write in progress touches its file continuously, so a part file idle
        for ``idle_seconds`` belongs to a process that died.
        """
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
        """Copy an item's plain bytes out of the vault (for exports already stripped of metadata)."""
        with atomic_output(target) as tmp:
            self.decrypt_to(name, tmp)
        return Path(target)


def vault_for(data_dir: str | Path) -> Vault:
    """The vault of a data folder (without a key: ``with_key`` to read or write)."""
    return Vault(Path(data_dir) / "vault")


# ----------------------------------------------------------------- plaintext folders
def _tag(data_dir: Path) -> str:
    return hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:12]


def _shm_has_room(needed_bytes: int) -> bool:
    try:
        return SHM.is_dir() and os.access(SHM, os.W_OK) and shutil.disk_usage(SHM).free > needed_bytes + SHM_MARGIN
    except OSError:
        return False


def make_plaintext_folder(data_dir: str | Path, purpose: str, needed_bytes: int = 0) -> Path:
    """A new private folder for plain media: in memory when it fits, else in the data folder.

    ``purpose`` is "job<ID>" for a job (kept by the sweep while the job runs) or a
    word for other work (a request, a CLI export).
    """
    data_dir = Path(data_dir)
    stem = f"{_tag(data_dir)}-{purpose}-{secrets.token_hex(8)}"
    if _shm_has_room(needed_bytes):
        folder = SHM / f"storyteller-{stem}"
    else:
        (data_dir / "work").mkdir(parents=True, exist_ok=True)
        folder = data_dir / "work" / f"plain-{stem}"
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)  # whatever the umask
    return folder


def spill_folder(data_dir: str | Path, needed_bytes: int = 0) -> Path:
    """Where an upload too large for memory spills as an unnamed file: RAM when it fits, else the data folder.

    Never the shared /tmp on a disk, where a deleted file's blocks would keep her bytes.
    """
    if _shm_has_room(needed_bytes):
        return SHM
    work = Path(data_dir) / "work"
    work.mkdir(parents=True, exist_ok=True)
    return work


@contextlib.contextmanager
def temp_files_in(folder: Path):
    """Point TMPDIR (ffmpeg, libraries) and Python's tempfile at a plaintext folder.

    The setting is process-wide: a process does one piece of such work at a time (a
    worker's one thread, a render machine's one render, one CLI command).
    """
    saved_env, saved_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = str(folder)
    try:
        yield
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env


@contextlib.contextmanager
def plaintext_workspace(data_dir: str | Path, purpose: str, needed_bytes: int = 0) -> Iterator[Path]:
    """A plaintext folder for one piece of work that also takes its temporary files; wiped when it ends, whatever happens."""
    folder = make_plaintext_folder(data_dir, purpose, needed_bytes)
    try:
        with temp_files_in(folder):
            yield folder
    finally:
        wipe_folder(folder)


def plaintext_folders(data_dir: Path) -> Iterator[Path]:
    tag = _tag(data_dir)
    with contextlib.suppress(OSError):
        yield from SHM.glob(f"storyteller-{tag}-*")
    with contextlib.suppress(OSError):
        yield from (Path(data_dir) / "work").glob(f"plain-{tag}-*")


def job_plaintext_folders(data_dir: str | Path, job_id: int) -> list[Path]:
    """The plaintext folders of job ``job_id`` (``make_plaintext_folder``'s "job<ID>" purpose)."""
    return [folder for folder in plaintext_folders(Path(data_dir)) if f"-job{job_id}-" in folder.name]


def wipe_folder(folder: Path) -> None:
    """Remove a plaintext folder. On a disk, files are overwritten with zeros first.

    An SSD may still keep old blocks (which is why the vault encrypts first); in
    /dev/shm the pages go back to memory.
    """
    if not str(folder).startswith(str(SHM)):
        for path in folder.rglob("*"):
            with contextlib.suppress(OSError):
                if path.is_file() and not path.is_symlink():
                    size = path.stat().st_size
                    with open(path, "r+b") as fh:
                        for _ in range(0, size, 1 << 20):
                            fh.write(bytes(min(1 << 20, size - fh.tell())))
                        fh.flush()
                        os.fsync(fh.fileno())
    shutil.rmtree(folder, ignore_errors=True)


def sweep_plaintext(data_dir: str | Path, running_jobs: set[int]) -> int:
    """Wipe this data folder's plaintext folders whose work has ended; returns how many.

    A job's folder goes when the job is not running; any other folder when nothing was
    written in it for a while (a request's work lasts seconds; a CLI export renders deep
    inside its folder for minutes).
    """
    count = 0
    for folder in list(plaintext_folders(Path(data_dir))):
        purpose = folder.name.split("-")[-2]
        if purpose.startswith("job") and purpose[3:].isdigit():
            if int(purpose[3:]) in running_jobs:
                continue
        else:
            try:
                if time.time() - _last_written(folder) < STALE_REQUEST_FOLDER_SECONDS:
                    continue
            except OSError:
                continue
        wipe_folder(folder)
        count += 1
    return count


def _last_written(folder: Path) -> float:
    """When anything in the folder was last written: a long export renders deep inside it."""
    newest = folder.stat().st_mtime
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):  # a file the work removes meanwhile
            newest = max(newest, path.stat().st_mtime)
    return newest
