"""The one way to run ffmpeg.

Every encode, decode and filter goes through :func:`run_ffmpeg` (or
:func:`open_ffmpeg` when frames are streamed through a pipe). It uses the binary
that ships inside the ``imageio-ffmpeg`` wheel, so a fresh laptop needs no
system ffmpeg. Arguments are lists, never a shell string. Each process runs in
its own process group so a timeout or a cancel kills ffmpeg and anything it
spawned. Failures become :class:`FFmpegError` with a sentence a facilitator can
act on; ffmpeg's own last lines are kept in ``.detail`` for developers.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import imageio_ffmpeg

from storyteller.errors import CancelFn, Cancelled, ProgressFn, UserError

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
    return f"Media processing failed (ffmpeg exit code {returncode})."


def _command(args: Sequence[str], stdin_used: bool) -> list[str]:
    cmd = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error"]
    if not stdin_used:
        cmd.append("-nostdin")
    cmd += [str(a) for a in args]
    return cmd


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


class _Process:
    """An ffmpeg child in its own process group, with stderr drained by a thread.

    Draining stderr in the background keeps ffmpeg from blocking on a full
    pipe; ``check()`` turns a non-zero exit into a plain FFmpegError.
    """

    def __init__(self, cmd: list[str], *, stdin, stdout):
        try:
            self.proc = subprocess.Popen(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise FFmpegError("The video tool (ffmpeg) could not be started.", str(exc)) from exc
        self._stderr: list[bytes] = []
        self._reader = threading.Thread(target=lambda: self._stderr.append(self.proc.stderr.read()), daemon=True)
        self._reader.start()

    def kill(self) -> None:
        _kill_group(self.proc)

    def stderr(self) -> str:
        self._reader.join(timeout=5)
        return b"".join(self._stderr).decode("utf-8", "replace")

    def check(self) -> str:
        """Wait for the stderr reader; raise FFmpegError if ffmpeg failed; return stderr."""
        stderr = self.stderr()
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
    child = _Process(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if want_progress else subprocess.DEVNULL)
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
        if timeout is not None and time.monotonic() - start > timeout:
            child.kill()
            raise FFmpegError(f"Media processing took longer than {timeout:.0f} s and was stopped.")
    stderr = child.check()
    if want_progress:
        progress(1.0)
    return FFmpegResult(proc.returncode, stderr, time.monotonic() - start)


# A 720p I420 frame is 1.4 MB: through the default 64 kB pipe it takes some 20 wake-ups of
# each side; a 1 MB pipe (Linux's default ceiling for a user) takes a few.
PIPE_BYTES = 1 << 20


class FFmpegPipe:
    """A running ffmpeg that reads raw data on stdin (for example rendered frames).

    Use as a context manager: ``write()`` frames, then leaving the block closes
    stdin and waits. An exception inside the block kills the process group.
    """

    def __init__(self, args: Sequence[str], *, timeout: float | None = 3600):
        self.timeout = timeout
        self._child = _Process(_command(args, stdin_used=True), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        self.proc = self._child.proc
        try:
            fcntl.fcntl(self.proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:  # a lower limit set by the system: the default pipe still works
            pass

    def write(self, data: bytes | memoryview) -> None:
        try:
            self.proc.stdin.write(data)
        except BrokenPipeError:
            self.proc.wait()
            self._child.check()
            raise FFmpegError("The video tool stopped reading early.") from None

    def kill(self) -> None:
        self._child.kill()

    def __enter__(self) -> FFmpegPipe:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.kill()
            return
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise FFmpegError("Media processing took too long and was stopped.") from None
        self._child.check()


def open_ffmpeg(args: Sequence[str], *, timeout: float | None = 3600) -> FFmpegPipe:
    """Start ffmpeg reading from stdin (``-i pipe:0`` or ``-i -`` in ``args``)."""
    return FFmpegPipe(args, timeout=timeout)


def read_ffmpeg(args: Sequence[str], *, chunk_bytes: int = 1 << 16, timeout: float | None = 3600):
    """Run ffmpeg writing raw data to stdout (``pipe:1``) and yield it in chunks.

    Used to stream decoded audio in bounded memory. Errors raise FFmpegError
    after the stream ends.
    """
    child = _Process(_command(args, stdin_used=False), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    proc = child.proc
    start = time.monotonic()
    try:
        while True:
            chunk = proc.stdout.read(chunk_bytes)
            if not chunk:
                break
            yield chunk
            if timeout is not None and time.monotonic() - start > timeout:
                raise FFmpegError("Media processing took too long and was stopped.")
    except BaseException:
        child.kill()
        raise
    proc.wait()
    child.check()
