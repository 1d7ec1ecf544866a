"""The one way to run ffmpeg.

Every encode, decode and filter goes through :func:`run_ffmpeg` (or
:func:`open_ffmpeg` when frames are streamed through a pipe). It uses the binary
that ships inside the ``imageio-ffmpeg`` wheel, so a fresh laptop needs no
system ffmpeg. Arguments are lists, never a shell string. Each process runs in
its own process group so a timeout or a cancel kills ffmpeg and anything it
spawned, and a watchdog thread enforces the timeout even when ffmpeg hangs
without a word (a blocked pipe, a stuck device). Failures become
:class:`FFmpegError` with a sentence a facilitator can act on; ffmpeg's own last
lines are kept in ``.detail`` for developers.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import imageio_ffmpeg

from storyteller.errors import CancelFn, Cancelled, ProgressFn, UserError

MISSING = "The video tool (ffmpeg) could not be started. Install Storyteller again."

# What ffmpeg says -> what a person should read. Checked in order.
_PLAIN_ERRORS: tuple[tuple[str, str], ...] = (
    ("No space left on device", "The disk is full. Free some space and try again."),
    ("No such file or directory", "A media file could not be found."),
    ("Permission denied", "A media file could not be opened: permission denied."),
    ("Invalid data found when processing input", "The file is damaged or is not a picture, sound or video file."),
    ("moov atom not found", "The video file is incomplete or damaged."),
    ("does not contain any stream", "The file contains no sound or picture."),
    ("Output file does not contain any stream", "There was nothing to write."),
    ("matches no streams", "The file has no stream of the kind needed (for example no sound)."),
    ("Unknown encoder", "This ffmpeg build cannot write that format."),
    ("Error while decoding", "Part of the file is damaged and could not be read."),
)


class FFmpegError(UserError):
    """ffmpeg failed. ``str(err)`` is plain language; ``err.detail`` is ffmpeg's tail."""

    def __init__(self, message: str, detail: str = "", returncode: int | None = None):
        super().__init__(message)
        self.detail = detail
        self.returncode = returncode


@dataclass(frozen=True)
class FFmpegResult:
    returncode: int
    stderr: str
    seconds: float


