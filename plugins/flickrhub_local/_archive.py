"""The job archive in SQLite: the ``jobs`` table, one row per finished job.

Fed by the ``job_event`` hook: a job is upserted by id whenever it reaches a
finished state (a replayed job that finishes again replaces its row). Running,
queued and retrying jobs are not archived; hot state is the job store's.

The hook does not write: :meth:`JobArchive.enqueue` puts the row on a bounded
:class:`~flickrhub_core.archive_queue.ArchiveQueue` and returns, and one background
task writes what is waiting in one transaction per batch (``executemany``), so a
job's acknowledgement no longer waits for a SQLite transaction of its own. When
:data:`MAX_PENDING` rows wait (SQLite is stuck, say on another process's lock), the
hook waits for room: jobs slow down, no row is lost (``job_archive_queue_full``).
:meth:`JobArchive.close` (the plugin's ``shutdown``) writes what is waiting first, so
a clean stop loses nothing; a process that dies loses the rows still waiting, as
the embedded mode loses its in-memory job store then anyway. Readers in the same
process call :meth:`JobArchive.flush` first to see every job finished so far.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from flickrhub_core.archive_queue import ArchiveQueue
from flickrhub_core.jobs import Job, JobState
from flickrhub_core.stores import JobQuery
from flickrhub_local._database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    state       TEXT NOT NULL,
    target      TEXT NOT NULL,
    method      TEXT,
    created_at  REAL NOT NULL,
    finished_at REAL,
    record      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_owner_created ON jobs (owner, created_at);
CREATE INDEX IF NOT EXISTS jobs_user ON jobs (user_id);
CREATE INDEX IF NOT EXISTS jobs_state_finished ON jobs (state, finished_at);
"""

UPSERT = (
    "INSERT INTO jobs (id, owner, user_id, state, target, method,"
    " created_at, finished_at, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET owner = excluded.owner,"
    " user_id = excluded.user_id, state = excluded.state,"
    " target = excluded.target, method = excluded.method,"
    " created_at = excluded.created_at, finished_at = excluded.finished_at,"
    " record = excluded.record"
)

#: ``JobQuery`` fields that are plain equality filters on a column.
_FILTERS = ("user_id", "state", "target", "method")

#: Rows that may wait for the writer; past that, :meth:`JobArchive.enqueue` waits.
MAX_PENDING = 10_000
#: Rows written in one transaction at most.
MAX_BATCH = 500
#: Seconds :meth:`JobArchive.close` lets waiting rows be written (each batch takes
#: milliseconds unless another process holds SQLite's write lock).
CLOSE_GRACE = 15.0

#: One ``jobs`` row, in :data:`UPSERT`'s order.
Row = tuple[str, str, str, str, str, str | None, float, float, str]


def _row(job: Job) -> Row:
    """The job's row, made at once: a snapshot, whatever happens to ``job`` later."""
    return (
        job.id,
        job.owner,
        job.user_id,
        job.state.value,
        job.target,
        job.method,
        job.created_at.timestamp(),
        job.finished_at.timestamp() if job.finished_at is not None else time.time(),
        job.model_dump_json(),
    )


class JobArchive:
    """Finished jobs, kept until the retention in the settings prunes them."""

    def __init__(
        self, path: Path, *, max_pending: int = MAX_PENDING, max_batch: int = MAX_BATCH
    ) -> None:
        # NORMAL is WAL's usual level: a power cut may lose the last rows, never corrupt.
        self.db = Database(path, SCHEMA, synchronous="NORMAL")
        self.queue: ArchiveQueue[Row] = ArchiveQueue(
            self._write, max_pending=max_pending, max_batch=max_batch, name="local-archive"
        )

    async def record(self, job: Job) -> bool:
        """Archive ``job`` now if it has finished; return whether it was stored."""
        if not job.state.finished:
            return False
        await self._write([_row(job)])
        return True

    async def enqueue(self, job: Job) -> None:
        """Archive ``job`` in the background if it has finished (the ``job_event``
        hook's path): waits only while :data:`MAX_PENDING` rows wait already."""
        if job.state.finished:
            await self.queue.put(job.id, _row(job))

    async def flush(self) -> None:
        """Wait until every job enqueued so far is written."""
        await self.queue.flush()

    async def _write(self, rows: list[Row]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(UPSERT, rows)

        await self.db.run(work)

    async def get(self, job_id: str) -> Job | None:
        def work(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT record FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return None if row is None else str(row[0])

        record = await self.db.run(work)
        return None if record is None else Job.model_validate_json(record)

    async def list(self, query: JobQuery) -> list[Job]:
        """Newest first, ``query.owner`` always applied."""
        where = ["owner = ?"]
        args: list[object] = [query.owner]
        for name in _FILTERS:
            value = getattr(query, name)
            if value is not None:
                where.append(f"{name} = ?")
                args.append(value.value if isinstance(value, JobState) else value)
        args.append(max(0, query.limit))
        sql = (
            "SELECT record FROM jobs WHERE "  # noqa: S608 - column names are constants
            + " AND ".join(where)
            + " ORDER BY created_at DESC, id LIMIT ?"
        )

        def work(conn: sqlite3.Connection) -> list[str]:
            return [record for (record,) in conn.execute(sql, args)]

        return [Job.model_validate_json(record) for record in await self.db.run(work)]

    async def prune(self, ttl_complete: int, ttl_fail: int, *, now: float | None = None) -> int:
        """Delete jobs finished longer ago than their retention; return how many.

        Failed jobs keep ``ttl_fail`` seconds, completed and cancelled ones
        ``ttl_complete``. A TTL of 0 keeps those jobs forever.
        """
        now = time.time() if now is None else now
        rules = [
            (ttl, states)
            for ttl, states in (
                (ttl_complete, (JobState.COMPLETED.value, JobState.CANCELLED.value)),
                (ttl_fail, (JobState.FAILED.value,)),
            )
            if ttl > 0
        ]

        def work(conn: sqlite3.Connection) -> int:
            removed = 0
            for ttl, states in rules:
                marks = ", ".join("?" for _ in states)
                removed += conn.execute(
                    f"DELETE FROM jobs WHERE state IN ({marks}) AND finished_at < ?",  # noqa: S608
                    (*states, now - ttl),
                ).rowcount
            return removed

        return await self.db.run(work)

    async def close(self) -> None:
        """Write the enqueued jobs (for up to :data:`CLOSE_GRACE` s), then close."""
        await self.queue.close(CLOSE_GRACE)
        await self.db.close()
