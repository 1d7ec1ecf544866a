"""Encryption at rest: story keys wrapped by the workshop key, and files sealed in chunks.

Each story has its own random 256-bit key, kept in the database only wrapped
(AES-256-GCM) by the workshop key that the facilitator's passphrase gives
(``store/passphrase.py``). Destroying the wrapped key destroys the story
(crypto-shredding), wherever its files have gone.

A file is a header and a run of records; each record is a 4-byte length and
one AES-256-GCM ciphertext of at most ``CHUNK`` plain bytes. This is the
STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): the nonce of
record *i* is the file's random 7-byte prefix, *i* as 4 bytes, and a byte that
is 1 only on the last record; every record authenticates the header and the
file's vault name. So a flipped byte, a truncated file, a record moved or
taken from another file, or a file renamed to another's name fails to open.
Each file also gets its own key (HKDF of the story key with the file's random
id), so nonces can never repeat between files.

A recording that grows while she speaks appends a record per arriving piece
(flag 0) and is sealed with an empty last record when she stops; a server
killed in between leaves whole records, and the pieces that arrived are kept.

Her words in the database (title, script, plan, consent rows) are short sealed
records (:func:`seal_record`): one AES-256-GCM ciphertext of a JSON document,
bound to its row by the owner string, padded so its size tells little.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storyteller.errors import N_, UserError

KEY_BYTES = 32
CHUNK = 1 << 20  # plain bytes per record: bounded memory whatever the file's size
TAG_BYTES = 16
MAGIC = b"STVAULT\x00"
VERSION = 1
_HEADER = struct.Struct(">8sBI16s7s")  # magic, version, chunk size, file id, nonce prefix
HEADER_BYTES = _HEADER.size
_LENGTH = struct.Struct(">I")
_WRAP_CONTEXT = b"storyteller story key v1:"
_FILE_KEY_INFO = b"storyteller vault file v1"

DAMAGED = N_("This file in the vault is damaged or incomplete, so it cannot be opened.")


class VaultError(UserError):
    """A vault operation was refused; the message is plain language."""


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def derive_key(key: bytes, purpose: bytes) -> bytes:
    """A separate key for one purpose, from a key that must not be used for two."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose).derive(key)


# ----------------------------------------------------------------- key wrapping
def wrap_key(workshop_key: bytes, story_key: bytes, owner: str) -> bytes:
    """``story_key`` sealed by the workshop key; ``owner`` (e.g. "story:12") binds it to its row."""
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(workshop_key).encrypt(nonce, story_key, _WRAP_CONTEXT + owner.encode())


def unwrap_key(workshop_key: bytes, wrapped: bytes, owner: str) -> bytes:
    try:
        key = AESGCM(workshop_key).decrypt(wrapped[:12], wrapped[12:], _WRAP_CONTEXT + owner.encode())
    except (InvalidTag, ValueError):
        raise VaultError(N_("The workshop key does not open this story.")) from None
    if len(key) != KEY_BYTES:
        raise VaultError(N_("The workshop key does not open this story."))
    return key


# ----------------------------------------------------------------- short records
_RECORD_VERSION = b"\x01"
_RECORD_CONTEXT = b"storyteller record v1:"
_RECORD_PAD = 256  # plain sizes are rounded up to this: a title's length is not on show
RECORD_DAMAGED = N_("Saved words of this story are damaged or belong elsewhere, so they cannot be opened.")


def seal_record(key: bytes, owner: str, obj) -> bytes:
    """``obj`` (JSON-able) sealed with ``key``; ``owner`` (e.g. "story:12:words") binds it to its row."""
    plain = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    plain += b" " * (-len(plain) % _RECORD_PAD)  # JSON ignores trailing spaces
    nonce = secrets.token_bytes(12)
    return _RECORD_VERSION + nonce + AESGCM(key).encrypt(nonce, plain, _RECORD_CONTEXT + owner.encode())


def open_record(key: bytes, owner: str, blob: bytes):
    """What :func:`seal_record` sealed; VaultError when the blob was altered, moved or sealed with another key."""
    blob = bytes(blob)
    if blob[:1] != _RECORD_VERSION or len(blob) < 1 + 12 + TAG_BYTES:
        raise VaultError(RECORD_DAMAGED)
    try:
        plain = AESGCM(key).decrypt(blob[1:13], blob[13:], _RECORD_CONTEXT + owner.encode())
    except InvalidTag:
        raise VaultError(RECORD_DAMAGED) from None
    return json.loads(plain)