@cache
def ffmpeg_binary() -> str:
    """Path of the bundled ffmpeg executable."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def configure_pydub() -> None:
    """Point pydub at the bundled ffmpeg so it never looks for a system one."""
    from pydub import AudioSegment

    AudioSegment.converter = ffmpeg_binary()
    AudioSegment.ffmpeg = ffmpeg_binary()


def plain_error(stderr: str, returncode: int | None) -> str:
    for needle, message in _PLAIN_ERRORS:
        if needle in stderr:
            return message
    return "The video tool could not process this file."


def _command(args: Sequence[str], stdin_used: bool) -> list[str]:
    try:
        binary = ffmpeg_binary()
    except RuntimeError as exc:  # imageio-ffmpeg found no binary at all
        raise FFmpegError(MISSING, str(exc)) from None
    cmd = [binary, "-hide_banner", "-loglevel", "error"]
    if not stdin_used:
        cmd.append("-nostdin")
    cmd += [str(a) for a in args]
    return cmd


@cache
def _die_with_parent() -> list[str]:
    """On Linux, a prefix that has ffmpeg SIGKILLed when the thread that started it dies.

    ffmpeg runs in a process group of its own, so a worker killed outright (power
    cut, out of memory) would otherwise leave it running, still holding copies of her
    media. util-linux's setpriv sets that and then execs ffmpeg in the same process;
    a preexec_fn would do it in Python between fork and exec, where a lock held by
    another thread of the worker can hang the child forever (seen in the suite).
    """
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


class _Process:
    """An ffmpeg child in its own process group, with stderr drained by a thread.

    Draining stderr in the background keeps ffmpeg from blocking on a full
    pipe; ``check()`` turns a non-zero exit into a plain FFmpegError. The
    watchdog kills the group once ``timeout`` seconds pass without a
    ``touch()`` (never touched: the whole run), so a caller blocked on a pipe
    is freed too.
    """

    def __init__(self, cmd: list[str], *, stdin, stdout, timeout: float | None):
        if shutil.which(cmd[0]) is None:  # asked here: through setpriv, a missing ffmpeg would look like a failing one
            raise FFmpegError(MISSING, f"{cmd[0]} is not an executable file")
        try:
            self.proc = subprocess.Popen(
                [*_die_with_parent(), *cmd], stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, start_new_session=True
            )
        except OSError as exc:
            raise FFmpegError(MISSING, str(exc)) from exc
        self._stderr: list[bytes] = []
        self._reader = threading.Thread(target=lambda: self._stderr.append(self.proc.stderr.read()), daemon=True)
        self._reader.start()
        self.timeout, self.timed_out = timeout, False
        self._ended = threading.Event()
        self.touch()
        if timeout is not None:
            threading.Thread(target=self._watch, daemon=True).start()

    def touch(self) -> None:
        """ffmpeg is still doing its work: the timeout counts from now."""
        if self.timeout is not None:
            self._deadline = time.monotonic() + self.timeout

    def _watch(self) -> None:
        while not self._ended.wait(0.2):
            if self.proc.poll() is not None:
                return
            if time.monotonic() > self._deadline:
                self.timed_out = True
                _kill_group(self.proc)
                return

    def kill(self) -> None:
        self._ended.set()
        _kill_group(self.proc)

    def stderr(self) -> str:
        self._reader.join(timeout=5)
        return b"".join(self._stderr).decode("utf-8", "replace")

    def check(self) -> str:
        """Wait for the stderr reader; raise FFmpegError if ffmpeg failed or timed out; return stderr."""
        self._ended.set()
        stderr = self.stderr()
        if self.timed_out:
            raise FFmpegError(f"Media processing took longer than {self.timeout:.0f} s and was stopped.", stderr[-2000:])
        if self.proc.returncode != 0:
            raise FFmpegError(plain_error(stderr, self.proc.returncode), stderr[-2000:], self.proc.returncode)
        return stderr


def _parse_progress_time(line: str) -> float | None:
    # `-progress pipe:1` prints key=value lines; out_time_us is microseconds written.
    if line.startswith("out_time_us=") or line.startswith("out_time_ms="):
        value = line.split("=", 1)[1].strip()
        if value.lstrip("-").isdigit():
            return max(0.0, int(value) / 1_000_000)
    return None


def run_ffmpeg(
    args: Sequence[str],
    *,
    timeout: float | None = 3600,
    progress: ProgressFn | None = None,
    duration: float | None = None,
    cancel: CancelFn | None = None,
) -> FFmpegResult:
    """Run ffmpeg with ``args`` (everything after the binary name) and wait.

    ``progress`` receives a fraction 0..1 when ``duration`` (seconds of output)
    is known. ``cancel`` is polled about every 0.2 s; when it returns True the
    process group is killed and :class:`~storyteller.errors.Cancelled` is raised.
    """
    want_progress = progress is not None and duration
    cmd = _command((["-progress", "pipe:1", "-nostats"] if want_progress else []) + list(args), stdin_used=False)
    start = time.monotonic()
    child = _Process(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if want_progress else subprocess.DEVNULL, timeout=timeout)
    proc = child.proc
    if want_progress:

        def _read_progress() -> None:
            for raw in proc.stdout:
                t = _parse_progress_time(raw.decode("ascii", "replace"))
                if t is not None:
                    progress(min(1.0, t / duration))

        threading.Thread(target=_read_progress, daemon=True).start()

    while True:
        try:
            proc.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            pass
        if cancel is not None and cancel():
            child.kill()
            raise Cancelled("Stopped on request.")
    stderr = child.check()
    if want_progress:
        progress(1.0)
    return FFmpegResult(proc.returncode, stderr, time.monotonic() - start)


# A 720p I420 frame is 1.4 MB: through the default 64 kB pipe it takes some 20 wake-ups of
# each side; a 1 MB pipe (Linux's default ceiling for a user) takes a few.
PIPE_BYTES = 1 << 20


@cache
def _vmsplice():
    """libc's vmsplice(2) (Linux), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).vmsplice
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint]
    fn.restype = ctypes.c_ssize_t
    return fn


