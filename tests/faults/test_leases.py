"""The worker host's job leases, in one process: a job store with leases
(:class:`~flickrhub_core.stores.JobLeases`, here the in-memory store given them) and a
lease held by "another worker" played by the test.

A message whose job another worker is running (its lease is live) is not run: the
host waits, and acks it once the other worker has finished the job. A lease that is
given up or lapses lets the job run. A host gives its lease up when it leaves a job
unfinished (a retry scheduled), keeps it (to lapse) when the job finished, and renews
it while a long job runs.
"""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import pytest

from flickrhub_core import Job, JobError, JobState, Target, TargetContext, hookimpl
from flickrhub_core.memory import MemoryJobStore
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import JobLeases
from flickrhub_core.worker import WorkerHost
from tests.helpers import finished, started, working

OTHER = "another-worker"


class LeasingStore(MemoryJobStore):
    """The in-memory job store with leases, as the Redis store keeps them."""

    def __init__(self) -> None:
        super().__init__()
        self.leases: dict[str, tuple[str, float]] = {}
        self.taken: list[tuple[str, str]] = []
        self.dropped: list[tuple[str, str]] = []

    async def take_lease(self, job_id: str, holder: str, ttl: float) -> bool:
        now = time.monotonic()
        current = self.leases.get(job_id)
        if current is not None and current[0] != holder and current[1] > now:
            return False
        self.leases[job_id] = (holder, now + ttl)
        self.taken.append((job_id, holder))
        return True

    async def drop_lease(self, job_id: str, holder: str) -> None:
        self.dropped.append((job_id, holder))
        if self.leases.get(job_id, ("", 0.0))[0] == holder:
            del self.leases[job_id]


class Slow(Target):
    name = "slow"
    seconds: ClassVar[float] = 0.0
    script: ClassVar[list[Any]] = []
    calls: ClassVar[int] = 0

    async def execute(self, ctx: TargetContext) -> Any:
        type(self).calls += 1
        await asyncio.sleep(self.seconds)
        step = self.script.pop(0) if self.script else {"ok": True}
        if isinstance(step, BaseException):
            raise step
        return step


def targets_plugin() -> tuple[str, object]:
    @hookimpl
    def register_targets(register: Callable[[Target], None]) -> None:
        register(Slow())

    module = types.ModuleType("lease_targets")
    module.register_targets = register_targets  # type: ignore[attr-defined]
    return ("lease_targets", module)


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    Slow.seconds, Slow.script, Slow.calls = 0.0, [], 0
    monkeypatch.setattr("flickrhub_core.worker.host.LEASE_WAIT", 0.02)


@pytest.fixture
async def rt(make_runtime: Callable[..., Runtime]) -> AsyncIterator[Runtime]:
    runtime = make_runtime(targets_plugin(), job_lease_seconds=1.0)
    runtime.backends.jobs = LeasingStore()
    async with started(runtime):
        yield runtime


@pytest.fixture
async def host(rt: Runtime) -> AsyncIterator[WorkerHost]:
    async with working(WorkerHost(rt, concurrency=2), grace=1) as worker:
        yield worker


def store(rt: Runtime) -> LeasingStore:
    assert isinstance(rt.jobs, LeasingStore) and isinstance(rt.jobs, JobLeases)
    return rt.jobs


async def test_a_job_another_worker_runs_is_not_run_again(rt: Runtime, host: WorkerHost) -> None:
    job = Job(user_id="u1", target="slow")
    await store(rt).take_lease(job.id, OTHER, 60)  # the other worker runs it ...
    await rt.enqueue(job)  # ... when a copy of its message arrives here
    await asyncio.sleep(0.2)
    assert Slow.calls == 0
    running = await rt.jobs.get(job.id)
    assert running is not None and running.state is JobState.QUEUED
    # The other worker finishes the job: the copy here is acked without running it.
    running.state, running.result = JobState.COMPLETED, {"by": OTHER}
    await rt.jobs.save(running)
    done = await finished(rt, job.id)
    await asyncio.sleep(0.1)
    assert (done.result, Slow.calls) == ({"by": OTHER}, 0)
    assert await rt.broker.depth("flickr_slow") == 0


async def test_a_lease_given_up_or_lapsed_lets_the_job_run(rt: Runtime, host: WorkerHost) -> None:
    first, second = Job(user_id="u1", target="slow"), Job(user_id="u1", target="slow")
    await store(rt).take_lease(first.id, OTHER, 60)
    await store(rt).take_lease(second.id, OTHER, 0.3)  # a worker that died
    await rt.enqueue(first)
    await rt.enqueue(second)
    assert (await finished(rt, second.id)).state is JobState.COMPLETED
    await store(rt).drop_lease(first.id, OTHER)
    assert (await finished(rt, first.id)).state is JobState.COMPLETED
    assert Slow.calls == 2


async def test_the_lease_is_kept_when_the_job_finished_and_given_up_when_not(
    rt: Runtime, host: WorkerHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("flickrhub_core.worker.host.REQUEUE_PAUSE", 0.01)
    Slow.script = [JobError("busy", retryable=True), {"ok": 1}]
    retried = await rt.enqueue(Job(user_id="u1", target="slow", max_attempts=2))
    await finished(rt, retried.id)
    # In-process retries: one delivery, one lease, kept (to lapse) once the job finished.
    assert store(rt).leases[retried.id][0] == host.holder
    assert (retried.id, host.holder) not in store(rt).dropped

    # A delivery that fails (the token store is away once) leaves the job unfinished:
    # its lease is given up at once, so the next delivery need not wait for it to lapse.
    real_get = rt.tokens.get
    failures = [ConnectionError("token store away")]

    async def flaky_get(user_id: str) -> Any:
        if failures:
            raise failures.pop()
        return await real_get(user_id)

    monkeypatch.setattr(rt.tokens, "get", flaky_get)
    job = await rt.enqueue(Job(user_id="u1", target="slow"))
    assert (await finished(rt, job.id)).state is JobState.COMPLETED
    assert store(rt).dropped == [(job.id, host.holder)]


async def test_a_long_job_keeps_its_lease(rt: Runtime, host: WorkerHost) -> None:
    Slow.seconds = 1.5  # longer than the lease (1 s): renewed while it runs
    job = await rt.enqueue(Job(user_id="u1", target="slow"))
    await asyncio.sleep(1.2)
    assert await store(rt).take_lease(job.id, OTHER, 1) is False
    assert (await finished(rt, job.id)).state is JobState.COMPLETED
    assert sum(1 for taken in store(rt).taken if taken == (job.id, host.holder)) >= 2