# ----------------------------------------------------------------- the file format
@dataclass(frozen=True)
class Header:
    chunk_size: int
    file_id: bytes
    nonce_prefix: bytes

    @classmethod
    def new(cls, chunk_size: int = CHUNK) -> Header:
        return cls(chunk_size, secrets.token_bytes(16), secrets.token_bytes(7))

    def pack(self) -> bytes:
        return _HEADER.pack(MAGIC, VERSION, self.chunk_size, self.file_id, self.nonce_prefix)

    @classmethod
    def read(cls, f: BinaryIO) -> Header:
        raw = f.read(HEADER_BYTES)
        if len(raw) != HEADER_BYTES:
            raise VaultError(DAMAGED)
        magic, version, chunk_size, file_id, prefix = _HEADER.unpack(raw)
        if magic != MAGIC or version != VERSION or not 0 < chunk_size <= 16 * CHUNK:
            raise VaultError(DAMAGED)
        return cls(chunk_size, file_id, prefix)


class _Sealer:
    """The AEAD of one file: its own key, its nonces, its associated data."""

    def __init__(self, story_key: bytes, header: Header, name: str):
        if len(story_key) != KEY_BYTES:
            raise ValueError("a story key is 32 bytes")
        file_key = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=header.file_id, info=_FILE_KEY_INFO).derive(story_key)
        self.aead = AESGCM(file_key)
        self.header = header
        self.aad = header.pack() + name.encode()

    def _nonce(self, index: int, last: bool) -> bytes:
        if index >= 1 << 32:
            raise VaultError(N_("This file is too large for the vault."))
        return self.header.nonce_prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")

    def seal(self, index: int, plain: bytes, last: bool) -> bytes:
        sealed = self.aead.encrypt(self._nonce(index, last), plain, self.aad)
        return _LENGTH.pack(len(sealed)) + sealed

    def open(self, index: int, sealed: bytes, last: bool) -> bytes:
        try:
            return self.aead.decrypt(self._nonce(index, last), sealed, self.aad)
        except InvalidTag:
            raise VaultError(DAMAGED) from None


class StreamWriter:
    """Encrypts what is written into ``out`` in records of ``chunk_size``; ``close`` seals the last one."""

    def __init__(self, out: BinaryIO, story_key: bytes, name: str, chunk_size: int = CHUNK):
        self.out = out
        header = Header.new(chunk_size)
        self.sealer = _Sealer(story_key, header, name)
        self.buffer = bytearray()
        self.index = 0
        self.size = 0
        self.closed = False
        out.write(header.pack())

    def write(self, data: bytes) -> int:
        size = self.sealer.header.chunk_size
        rest = memoryview(data)
        while rest:
            # A full chunk goes out only when more data follows: the last record must carry the flag,
            # even when the size is a multiple of a chunk.
            if len(self.buffer) == size:
                self.out.write(self.sealer.seal(self.index, bytes(self.buffer), last=False))
                self.buffer = bytearray()
                self.index += 1
            take = min(size - len(self.buffer), len(rest))
            self.buffer += rest[:take]
            rest = rest[take:]
        self.size += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.out.write(self.sealer.seal(self.index, bytes(self.buffer), last=True))
            self.buffer.clear()
            self.closed = True


def encrypt_stream(src: BinaryIO, out: BinaryIO, story_key: bytes, name: str, max_bytes: int | None = None, too_large=None) -> int:
    """Copy ``src`` into ``out`` sealed; return the plain size. ``too_large()`` is raised beyond ``max_bytes``."""
    writer = StreamWriter(out, story_key, name)
    for piece in iter(lambda: src.read(CHUNK), b""):
        if max_bytes is not None and writer.size + len(piece) > max_bytes:
            raise too_large() if too_large else VaultError(N_("The file is too large."))
        writer.write(piece)
    writer.close()
    return writer.size


@dataclass(frozen=True)
class _Record:
    offset: int  # where its length field starts in the file
    sealed_size: int

    @property
    def plain_size(self) -> int:
        return self.sealed_size - TAG_BYTES


