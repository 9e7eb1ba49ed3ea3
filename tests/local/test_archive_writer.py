"""The archive's background writer: the ``job_event`` path only queues a finished job;
one task writes the queue in batches, and closing writes what is left."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from flickrhub_core.jobs import JobState
from flickrhub_local import DATABASE, JobArchive
from tests.local.helpers import make_job


class Transactions:
    """Wraps ``Database.run``: counts the transactions, and can hold them back."""

    def __init__(self, archive: JobArchive) -> None:
        self.count = 0
        self.open = asyncio.Event()
        self.open.set()
        self._run = archive.db.run
        archive.db.run = self  # type: ignore[method-assign]

    async def __call__(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        await self.open.wait()
        self.count += 1
        return await self._run(work)


@pytest.fixture
async def small(data_dir: Path) -> AsyncIterator[JobArchive]:
    """An archive whose queue holds 3 jobs, written 2 at a time."""
    archive = JobArchive(data_dir / DATABASE, max_pending=3, max_batch=2)
    try:
        yield archive
    finally:
        await archive.close()


async def test_an_enqueued_job_is_archived_once_flushed(archive: JobArchive) -> None:
    job = make_job(JobState.COMPLETED)

    await archive.enqueue(job)
    await archive.flush()

    assert await archive.get(job.id) == job


async def test_enqueue_skips_unfinished_jobs(archive: JobArchive) -> None:
    job = make_job(JobState.RUNNING)

    await archive.enqueue(job)
    await archive.flush()

    assert await archive.get(job.id) is None
    assert archive.queue.pending == 0


async def test_waiting_jobs_are_written_one_transaction_per_batch(data_dir: Path) -> None:
    archive = JobArchive(data_dir / DATABASE, max_batch=100)
    transactions = Transactions(archive)
    jobs = [make_job(JobState.COMPLETED) for _ in range(250)]
    try:
        for job in jobs:
            await archive.enqueue(job)
        await archive.flush()

        assert transactions.count == 3
        assert [await archive.get(job.id) for job in jobs] == jobs
    finally:
        await archive.close()


async def test_the_newest_record_of_a_waiting_job_is_the_one_written(
    archive: JobArchive,
) -> None:
    job = make_job(JobState.FAILED)
    replayed = job.model_copy(update={"state": JobState.COMPLETED, "result": {"ok": 1}})

    await archive.enqueue(job)
    await archive.enqueue(replayed)
    await archive.flush()

    assert await archive.get(job.id) == replayed


async def test_the_record_is_the_job_as_it_was_when_enqueued(archive: JobArchive) -> None:
    job = make_job(JobState.COMPLETED)
    snapshot = job.model_copy(deep=True)

    await archive.enqueue(job)
    job.result = {"changed": "after the event"}
    await archive.flush()

    assert await archive.get(job.id) == snapshot


async def test_close_writes_the_waiting_jobs_first(data_dir: Path) -> None:
    archive = JobArchive(data_dir / DATABASE)
    jobs = [make_job(JobState.COMPLETED) for _ in range(20)]
    for job in jobs:
        await archive.enqueue(job)

    await archive.close()

    reopened = JobArchive(data_dir / DATABASE)
    try:
        assert [await reopened.get(job.id) for job in jobs] == jobs
    finally:
        await reopened.close()


async def test_a_full_queue_holds_the_next_job_until_there_is_room(small: JobArchive) -> None:
    transactions = Transactions(small)
    transactions.open.clear()  # SQLite is stuck
    for _ in range(3):
        await small.enqueue(make_job(JobState.COMPLETED))
    late = make_job(JobState.COMPLETED)

    with capture_logs() as events:
        waiting = asyncio.create_task(small.enqueue(late))
        while not small.queue.waits:
            await asyncio.sleep(0)
        assert not waiting.done()
        transactions.open.set()
        await waiting
    await small.flush()

    assert await small.get(late.id) == late
    assert small.queue.waits == 1
    full = [e for e in events if e["event"] == "job_archive_queue_full"]
    assert len(full) == 1 and full[0]["log_level"] == "warning"
    assert full[0]["pending"] == 3


async def test_a_failed_batch_is_logged_and_later_jobs_are_still_written(
    small: JobArchive,
) -> None:
    failing = [sqlite3.OperationalError("disk I/O error")]
    run = small.db.run

    async def flaky(work: Callable[[sqlite3.Connection], Any]) -> Any:
        if failing:
            raise failing.pop()
        return await run(work)

    small.db.run = flaky  # type: ignore[method-assign]
    lost, kept = make_job(JobState.COMPLETED), make_job(JobState.COMPLETED)

    with capture_logs() as events:
        await small.enqueue(lost)
        await small.flush()
        await small.enqueue(kept)
        await small.flush()

    assert await small.get(lost.id) is None
    assert await small.get(kept.id) == kept
    failed = [e for e in events if e["event"] == "job_archive_failed"]
    assert [(e["jobs"], e["error"]) for e in failed] == [(1, "OperationalError")]


async def test_close_gives_up_on_a_stuck_writer_and_says_how_many_were_lost(
    small: JobArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("flickrhub_local._archive.CLOSE_GRACE", 0.05)
    Transactions(small).open.clear()  # SQLite never answers
    for _ in range(3):
        await small.enqueue(make_job(JobState.COMPLETED))

    with capture_logs() as events:
        await small.close()

    unwritten = [e for e in events if e["event"] == "job_archive_unwritten"]
    assert [e["jobs"] for e in unwritten] == [3]
    assert small.queue.pending == 0
