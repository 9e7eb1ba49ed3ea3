"""MongoDB (accounts, upload bytes, the job archive) is away for a while.

End to end: MongoDB (nx-27017, or ``MONGO_URL``'s server) is reached through a proxy
that the test cuts (see :mod:`tests.faults.conftest`). Jobs whose calls are under way
complete while it is away: their archive writes fail, are handed to the archive's
background writer and retried, and every job is in the archive once MongoDB is back.
Jobs that had not started wait (a worker needs the account's token, which lives in
MongoDB) and complete after. The API answers 503 with ``Retry-After`` meanwhile for
what needs MongoDB, never 500, and job status (in Redis) stays readable.

Then the archive writer alone (:class:`flickrhub_mongo.ArchiveWriter`), against an
archive that fails on purpose.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from flickrhub_core.jobs import Job, JobState
from flickrhub_mongo import ArchivePolicy, ArchiveWriter
from tests.faults.conftest import FaultCluster
from tests.faults.harness import Jobs, check_promises, finished_events, running_on, wait_for

#: Seconds MongoDB stays away.
OUTAGE = 4.0


@pytest.mark.e2e
def test_mongodb_away_jobs_complete_and_the_archive_catches_up(
    hub: FaultCluster, jobs: Jobs
) -> None:
    jobs.faults(latency_ms=1500, methods=["flickr.test.echo"])
    batch = jobs.submit(reads=10, tag="mongo-")

    def under_way() -> set[str]:
        found = set().union(*(running_on(p, batch.ids) for p in hub.workers.values()))
        return found if len(found) >= 4 else set()

    running = wait_for(under_way, what="jobs running on the workers")
    hub.mongo_proxy.cut()
    cut_at = time.monotonic()
    jobs.clear_faults()

    # The calls under way finish, and their jobs complete, while MongoDB is away.
    def completed_meanwhile() -> set[str]:
        done = finished_events(hub.workers.values())
        return {job_id for job_id in running if job_id in done}

    wait_for(lambda: completed_meanwhile() == running, timeout=OUTAGE, what="running jobs done")
    assert hub.mongo_proxy.is_cut
    assert {jobs.get(job_id)["state"] for job_id in running} == {"completed"}
    # What needs MongoDB (the account, here) is refused with 503, not 500.
    response = jobs.read("while-mongo-is-away", timeout=20)
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"]
    assert response.json()["error"]["code"] == "ERR_UNAVAILABLE"
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - cut_at)))
    hub.mongo_proxy.restore()

    batch += jobs.submit(reads=3, tag="after-mongo-")
    check_promises(jobs, batch, hub.workers.values())

    # Every job is archived once, completed, including those finished during the outage.
    def archived() -> dict[str, Any] | None:
        with hub.backends.mongo() as client:
            docs = list(
                client[hub.backends.mongo_db]["jobs"].find(
                    {"job_id": {"$in": batch.ids}}, {"job_id": 1, "state": 1}
                )
            )
        found = {doc["job_id"]: doc["state"] for doc in docs}
        return found if len(docs) == len(batch.ids) == len(found) else None

    found = wait_for(archived, timeout=30, what="every job archived")
    assert set(found.values()) == {"completed"}
    late = {
        event["job_id"]
        for proc in hub.workers.values()
        for event in proc.events("job_archived_late")
    }
    assert running <= late


# --- the archive writer ------------------------------------------------------------------


class FlakyArchive:
    """Looks like :class:`JobArchive`; fails (or hangs) while told to."""

    def __init__(self) -> None:
        self.policy = ArchivePolicy(save_completed=True)
        self.failing = False
        self.hanging = False
        self.written: list[tuple[str, str]] = []
        self.tries = 0

    async def record(self, job: Job) -> bool:
        self.tries += 1
        if self.hanging:
            await asyncio.sleep(3600)
        if self.failing:
            raise AutoReconnect("connection refused")
        self.written.append((job.id, job.state.value))
        return True


def finished(state: JobState = JobState.COMPLETED, job_id: str | None = None) -> Job:
    job = Job(user_id="u", target="rest", method="flickr.test.echo", state=state)
    if job_id is not None:
        job.id = job_id
    return job


def writer_for(archive: FlakyArchive, **options: Any) -> ArchiveWriter:
    options = {"inline_timeout": 0.2, "retry_wait": (0.01, 0.05), **options}
    return ArchiveWriter(archive, **options)  # type: ignore[arg-type]


async def eventually(check: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def test_a_write_that_works_is_done_before_record_returns() -> None:
    archive = FlakyArchive()
    writer = writer_for(archive)
    job = finished()
    assert await writer.record(job) is True
    assert archive.written == [(job.id, "completed")]
    assert await writer.record(finished(JobState.RUNNING)) is False  # not finished
    await writer.close()


async def test_failed_writes_are_retried_in_the_background_in_order() -> None:
    archive = FlakyArchive()
    writer = writer_for(archive)
    archive.failing = True
    first, second = finished(), finished(JobState.FAILED)
    assert await writer.record(first) is False  # the job goes on at once
    assert await writer.record(second) is False
    assert writer.pending == 2
    await asyncio.sleep(0.1)
    assert archive.written == []
    archive.failing = False
    await eventually(lambda: writer.pending == 0)
    assert archive.written == [(first.id, "completed"), (second.id, "failed")]
    await writer.close()


async def test_while_writes_wait_new_ones_queue_behind_without_trying() -> None:
    archive = FlakyArchive()
    writer = writer_for(archive, retry_wait=(1.0, 1.0))
    archive.failing = True
    await writer.record(finished())
    tries = archive.tries
    started = time.monotonic()
    for _ in range(5):
        assert await writer.record(finished()) is False
    assert time.monotonic() - started < 0.1
    assert archive.tries == tries  # none tried inline: MongoDB is known to be away
    assert writer.pending == 6
    await writer.close(grace=0)


async def test_a_slow_write_goes_to_the_background_after_the_inline_timeout() -> None:
    archive = FlakyArchive()
    writer = writer_for(archive)
    archive.hanging = True
    started = time.monotonic()
    assert await writer.record(finished()) is False
    assert time.monotonic() - started < 1.0
    archive.hanging = False
    await eventually(lambda: len(archive.written) == 1)
    await writer.close()


async def test_the_newest_record_of_a_job_is_the_one_written() -> None:
    archive = FlakyArchive()
    writer = writer_for(archive)
    archive.failing = True
    await writer.record(finished(JobState.FAILED, job_id="j"))
    await writer.record(finished(JobState.COMPLETED, job_id="j"))  # replayed, then done
    archive.failing = False
    await eventually(lambda: writer.pending == 0)
    assert archive.written[-1] == ("j", "completed")
    await writer.close()


async def test_writes_are_given_up_after_their_retry_time() -> None:
    archive = FlakyArchive()
    writer = writer_for(archive, retry_for=0.1)
    archive.failing = True
    await writer.record(finished())
    await eventually(lambda: writer.pending == 0)
    assert archive.written == []
    await writer.close()


async def test_a_permanent_error_is_not_retried_in_the_background() -> None:
    archive = FlakyArchive()

    async def refuse(job: Job) -> bool:
        raise OperationFailure("not authorized", code=13)

    archive.record = refuse  # type: ignore[method-assign]
    writer = writer_for(archive)
    with pytest.raises(OperationFailure):  # logged by the runtime as a listener failure
        await writer.record(finished())
    assert writer.pending == 0


async def test_close_waits_a_little_then_reports_what_is_unwritten() -> None:
    archive = FlakyArchive()
    writer = writer_for(archive)
    archive.failing = True
    await writer.record(finished())
    started = time.monotonic()
    await writer.close(grace=0.2)
    assert 0.15 < time.monotonic() - started < 2
    assert writer.pending == 0
