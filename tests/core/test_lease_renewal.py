"""How a worker host keeps the leases of the jobs it runs (``FLICKRHUB_JOB_LEASE_SECONDS``):
one task per host renews them all, a lease another worker took is reported lost, and a
second copy of a job the host runs already waits for it instead of running beside it.

The job store is the in-memory one given leases (tests/faults/test_leases.py); "another
worker" is played by the test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import pytest
from structlog.testing import capture_logs

from flickrhub_core import Job, JobState, Target, TargetContext
from flickrhub_core.jobs import queue_name
from flickrhub_core.runtime import Runtime, encode_message
from flickrhub_core.worker import WorkerHost
from tests.faults.test_leases import OTHER, LeasingStore
from tests.helpers import finished, started, targets_plugin, working

LEASE = 1.0  # seconds; renewed every third of it


class Long(Target):
    """Outlives its lease unless the lease is renewed."""

    name = "long"
    seconds: ClassVar[float] = 1.4
    calls: ClassVar[int] = 0

    async def execute(self, ctx: TargetContext) -> Any:
        type(self).calls += 1
        await asyncio.sleep(self.seconds)
        return {"ok": True}


@pytest.fixture
async def rt(make_runtime: Callable[..., Runtime]) -> AsyncIterator[Runtime]:
    Long.seconds, Long.calls = 1.4, 0
    runtime = make_runtime(targets_plugin(Long()), job_lease_seconds=LEASE)
    runtime.backends.jobs = LeasingStore()
    async with started(runtime):
        yield runtime


@pytest.fixture
async def host(rt: Runtime) -> AsyncIterator[WorkerHost]:
    async with working(WorkerHost(rt, concurrency=4), grace=3) as worker:
        yield worker


def store(rt: Runtime) -> LeasingStore:
    assert isinstance(rt.jobs, LeasingStore)
    return rt.jobs


def renewers() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if "lease" in t.get_name() and not t.done()]


async def test_one_task_renews_the_leases_of_all_the_jobs_a_host_runs(
    rt: Runtime, host: WorkerHost
) -> None:
    jobs = [await rt.enqueue(Job(user_id="u1", target="long")) for _ in range(3)]
    await asyncio.sleep(LEASE * 1.2)  # past the leases' first TTL

    assert len(renewers()) == 1
    for job in jobs:
        assert await store(rt).take_lease(job.id, OTHER, LEASE) is False
    for job in jobs:
        assert (await finished(rt, job.id)).state is JobState.COMPLETED
    await asyncio.sleep(LEASE / 3 + 0.2)
    assert renewers() == []  # no lease held, no task


async def test_a_lease_another_worker_took_is_reported_lost(rt: Runtime, host: WorkerHost) -> None:
    with capture_logs() as logs:
        job = await rt.enqueue(Job(user_id="u1", target="long"))
        while Long.calls == 0:
            await asyncio.sleep(0.01)
        # This host's lease lapsed (a long pause) and another worker took the job.
        store(rt).leases[job.id] = (OTHER, time.monotonic() + 60)
        await asyncio.sleep(LEASE / 3 + 0.2)

    lost = [line for line in logs if line["event"] == "job_lease_lost"]
    assert [line["job_id"] for line in lost] == [job.id]
    assert store(rt).leases[job.id][0] == OTHER  # not taken back


async def test_a_second_copy_of_a_job_the_host_runs_waits_for_it(
    rt: Runtime, host: WorkerHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("flickrhub_core.worker.host.LEASE_WAIT", 0.05)
    Long.seconds = 0.3
    job = await rt.enqueue(Job(user_id="u1", target="long"))
    while Long.calls == 0:
        await asyncio.sleep(0.01)
    # The broker hands this host the job's message again (a dropped connection).
    await rt.broker.publish(queue_name("long"), encode_message(job))

    assert (await finished(rt, job.id)).state is JobState.COMPLETED
    await asyncio.sleep(0.2)
    assert Long.calls == 1
    assert await rt.broker.depth(queue_name("long")) == 0