def scan(f: BinaryIO) -> tuple[Header, list[_Record], int]:
    """The header, the whole records, and where the last whole record ends (a torn tail lies beyond)."""
    f.seek(0)
    header = Header.read(f)
    records: list[_Record] = []
    pos = HEADER_BYTES
    end = f.seek(0, io.SEEK_END)
    while pos + _LENGTH.size <= end:
        f.seek(pos)
        (sealed_size,) = _LENGTH.unpack(f.read(_LENGTH.size))
        if sealed_size < TAG_BYTES or sealed_size > header.chunk_size + TAG_BYTES or pos + _LENGTH.size + sealed_size > end:
            break
        records.append(_Record(pos, sealed_size))
        pos += _LENGTH.size + sealed_size
    return header, records, pos


class StreamReader(io.RawIOBase):
    """A sealed file read as its plain bytes: seekable, one record in memory at a time.

    Every record is authenticated as it is read, with its position and whether it
    is the last; a file cut short or grown longer fails here.
    """

    def __init__(self, f: BinaryIO, story_key: bytes, name: str):
        super().__init__()
        self.f = f
        try:
            header, self.records, end = scan(f)
            if not self.records or end != f.seek(0, io.SEEK_END):
                raise VaultError(DAMAGED)
            self.sealer = _Sealer(story_key, header, name)
        except BaseException:
            f.close()
            raise
        self.starts = []  # plain offset of each record
        total = 0
        for record in self.records:
            self.starts.append(total)
            total += record.plain_size
        self.size = total
        self.pos = 0
        self._cached: tuple[int, bytes] | None = None
        if self.size == 0 or len(self.records) == 1:
            self._record(len(self.records) - 1)  # check the seal now: an empty or one-record file has nothing else to read

    def _record(self, index: int) -> bytes:
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        record = self.records[index]
        self.f.seek(record.offset + _LENGTH.size)
        sealed = self.f.read(record.sealed_size)
        plain = self.sealer.open(index, sealed, last=index == len(self.records) - 1)
        self._cached = (index, plain)
        return plain

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer) -> int:
        if self.pos >= self.size:
            if self.pos == self.size and self.records:
                self._record(len(self.records) - 1)  # reading to the end always checks the last record's seal
            return 0
        index = _bisect(self.starts, self.pos)
        plain = self._record(index)
        at = self.pos - self.starts[index]
        n = min(len(buffer), len(plain) - at)
        buffer[:n] = plain[at : at + n]
        self.pos += n
        return n

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, self.size - self.pos)
            if size == 0:
                self.readinto(bytearray(0))
                return b""
        out = bytearray()
        while len(out) < size:
            piece = bytearray(min(size - len(out), CHUNK))
            n = self.readinto(piece)
            if not n:
                break
            out += piece[:n]
        if self.pos >= self.size:
            self.readinto(bytearray(0))
        return bytes(out)

    def iter_plain(self) -> Iterator[bytes]:
        """Every record's plain bytes in order, from the start."""
        for index in range(len(self.records)):
            yield self._record(index)

    def close(self) -> None:
        if not self.closed:
            self.f.close()
            self._cached = None
        super().close()


def _bisect(starts: list[int], pos: int) -> int:
    import bisect

    return bisect.bisect_right(starts, pos) - 1


# ----------------------------------------------------------------- growing files
def start_growing(out: BinaryIO, chunk_size: int = CHUNK) -> None:
    out.write(Header.new(chunk_size).pack())


def append_growing(f: BinaryIO, story_key: bytes, name: str, data: bytes, last: bool = False) -> int:
    """Append ``data`` as records to an unsealed file opened r+b; ``last`` seals it. Returns the plain size.

    A record torn by a crash is cut off first: what was whole stays.
    """
    header, records, end = scan(f)
    sealer = _Sealer(story_key, header, name)
    f.truncate(end)
    f.seek(end)
    index = len(records)
    size = sum(r.plain_size for r in records)
    pieces = [data[i : i + header.chunk_size] for i in range(0, len(data), header.chunk_size)] or [b""]
    for k, piece in enumerate(pieces):
        if piece or (last and k == len(pieces) - 1):
            f.write(sealer.seal(index, piece, last=last and k == len(pieces) - 1))
            index += 1
            size += len(piece)
    f.flush()
    os.fsync(f.fileno())
    return size


def growing_plain_size(f: BinaryIO) -> int:
    _header, records, _end = scan(f)
    return sum(r.plain_size for r in records)
