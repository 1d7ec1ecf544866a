"""Job rows: the durable truth about background work.

huey deletes a task the moment a worker takes it ("does not do
acknowledgement"), so a killed worker would silently lose the job. We keep
each job's state, stage, progress, heartbeat and attempt count in our own
table instead. A worker must *claim* a row before running it (an atomic
UPDATE), which makes duplicate queue messages harmless; a running job whose
heartbeat goes stale is marked interrupted and queued again, a bounded number
of times.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

STATES = ("queued", "running", "done", "failed", "interrupted", "cancelled")
FINAL_STATES = ("done", "failed", "cancelled")
_TOUCH = "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    story_id: int | None
    params: dict
    state: str
    stage: str
    progress: float
    heartbeat: float | None
    attempt: int
    max_attempts: int
    cancel_requested: bool
    error: str
    result: dict

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    def as_public_dict(self) -> dict:
        """What the progress endpoint shows: no parameters (they may name files)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "stage": self.stage,
            "progress": round(self.progress, 4),
            "attempt": self.attempt,
            "error": self.error,
            "finished": self.finished,
        }


def _row_to_job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        story_id=row["story_id"],
        params=json.loads(row["params"] or "{}"),
        state=row["state"],
        stage=row["stage"],
        progress=row["progress"],
        heartbeat=row["heartbeat"],
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        cancel_requested=bool(row["cancel_requested"]),
        error=row["error"],
        result=json.loads(row["result"] or "{}"),
    )


def create_job(
    conn: sqlite3.Connection, kind: str, params: dict | None = None, *, story_id: int | None = None, max_attempts: int = 3
) -> int:
    cur = conn.execute(
        "INSERT INTO jobs (kind, story_id, params, max_attempts) VALUES (?, ?, ?, ?)",
        (kind, story_id, json.dumps(params or {}), max_attempts),
    )
    return int(cur.lastrowid)


def get_job(conn: sqlite3.Connection, job_id: int) -> Job | None:
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return _row_to_job(row) if row else None


def claim(conn: sqlite3.Connection, job_id: int) -> bool:
    """Move a queued or interrupted job to running; False if someone else has it. What an earlier attempt
    published is cleared: its files went with it."""
    cur = conn.execute(
        f"UPDATE jobs SET state = 'running', attempt = attempt + 1, heartbeat = ?, error = '', result = '{{}}', "
        f"stage = CASE WHEN stage = 'locked' THEN '' ELSE stage END, {_TOUCH} "
        "WHERE id = ? AND state IN ('queued', 'interrupted') AND cancel_requested = 0",
        (time.time(), job_id),
    )
    return cur.rowcount == 1


def report(conn: sqlite3.Connection, job_id: int, progress: float, stage: str | None = None) -> None:
    progress = min(1.0, max(0.0, float(progress)))
    if stage is None:
        conn.execute(f"UPDATE jobs SET progress = ?, heartbeat = ?, {_TOUCH} WHERE id = ?", (progress, time.time(), job_id))
    else:
        conn.execute(
            f"UPDATE jobs SET progress = ?, stage = ?, heartbeat = ?, {_TOUCH} WHERE id = ?",
            (progress, stage, time.time(), job_id),
        )


def beat(conn: sqlite3.Connection, job_id: int) -> None:
    conn.execute("UPDATE jobs SET heartbeat = ? WHERE id = ? AND state = 'running'", (time.time(), job_id))


def publish(conn: sqlite3.Connection, job_id: int, partial: dict) -> None:
    """What a running job has already made (a preview's first sentence): ``finish`` replaces it."""
    conn.execute("UPDATE jobs SET result = ? WHERE id = ? AND state = 'running'", (json.dumps(partial), job_id))


def finish(conn: sqlite3.Connection, job_id: int, result: dict | None = None) -> None:
    conn.execute(
        f"UPDATE jobs SET state = 'done', progress = 1, stage = 'done', result = ?, {_TOUCH} WHERE id = ?",
        (json.dumps(result or {}), job_id),
    )


def fail(conn: sqlite3.Connection, job_id: int, message: str) -> None:
    conn.execute(f"UPDATE jobs SET state = 'failed', error = ?, {_TOUCH} WHERE id = ?", (message, job_id))


def mark_cancelled(conn: sqlite3.Connection, job_id: int) -> None:
    conn.execute(f"UPDATE jobs SET state = 'cancelled', stage = 'cancelled', {_TOUCH} WHERE id = ?", (job_id,))


def interrupt(conn: sqlite3.Connection, job_id: int) -> None:
    """Put a running job back in line because its worker is stopping (not the job's fault).

    The attempt is given back: a laptop shut down three times during one render must
    not turn her video into "interrupted too many times".
    """
    conn.execute(
        f"UPDATE jobs SET state = 'interrupted', stage = 'interrupted', attempt = MAX(attempt - 1, 0), {_TOUCH} "
        "WHERE id = ? AND state = 'running'",
        (job_id,),
    )


def request_cancel(conn: sqlite3.Connection, job_id: int) -> Job | None:
    """Ask a job to stop. A job that has not started is cancelled at once."""
    conn.execute(f"UPDATE jobs SET cancel_requested = 1, {_TOUCH} WHERE id = ? AND state NOT IN ('done', 'failed', 'cancelled')", (job_id,))
    conn.execute(
        f"UPDATE jobs SET state = 'cancelled', stage = 'cancelled', {_TOUCH} WHERE id = ? AND state IN ('queued', 'interrupted')",
        (job_id,),
    )
    return get_job(conn, job_id)


def cancel_requested(conn: sqlite3.Connection, job_id: int) -> bool:
    row = conn.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return row is None or bool(row[0])  # a job whose story was deleted stops


def recover_stale(conn: sqlite3.Connection, stale_after: float) -> list[int]:
    """Mark running jobs with an old heartbeat as interrupted; return those to queue again.

    A job that has used all its attempts is failed with a plain message instead.
    """
    cutoff = time.time() - stale_after
    requeue: list[int] = []
    rows = conn.execute(
        "SELECT id, attempt, max_attempts FROM jobs WHERE state = 'running' AND (heartbeat IS NULL OR heartbeat < ?)",
        (cutoff,),
    ).fetchall()
    for row in rows:
        if row["attempt"] < row["max_attempts"]:
            conn.execute(
                f"UPDATE jobs SET state = 'interrupted', stage = 'interrupted', {_TOUCH} WHERE id = ? AND state = 'running'", (row["id"],)
            )
            requeue.append(row["id"])
        else:
            fail(conn, row["id"], "This work was interrupted too many times and has stopped. Your files are safe; try again.")
    return requeue


def pending_ids(conn: sqlite3.Connection) -> list[int]:
    """Jobs waiting to run (queued or interrupted), oldest first."""
    return [r[0] for r in conn.execute("SELECT id FROM jobs WHERE state IN ('queued', 'interrupted') AND cancel_requested = 0 ORDER BY id")]


def wait_for_unlock(conn: sqlite3.Connection, job_id: int) -> None:
    """Show that a job waits for the facilitator to unlock the workshop (it stays queued, it has not failed)."""
    conn.execute(f"UPDATE jobs SET stage = 'locked', {_TOUCH} WHERE id = ? AND state IN ('queued', 'interrupted')", (job_id,))
