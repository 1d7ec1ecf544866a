"""The background worker that `storyteller serve` starts, and its stop.

The worker is a child process in its own process group, so a Ctrl+C at the
terminal reaches only `serve`, which then stops the worker in order: SIGTERM
(the worker puts its running job back in line, see ``jobs/queue.py``), a wait,
then SIGKILL for the whole group. SIGTERM to `serve` is turned into the same
unwinding as Ctrl+C; before, it ended `serve` at once and left the worker
running on its own. The Popen object is kept, with stdin a pipe, so whatever
the worker must be handed at its start can be written to it there.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

STOP_WAIT_SECONDS = 15.0  # longer than the worker's own wait for its jobs (queue.STOP_WAIT_SECONDS)


def start_worker(data_dir: str | Path) -> subprocess.Popen:
    """Start `storyteller worker` for ``data_dir`` in a process group of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "storyteller.cli", "worker", "--data", str(data_dir), "--key-from-stdin"],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )


def stop_worker(worker: subprocess.Popen, wait: float = STOP_WAIT_SECONDS) -> None:
    """Stop ``worker``: SIGTERM, wait up to ``wait`` seconds, then SIGKILL its whole group."""
    if worker.stdin is not None:
        with contextlib.suppress(OSError):
            worker.stdin.close()
    if worker.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            worker.terminate()
        try:
            worker.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass
    # Its group too: anything it started and left behind (ffmpeg has its own groups and dies with it).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


def _unwind_on_sigterm(signum, frame) -> None:
    # waitress treats KeyboardInterrupt as "shut down"; the `with` below then stops the worker.
    raise KeyboardInterrupt


_STOP_HANDLERS = {signal.SIGTERM: _unwind_on_sigterm, signal.SIGINT: signal.default_int_handler}


@contextlib.contextmanager
def supervised_worker(data_dir: str | Path) -> Iterator[subprocess.Popen]:
    """A worker for the lifetime of the block; stopped on leaving it, on SIGTERM, and at exit."""
    worker = start_worker(data_dir)
    atexit.register(stop_worker, worker)
    # Ctrl+C too, even when `serve` was started with SIGINT ignored (as a background job is).
    previous = {sig: signal.signal(sig, handler) for sig, handler in _STOP_HANDLERS.items()}
    try:
        yield worker
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop_worker(worker)
        atexit.unregister(stop_worker)
