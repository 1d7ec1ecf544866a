"""Running one job: claim its row, beat a heartbeat, call its handler, record the end.

A handler is a plain function ``handler(ctx, **params) -> dict``. It reports
through ``ctx.progress(fraction, stage)`` and stops when ``ctx.cancelled()``
turns True (the pipeline polls it through its ``cancel`` callback). A
UserError's own sentence becomes the job's error; an OSError is told by what
it means (a full disk, a missing file), never by its errno; anything else is
logged and shown as a calm generic sentence, because a traceback or a
library's message helps no participant (``errors.plain_message``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from storyteller.errors import Cancelled, UserError, plain_message
from storyteller.jobs import state
from storyteller.store import stories
from storyteller.store.db import db_path, open_database
from storyteller.store.vault import Vault, job_plaintext_folders, plaintext_workspace, sweep_plaintext, vault_for, wipe_folder

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0

# Set when this worker process is asked to stop: its running jobs end as at a cancel,
# but are put back in line ('interrupted') instead of being cancelled.
_stopping = threading.Event()
_running: set[int] = set()
_running_lock = threading.Lock()


def stop_running_jobs() -> None:
    """Ask every job of this process to stop now and wait in line for the next start."""
    _stopping.set()


def running_job_ids() -> set[int]:
    with _running_lock:
        return set(_running)


class JobCancelled(Exception):
    """Raised inside a handler when the job was asked to stop."""


@dataclass
class JobContext:
    """What a handler gets: where the data is, and how to report and check for a cancel."""

    job_id: int
    data_dir: Path
    conn: sqlite3.Connection
    vault: Vault
    workdir: Path  # private plaintext folder (mode 0700, in memory when it fits), wiped when the job ends whatever happens
    story_id: int | None = None
    workshop_key: bytes | None = field(default=None, repr=False)  # her words in the database need it (stories.text_key)
    _last_cancel_check: float = field(default=0.0, repr=False)
    _cancel_seen: bool = field(default=False, repr=False)
    _last_report: float = field(default=0.0, repr=False)

    def progress(self, fraction: float, stage: str | None = None) -> None:
        now = time.monotonic()
        # Throttle writes: the UI polls about once a second.
        if stage is not None or now - self._last_report >= 0.25 or fraction >= 1.0:
            state.report(self.conn, self.job_id, fraction, stage)
            self._last_report = now

    def publish(self, partial: dict) -> None:
        """Show what is already made before the job ends (the page may use it at once)."""
        state.publish(self.conn, self.job_id, partial)

    def stage_progress(self, stage: str, start: float, end: float) -> Callable[[float], None]:
        """A 0..1 callback for one stage that maps into ``start..end`` of the whole job."""
        self.progress(start, stage)
        return lambda f: self.progress(start + (end - start) * min(1.0, max(0.0, f)))

    def cancelled(self) -> bool:
        if _stopping.is_set():
            return True
        now = time.monotonic()
        if not self._cancel_seen and now - self._last_cancel_check >= 0.3:
            self._last_cancel_check = now
            self._cancel_seen = state.cancel_requested(self.conn, self.job_id)
        return self._cancel_seen

    def plain(self, name: str) -> Path:
        """A plain copy of a vault item in this job's plaintext folder (wiped with it)."""
        return self.vault.decrypt_to(name, self.workdir / f"in-{name}")

    def check_cancel(self) -> None:
        if self.cancelled():
            raise JobCancelled()


class _Heartbeat(threading.Thread):
    """Keeps the job's heartbeat fresh even while a stage reports no progress."""

    def __init__(self, path: Path, job_id: int):
        super().__init__(daemon=True)
        self.path, self.job_id = path, job_id
        self.stopped = threading.Event()

    def run(self) -> None:
        conn = open_database(self.path)
        try:
            while not self.stopped.wait(HEARTBEAT_SECONDS):
                state.beat(conn, self.job_id)
        finally:
            conn.close()


def sweep_workdirs(conn: sqlite3.Connection, data_dir: str | Path) -> None:
    """Wipe the plaintext folders of jobs that are not running (left by a killed worker).

    They hold decrypted copies of raw media, so they must not linger.
    """
    running = {r[0] for r in conn.execute("SELECT id FROM jobs WHERE state = 'running'")}
    sweep_plaintext(data_dir, running)
    # Scratch folders of the versions before the vault encrypted (``work/job-N``) held plain copies too.
    for folder in (Path(data_dir) / "work").glob("job-*"):
        if folder.name[4:].isdigit() and int(folder.name[4:]) not in running:
            wipe_folder(folder)


def run_job(job_id: int, data_dir: str, handlers: dict[str, Callable[..., dict]], workshop_key: bytes | None = None) -> str:
    """Run job ``job_id`` if it can be claimed; return its final state (or 'skipped', 'waiting').

    Without the workshop key (the facilitator has not unlocked the workshop since
    the start) the job stays queued, with a stage that says why.
    """
    if _stopping.is_set():
        return "skipped"  # the next start queues it again
    path = db_path(data_dir)
    conn = open_database(path)
    try:
        if workshop_key is None:
            state.wait_for_unlock(conn, job_id)
            return "waiting"
        if not state.claim(conn, job_id):
            return "skipped"
        job = state.get_job(conn, job_id)
        handler = handlers.get(job.kind)
        if handler is None:
            state.fail(conn, job_id, f"Unknown kind of work: {job.kind}.")
            return "failed"
        for earlier in job_plaintext_folders(data_dir, job_id):
            wipe_folder(earlier)  # left by an attempt of this job whose worker was killed
        with plaintext_workspace(data_dir, f"job{job_id}", room_for_story_work(conn, job.story_id)) as workdir:
            ctx = JobContext(job_id, Path(data_dir), conn, vault_for(data_dir), workdir, job.story_id, workshop_key)
            beat = _Heartbeat(path, job_id)
            beat.start()
            with _running_lock:
                _running.add(job_id)
            log.info("job %s started: %s, attempt %s", job_id, job.kind, job.attempt)
            try:
                ctx.vault = ctx.vault.with_key(stories.media_key(conn, job.story_id, workshop_key))
                result = handler(ctx, **job.params)
                state.finish(conn, job_id, result or {})
                return "done"
            except (JobCancelled, Cancelled):
                return _stopped(conn, job_id)
            except Exception as exc:
                if ctx.cancelled():  # an error raised while stopping is the stop, not a failure
                    return _stopped(conn, job_id)
                if isinstance(exc, (UserError, OSError)):
                    log.warning("job %s failed: %s", job_id, exc)
                else:
                    log.exception("job %s crashed", job_id)
                state.fail(conn, job_id, plain_message(exc))
                return "failed"
            finally:
                beat.stopped.set()
                beat.join(timeout=5)
                with _running_lock:
                    _running.discard(job_id)
    finally:
        conn.close()


def room_for_story_work(conn: sqlite3.Connection, story_id: int | None) -> int:
    """About what a job writes in plain form: copies of the story's media, and a video."""
    row = conn.execute("SELECT COALESCE(SUM(size_bytes), 0) FROM assets WHERE story_id IS ?", (story_id,)).fetchone()
    return 3 * int(row[0]) + (200 << 20)


def _stopped(conn: sqlite3.Connection, job_id: int) -> str:
    """A job that ended at a stop: back in line when the worker is stopping, else cancelled by her."""
    if _stopping.is_set() and not state.cancel_requested(conn, job_id):
        state.interrupt(conn, job_id)
        return "interrupted"
    state.mark_cancelled(conn, job_id)
    return "cancelled"