class KeptWriter:
    """Writes buffers their owner never changes again into a pipe by reference (vmsplice).

    A write copies a 1.4 MB 720p frame into the pipe's pages (0.5 ms of CPU); vmsplice hands
    the pipe the buffer's own pages, read by ffmpeg from there (0.25 ms less). So a buffer
    freed too soon, its memory reused by the next frame, would be read changed. A pipe holds
    at most its size in bytes, oldest first: a buffer is held until twice that many bytes
    went in after it (all of them until ``release()``, ffmpeg gone). Else, plain writes.
    """

    def __init__(self, fd: int):
        self.fd, self._fn = fd, _vmsplice()
        self._held: deque = deque()  # (buffer, bytes written in all up to its last spliced one)
        self._sent = 0
        try:
            self._window = 2 * fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
        except (OSError, AttributeError):  # not a pipe, or no way to ask: copy
            self._fn = None

    def write(self, buf) -> None:
        """Write a C-contiguous buffer (a numpy array) that is never changed afterwards."""
        view = memoryview(buf).cast("B")
        done = self._splice(view) if self._fn is not None and not view.readonly else 0
        if done:
            self._held.append((buf, self._sent + done))
        while done < len(view):
            done += os.write(self.fd, view[done:])
        self._sent += len(view)
        while self._held and self._sent - self._held[0][1] >= self._window:
            self._held.popleft()

    def _splice(self, view: memoryview) -> int:
        """vmsplice as much of ``view`` as the kernel takes; the bytes it took."""
        base = ctypes.addressof(ctypes.c_char.from_buffer(view))
        iov = (ctypes.c_size_t * 2)()
        done = 0
        while done < len(view):
            iov[0], iov[1] = base + done, len(view) - done
            n = self._fn(self.fd, iov, 1, 0)
            if n >= 0:
                done += n
                continue
            err = ctypes.get_errno()
            if err == errno.EPIPE:
                raise BrokenPipeError(err, os.strerror(err))
            if err != errno.EINTR:
                self._fn = None  # no vmsplice here (ENOSYS, EINVAL ...): copy from now on
                break
        return done

    def release(self) -> None:
        """The reader is gone (exited or killed): nothing refers to the buffers any more."""
        self._held.clear()


class FFmpegPipe:
    """A running ffmpeg that reads raw data on stdin (for example rendered frames).

    Use as a context manager: ``write()`` frames, then leaving the block closes
    stdin and waits. An exception inside the block kills the process group.
    ``timeout`` bounds each wait on ffmpeg (a write, the end after the last one),
    not the whole encode, which takes as long as the story.
    """

    def __init__(self, args: Sequence[str], *, timeout: float | None = 3600):
        self._child = _Process(_command(args, stdin_used=True), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, timeout=timeout)
        self.proc = self._child.proc
        try:
            fcntl.fcntl(self.proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:  # a lower limit set by the system: the default pipe still works
            pass
        self._kept = KeptWriter(self.proc.stdin.fileno())

    def write(self, data: bytes | memoryview) -> None:
        self._send(self.proc.stdin.write, data)

    def write_kept(self, buf) -> None:
        """Write a buffer the caller never changes again (a frame), without copying it where
        Linux allows (KeptWriter)."""
        self._send(self._write_kept, buf)

    def _write_kept(self, buf) -> None:
        self.proc.stdin.flush()  # anything write() left buffered goes first
        self._kept.write(buf)

    def _send(self, write, data) -> None:
        try:
            write(data)
        except BrokenPipeError:
            self.proc.wait()
            self._kept.release()
            self._child.check()
            raise FFmpegError("The video tool stopped reading early.") from None
        self._child.touch()

    def kill(self) -> None:
        self._child.kill()  # and waits: ffmpeg reads nothing more
        self._kept.release()

    def __enter__(self) -> FFmpegPipe:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.kill()
            return
        self._child.touch()
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        self._child.touch()  # closing flushes the last frames: the tail of the encode starts now
        self.proc.wait()  # bounded by the watchdog
        self._kept.release()
        self._child.check()


def open_ffmpeg(args: Sequence[str], *, timeout: float | None = 3600) -> FFmpegPipe:
    """Start ffmpeg reading from stdin (``-i pipe:0`` or ``-i -`` in ``args``)."""
    return FFmpegPipe(args, timeout=timeout)


def read_ffmpeg(args: Sequence[str], *, chunk_bytes: int = 1 << 16, timeout: float | None = 3600):
    """Run ffmpeg writing raw data to stdout (``pipe:1``) and yield it in chunks.

    Used to stream decoded audio in bounded memory. Errors raise FFmpegError
    after the stream ends.
    """
    child = _Process(_command(args, stdin_used=False), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, timeout=timeout)
    proc = child.proc
    try:
        while True:
            chunk = proc.stdout.read(chunk_bytes)
            if not chunk:
                break
            yield chunk
    except BaseException:
        child.kill()
        raise
    proc.wait()
    child.check()
