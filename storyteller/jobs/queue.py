"""The queue: huey carries job ids from the web process to the worker process.

SqliteHuey in the data folder needs no setup; RedisHuey is used when
``STORYTELLER_REDIS_URL`` is set, so workers can run on other machines. The
queue only carries ``(job_id, data_dir)``; the job table is the source of
truth (see ``jobs/state.py``). The worker re-queues pending rows when it
starts and keeps sweeping for stale heartbeats while it runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from huey.consumer import Consumer

from storyteller import config
from storyteller.jobs import state
from storyteller.jobs.runner import run_job, running_job_ids, stop_running_jobs, sweep_workdirs
from storyteller.jobs.unlock import WorkshopKey
from storyteller.store.db import db_path, open_database
from storyteller.store.vault import vault_for

log = logging.getLogger(__name__)

STALE_AFTER_SECONDS = 20.0
SWEEP_SECONDS = 5.0
IDLE_POLL_SECONDS = 0.5
# How long a stopping worker waits for its jobs to notice (they poll about every 0.3 s);
# shorter than the wait of `serve` before it kills the worker.
STOP_WAIT_SECONDS = 8.0


def make_huey(
    data_dir: str | Path, redis_url: str | None = None, immediate: bool = False, workshop_key: Callable[[], bytes | None] = lambda: None
) -> Huey:
    """A huey instance for ``data_dir`` with the job task registered on it.

    ``workshop_key`` gives the unlocked key of the process that runs the task (the
    worker's, or the app's when tasks run immediately); the queue never carries it.
    """
    redis_url = redis_url or config.redis_url()
    if redis_url:
        huey = RedisHuey("storyteller", url=redis_url, immediate=immediate)
    else:
        huey = SqliteHuey("storyteller", filename=str(Path(data_dir) / "queue.sqlite3"), immediate=immediate)

    @huey.task(name="storyteller.run_job")
    def run_job_task(job_id: int, data_dir: str) -> str:
        from storyteller.jobs.tasks import HANDLERS

        return run_job(job_id, data_dir, HANDLERS, workshop_key())

    huey.run_job_task = run_job_task  # type: ignore[attr-defined]
    return huey


def enqueue(huey: Huey, job_id: int, data_dir: str | Path) -> None:
    huey.run_job_task(job_id, str(data_dir))  # type: ignore[attr-defined]


def requeue_pending(huey: Huey, data_dir: str | Path, stale_after: float = STALE_AFTER_SECONDS) -> list[int]:
    """Interrupt stale running jobs and put every pending job back on the queue."""
    conn = open_database(db_path(data_dir))
    try:
        state.recover_stale(conn, stale_after)
        ids = state.pending_ids(conn)
    finally:
        conn.close()
    for job_id in ids:
        enqueue(huey, job_id, data_dir)
    return ids


def _sweeper(huey: Huey, data_dir: Path, stale_after: float, stop: threading.Event) -> None:
    while not stop.wait(SWEEP_SECONDS):
        try:
            conn = open_database(db_path(data_dir))
            try:
                ids = state.recover_stale(conn, stale_after)
                sweep_workdirs(conn, data_dir)
            finally:
                conn.close()
            for job_id in ids:
                log.warning("job %s lost its worker; queued again", job_id)
                enqueue(huey, job_id, data_dir)
            vault_for(data_dir).sweep_partials(idle_seconds=2 * stale_after)
        except Exception:  # keep sweeping; a locked DB now is fine later
            log.exception("stale-job sweep failed")


class _Consumer(Consumer):
    """huey's consumer, except that a stop signal first asks the running jobs to stop.

    Without this a SIGTERM ends the process with its jobs marked 'running' until their
    heartbeat goes stale, and a Ctrl+C waits for a whole render to finish.
    """

    def _handle_signal(self, signum, frame):
        stop_running_jobs()
        super()._handle_signal(signum, frame)


def _put_running_jobs_back(data_dir: Path) -> None:
    """Wait a moment for this worker's jobs to stop themselves; put any left back in line."""
    stop_running_jobs()
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while running_job_ids() and time.monotonic() < deadline:
        time.sleep(0.1)
    left = running_job_ids()
    if left:
        conn = open_database(db_path(data_dir))
        try:
            for job_id in left:
                state.interrupt(conn, job_id)
        finally:
            conn.close()


def run_worker(data_dir: str | Path, keys: WorkshopKey, workers: int = 1, stale_after: float = STALE_AFTER_SECONDS) -> None:
    """Run a huey consumer for ``data_dir`` until SIGINT/SIGTERM.

    Jobs taken before ``keys`` holds the workshop key stay queued and say that they
    wait for the facilitator; when the key arrives, ``on_unlock`` queues them again.
    """
    data_dir = Path(data_dir).resolve()
    huey = make_huey(data_dir, workshop_key=keys.get)
    conn = open_database(db_path(data_dir))
    try:
        # A job whose worker was killed is marked interrupted first, then the plain copies it
        # left are wiped, and only then is it queued again: the sweep never races its rerun.
        state.recover_stale(conn, stale_after)
        sweep_workdirs(conn, data_dir)
    finally:
        conn.close()
    requeued = requeue_pending(huey, data_dir, stale_after)
    if requeued:
        log.info("queued again after restart: %s", requeued)
    stop = threading.Event()
    threading.Thread(target=_sweeper, args=(huey, data_dir, stale_after, stop), daemon=True).start()
    # An idle huey consumer backs off to polling every 10 s; a participant waiting to see her
    # faces masked or to hear her voice must not wait for that, and a poll of the local
    # queue file twice a second costs nothing.
    consumer = _Consumer(huey, workers=workers, worker_type="thread", periodic=False, check_worker_health=True, max_delay=IDLE_POLL_SECONDS)
    try:
        consumer.run()
    finally:
        stop.set()
        _put_running_jobs_back(data_dir)


def on_unlock(data_dir: str | Path) -> Callable[[], None]:
    """What a worker does when the key arrives: queue again the jobs that waited for it."""

    def requeue() -> None:
        data_dir_ = Path(data_dir).resolve()
        requeue_pending(make_huey(data_dir_), data_dir_)

    return requeue
