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
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from storyteller.errors import Cancelled, UserError, plain_message
from storyteller.jobs import state
from storyteller.store.db import db_path, open_database
from storyteller.store.vault import Vault, vault_for

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0


class JobCancelled(Exception):
    """Raised inside a handler when the job was asked to stop."""


@dataclass
class JobContext:
    """What a handler gets: where the data is, and how to report and check for a cancel."""

    job_id: int
    data_dir: Path
    conn: sqlite3.Connection
    vault: Vault
    workdir: Path  # private scratch folder, wiped when the job ends whatever happens
    story_id: int | None = None
    _last_cancel_check: float = field(default=0.0, repr=False)
    _cancel_seen: bool = field(default=False, repr=False)
    _last_report: float = field(default=0.0, repr=False)

    def progress(self, fraction: float, stage: str | None = None) -> None:
        now = time.monotonic()
        # Throttle writes: the UI polls about once a second.
        if stage is not None or now - self._last_report >= 0.25 or fraction >= 1.0:
            state.report(self.conn, self.job_id, fraction, stage)
            self._last_report = now

    def stage_progress(self, stage: str, start: float, end: float) -> Callable[[float], None]:
        """A 0..1 callback for one stage that maps into ``start..end`` of the whole job."""
        self.progress(start, stage)
        return lambda f: self.progress(start + (end - start) * min(1.0, max(0.0, f)))

    def cancelled(self) -> bool:
        now = time.monotonic()
        if not self._cancel_seen and now - self._last_cancel_check >= 0.3:
            self._last_cancel_check = now
            self._cancel_seen = state.cancel_requested(self.conn, self.job_id)
        return self._cancel_seen

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
    """Remove scratch folders of jobs that are not running (left by a killed worker).

    They may hold copies of raw media, so they must not linger.
    """
    work = Path(data_dir) / "work"
    if not work.is_dir():
        return
    running = {f"job-{r[0]}" for r in conn.execute("SELECT id FROM jobs WHERE state = 'running'")}
    for folder in work.iterdir():
        if folder.name not in running:
            shutil.rmtree(folder, ignore_errors=True)


def run_job(job_id: int, data_dir: str, handlers: dict[str, Callable[..., dict]]) -> str:
    """Run job ``job_id`` if it can be claimed; return its final state (or 'skipped')."""
    path = db_path(data_dir)
    conn = open_database(path)
    try:
        if not state.claim(conn, job_id):
            return "skipped"
        job = state.get_job(conn, job_id)
        handler = handlers.get(job.kind)
        if handler is None:
            state.fail(conn, job_id, f"Unknown kind of work: {job.kind}.")
            return "failed"
        workdir = Path(data_dir) / "work" / f"job-{job_id}"
        shutil.rmtree(workdir, ignore_errors=True)  # leftovers of a killed attempt
        workdir.mkdir(parents=True)
        ctx = JobContext(job_id, Path(data_dir), conn, vault_for(data_dir), workdir, job.story_id)
        beat = _Heartbeat(path, job_id)
        beat.start()
        try:
            result = handler(ctx, **job.params)
            state.finish(conn, job_id, result or {})
            return "done"
        except (JobCancelled, Cancelled):
            state.mark_cancelled(conn, job_id)
            return "cancelled"
        except Exception as exc:
            if ctx.cancelled():  # an error raised while stopping is the stop, not a failure
                state.mark_cancelled(conn, job_id)
                return "cancelled"
            if isinstance(exc, (UserError, OSError)):
                log.warning("job %s failed: %s", job_id, exc)
            else:
                log.exception("job %s crashed", job_id)
            state.fail(conn, job_id, plain_message(exc))
            return "failed"
        finally:
            beat.stopped.set()
            beat.join(timeout=5)
            shutil.rmtree(workdir, ignore_errors=True)
    finally:
        conn.close()
