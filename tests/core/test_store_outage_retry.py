"""A worker keeps a message while the job store is away and tries its job again in
place (backoff with jitter, ``job_store_unavailable`` each time) for up to
``FLICKRHUB_STORE_WAIT_SECONDS``: requeued each time, the message would count towards
a quorum queue's delivery limit (20 since RabbitMQ 4.0) and a healthy job could be
dead-lettered by a Redis restart. A drain still gives the message back; other
failures keep the pause-and-requeue.

The job store here is the memory store behind a connection that can fail, as a
Redis client's does while Redis restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import pytest

from flickrhub_core import Job, JobState, Target, TargetContext
from flickrhub_core.broker import Delivery
from flickrhub_core.memory import MemoryJobStore
from flickrhub_core.runtime import Runtime
from flickrhub_core.worker import WorkerHost
from tests.helpers import connected_token, started, targets_plugin


class Echo(Target):
    name = "echo"
    calls: ClassVar[int] = 0

    async def execute(self, ctx: TargetContext) -> Any:
        type(self).calls += 1
        return {"ok": True}


class FlakyJobStore(MemoryJobStore):
    """Refuses reads and writes with ``error`` while :attr:`away` (a restart) or for
    its next :attr:`failures` calls; :attr:`refused` counts the refusals."""

    def __init__(self) -> None:
        super().__init__()
        self.away = False
        self.failures = 0
        self.refused = 0
        self.error: Exception = ConnectionError("job store restarting")

    def _check(self) -> None:
        if self.away or self.failures > 0:
            self.failures = max(0, self.failures - 1)
            self.refused += 1
            raise self.error

    async def get(self, job_id: str) -> Job | None:
        self._check()
        return await super().get(job_id)

    async def peek(self, job_id: str) -> Job | None:
        """The job as stored, read past the failing connection (the test's view)."""
        return await super().get(job_id)

    async def finished(self, job_id: str) -> Job:
        async with asyncio.timeout(5):
            while (job := await self.peek(job_id)) is None or not job.state.finished:
                await asyncio.sleep(0.01)
        return job

    async def save(self, job: Job) -> None:
        self._check()
        await super().save(job)


class RecordingHost(WorkerHost):
    """Notes whether each delivery it handles is a redelivery."""

    deliveries: list[bool]

    async def handle(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery.redelivered)
        await super().handle(delivery)


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    Echo.calls = 0
    monkeypatch.setattr("flickrhub_core.worker.host.STORE_RETRY_WAIT", (0.01, 0.02))
    monkeypatch.setattr("flickrhub_core.worker.host.REQUEUE_PAUSE", 0.01)


@pytest.fixture
def store() -> FlakyJobStore:
    return FlakyJobStore()


@pytest.fixture
async def rt(make_runtime: Callable[..., Runtime], store: FlakyJobStore) -> AsyncIterator[Runtime]:
    runtime = make_runtime(targets_plugin(Echo()))
    runtime.backends.jobs = store
    async with started(runtime):
        yield runtime


@pytest.fixture
async def host(rt: Runtime) -> AsyncIterator[RecordingHost]:
    worker = RecordingHost(rt, concurrency=2)
    worker.deliveries = []
    try:
        yield worker
    finally:
        await worker.stop(grace=1)


def events(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["event"] == name]


async def test_a_job_waits_for_the_store_and_completes_from_one_delivery(
    rt: Runtime, store: FlakyJobStore, host: RecordingHost, lines: list[dict[str, Any]]
) -> None:
    job = await rt.enqueue(Job(user_id="u1", target="echo"))
    store.failures = 3
    await host.start()
    done = await store.finished(job.id)
    assert (done.state, done.attempts, Echo.calls) == (JobState.COMPLETED, 1, 1)
    assert host.deliveries == [False]
    waits = events(lines, "job_store_unavailable")
    assert [(w["job_id"], w["try_number"], w["error"]) for w in waits] == [
        (job.id, n, "ConnectionError") for n in (1, 2, 3)
    ]
    assert not events(lines, "job_handling_failed")


async def test_a_drain_during_the_wait_gives_the_message_back(
    rt: Runtime, store: FlakyJobStore, host: RecordingHost
) -> None:
    job = await rt.enqueue(Job(user_id="u1", target="echo"))
    store.away = True
    await host.start()
    async with asyncio.timeout(5):
        while store.refused < 2:
            await asyncio.sleep(0.01)
        # However long the grace, a job waiting for the store does not hold the drain.
        await host.stop(grace=3600)
    store.away = False
    assert await rt.broker.depth(job.queue) == 1
    assert Echo.calls == 0
    assert (await store.peek(job.id)).state is JobState.QUEUED  # type: ignore[union-attr]


async def test_a_store_away_past_the_wait_gives_the_message_back(
    make_runtime: Callable[..., Runtime], store: FlakyJobStore, lines: list[dict[str, Any]]
) -> None:
    rt = make_runtime(targets_plugin(Echo()), store_wait_seconds=0.05)
    rt.backends.jobs = store
    await rt.start()
    await rt.tokens.put(connected_token())
    host = RecordingHost(rt)
    host.deliveries = []
    try:
        job = await rt.enqueue(Job(user_id="u1", target="echo"))
        store.away = True
        await host.start()
        async with asyncio.timeout(5):
            while len(host.deliveries) < 2:
                await asyncio.sleep(0.01)
        store.away = False
        done = await store.finished(job.id)
    finally:
        await host.stop(grace=1)
        await rt.close()
    assert (done.state, Echo.calls) == (JobState.COMPLETED, 1)
    assert host.deliveries[:2] == [False, True]
    assert events(lines, "job_handling_failed")


async def test_an_unexpected_failure_is_requeued_without_waiting_in_place(
    rt: Runtime, store: FlakyJobStore, host: RecordingHost, lines: list[dict[str, Any]]
) -> None:
    job = await rt.enqueue(Job(user_id="u1", target="echo"))
    store.error = RuntimeError("a bug, not an outage")
    store.failures = 1
    await host.start()
    done = await store.finished(job.id)
    assert done.state is JobState.COMPLETED
    assert host.deliveries == [False, True]
    assert not events(lines, "job_store_unavailable")
    assert len(events(lines, "job_handling_failed")) == 1
