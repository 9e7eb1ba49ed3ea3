"""The job archive in SQLite: the ``jobs`` table, one row per finished job.

Fed by the ``job_event`` hook: a job is upserted by id whenever it reaches a
finished state (a replayed job that finishes again replaces its row). Running,
queued and retrying jobs are not archived; hot state is the job store's.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

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

#: ``JobQuery`` fields that are plain equality filters on a column.
_FILTERS = ("user_id", "state", "target", "method")


class JobArchive:
    """Finished jobs, kept until the retention in the settings prunes them."""

    def __init__(self, path: Path) -> None:
        # NORMAL is WAL's usual level: a power cut may lose the last rows, never corrupt.
        self.db = Database(path, SCHEMA, synchronous="NORMAL")

    async def record(self, job: Job) -> bool:
        """Archive ``job`` if it has finished; return whether it was stored."""
        if not job.state.finished:
            return False
        values = (
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

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO jobs (id, owner, user_id, state, target, method,"
                " created_at, finished_at, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET owner = excluded.owner,"
                " user_id = excluded.user_id, state = excluded.state,"
                " target = excluded.target, method = excluded.method,"
                " created_at = excluded.created_at, finished_at = excluded.finished_at,"
                " record = excluded.record",
                values,
            )

        await self.db.run(work)
        return True

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
        await self.db.close()
