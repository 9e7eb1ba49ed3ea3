"""Cancelling a job that has started: the worker sees the request before an attempt,
between retries and (for long attempts) during one; the job ends ``cancelled`` and is
never retried. A non-idempotent attempt in flight is let finish."""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import pytest

from flickrhub_core import Job, JobError, JobState, Target, TargetContext, cancel, hookimpl
from flickrhub_core.cancel import CancelWatch, cancel_requested, request_cancel
from flickrhub_core.errors import JobCancelled
from flickrhub_core.jobs import queue_name
from flickrhub_core.memory import MemoryJobStore
from flickrhub_core.runtime import Runtime, encode_message
from flickrhub_core.stores import CancelRequests
from flickrhub_core.worker import WorkerHost
from flickrhub_core.worker.photos import follow_ticket
from tests.helpers import finished, started, working


class Sleeper(Target):
    """Sleeps ``seconds`` (an idempotent call that takes long)."""

    name = "sleeper"
    seconds: ClassVar[float] = 30.0
    started: ClassVar[asyncio.Event]
    torn: ClassVar[bool] = False
    calls: ClassVar[int] = 0

    async def execute(self, ctx: TargetContext) -> Any:
        type(self).calls += 1
        type(self).started.set()
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            type(self).torn = True
            raise
        return {"slept": self.seconds}


class Upload(Sleeper):
    """A non-idempotent call that takes long: never torn."""

    name = "slowupload"
    idempotent = False
    fail: ClassVar[bool] = False

    async def execute(self, ctx: TargetContext) -> Any:
        result = await super().execute(ctx)
        if self.fail:
            raise JobError("Flickr is down", code="ERR_FLICKR_HTTP", retryable=True)
        return {**result, "saw_cancel": ctx.cancelled}


class Pager(Target):
    """Reads pages until it sees ``ctx.cancelled`` (a long, cooperative target)."""

    name = "pager"
    idempotent = False
    pages: ClassVar[int] = 0

    async def execute(self, ctx: TargetContext) -> Any:
        while True:
            ctx.raise_if_cancelled()
            type(self).pages += 1
            await asyncio.sleep(0.01)


class Flaky(Target):
    """Fails retryably; the first call also asks for its own cancellation."""

    name = "flaky"
    calls: ClassVar[int] = 0
    store: ClassVar[MemoryJobStore | None] = None

    async def execute(self, ctx: TargetContext) -> Any:
        type(self).calls += 1
        if self.store is not None:
            await request_cancel(self.store, ctx.job)
        raise JobError("busy", code="ERR_FLICKR_HTTP", retryable=True)


def plugin() -> tuple[str, object]:
    @hookimpl
    def register_targets(register: Callable[[Target], None]) -> None:
        for target in (Sleeper(), Upload(), Pager(), Flaky()):
            register(target)

    module = types.ModuleType("cancel_targets")
    module.register_targets = register_targets  # type: ignore[attr-defined]
    return ("cancel_targets", module)


@pytest.fixture(autouse=True)
def fast_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cancel, "WATCH_AFTER", 0.05)
    monkeypatch.setattr(cancel, "WATCH_INTERVAL", 0.02)
    Sleeper.seconds = 30.0
    Sleeper.started = asyncio.Event()
    Sleeper.torn = False
    Sleeper.calls = 0
    Upload.fail = False
    Upload.torn = False
    Upload.calls = 0
    Pager.pages = 0
    Flaky.calls = 0
    Flaky.store = None


@pytest.fixture
async def rt(make_runtime: Callable[..., Runtime]) -> AsyncIterator[Runtime]:
    runtime = make_runtime(plugin())
    async with started(runtime):
        yield runtime


@pytest.fixture
async def host(rt: Runtime) -> AsyncIterator[WorkerHost]:
    async with working(WorkerHost(rt, concurrency=4), grace=1) as worker:
        yield worker


async def running(rt: Runtime, target: str, **fields: Any) -> Job:
    job = await rt.enqueue(Job(user_id="u1", target=target, max_attempts=3, **fields))
    async with asyncio.timeout(5):
        await Sleeper.started.wait()
    return job


def events(rt: Runtime) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []

    @hookimpl
    def job_event(event: Any) -> None:
        seen.append((event.name, event.job.state.value))

    rt.plugins.pm.register(types.SimpleNamespace(job_event=job_event), name="spy")
    return seen


async def test_a_running_job_is_cancelled_and_never_retried(rt: Runtime, host: WorkerHost) -> None:
    seen = events(rt)
    job = await running(rt, "sleeper")
    await request_cancel(rt.jobs, job)
    done = await finished(rt, job.id)
    assert done.state is JobState.CANCELLED
    assert done.cancel_requested and done.attempts == 1
    assert Sleeper.torn and Sleeper.calls == 1
    await asyncio.sleep(0.1)
    assert Sleeper.calls == 1  # not run again
    assert await rt.broker.depth(queue_name("sleeper")) == 0  # acked, not requeued
    assert await rt.broker.peek_dead() == []
    assert seen[-1] == ("job_cancelled", "cancelled")


async def test_a_short_job_is_never_polled(rt: Runtime, host: WorkerHost) -> None:
    Sleeper.seconds = 0.0
    polls = 0
    real = rt.jobs.cancel_requested  # type: ignore[attr-defined]

    async def counting(job_id: str) -> bool:
        nonlocal polls
        polls += 1
        return bool(await real(job_id))

    rt.jobs.cancel_requested = counting  # type: ignore[attr-defined]
    job = await rt.enqueue(Job(user_id="u1", target="sleeper"))
    assert (await finished(rt, job.id)).state is JobState.COMPLETED
    assert polls == 0


async def test_a_job_cancelled_between_retries_ends_cancelled(
    rt: Runtime, host: WorkerHost
) -> None:
    assert isinstance(rt.jobs, MemoryJobStore)
    Flaky.store = rt.jobs  # the request arrives during the first attempt
    job = await rt.enqueue(Job(user_id="u1", target="flaky", max_attempts=3))
    done = await finished(rt, job.id)
    assert done.state is JobState.CANCELLED
    assert Flaky.calls == 1 and done.attempts == 1
    assert done.error is not None and done.error["message"] == "busy"  # what happened last
    assert not done.dead_lettered


async def test_a_retrying_job_coming_back_from_the_broker_is_cancelled_unrun(
    rt: Runtime, host: WorkerHost
) -> None:
    job = Job(user_id="u1", target="sleeper", state=JobState.RETRYING, attempts=1)
    await rt.jobs.save(job)
    await request_cancel(rt.jobs, job)
    await rt.broker.publish(queue_name("sleeper"), encode_message(job))
    done = await finished(rt, job.id)
    assert done.state is JobState.CANCELLED and done.attempts == 1
    assert Sleeper.calls == 0


async def test_an_upload_in_flight_is_not_torn_and_completes(rt: Runtime, host: WorkerHost) -> None:
    Sleeper.seconds = 0.3
    job = await running(rt, "slowupload")
    await request_cancel(rt.jobs, job)
    done = await finished(rt, job.id)
    assert not Upload.torn and Upload.calls == 1
    assert done.state is JobState.COMPLETED  # Flickr has the photo: the request came late
    assert done.result == {"slept": 0.3, "saw_cancel": True}


async def test_an_upload_that_fails_after_the_request_ends_cancelled_not_retried(
    rt: Runtime, host: WorkerHost
) -> None:
    Sleeper.seconds = 0.3
    Upload.fail = True
    job = await running(rt, "slowupload")
    await request_cancel(rt.jobs, job)
    done = await finished(rt, job.id)
    assert done.state is JobState.CANCELLED
    assert not Upload.torn and Upload.calls == 1  # retryable, but not retried
    assert done.error is not None and done.error["code"] == "ERR_FLICKR_HTTP"


async def test_a_cooperative_target_stops_at_its_next_check(rt: Runtime, host: WorkerHost) -> None:
    job = await rt.enqueue(Job(user_id="u1", target="pager"))
    while Pager.pages < 3:
        await asyncio.sleep(0.01)
    await request_cancel(rt.jobs, job)
    done = await finished(rt, job.id)
    assert done.state is JobState.CANCELLED
    pages = Pager.pages
    await asyncio.sleep(0.05)
    assert Pager.pages == pages


async def test_a_queued_job_taken_by_a_worker_meanwhile_is_still_cancelled(
    rt: Runtime, host: WorkerHost
) -> None:
    job = await running(rt, "sleeper")
    queued = job.model_copy(update={"state": JobState.QUEUED})
    await rt.cancel(queued)  # the API read it queued, just before the worker took it
    async with asyncio.timeout(5):
        while not Sleeper.torn:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    done = await rt.jobs.get(job.id)
    assert done is not None and done.state is JobState.CANCELLED and done.attempts == 1


async def test_shutdown_is_not_a_cancellation(rt: Runtime) -> None:
    worker = WorkerHost(rt)
    await worker.start()
    job = await running(rt, "sleeper")
    await worker.stop(grace=0.05)
    stored = await rt.jobs.get(job.id)
    assert stored is not None and stored.state is JobState.RUNNING
    assert await rt.broker.depth(queue_name("sleeper")) == 1  # given back, to run again


# --- the pieces -------------------------------------------------------------------------


async def test_the_memory_store_keeps_requests_beside_the_records() -> None:
    store = MemoryJobStore()
    assert isinstance(store, CancelRequests)
    job = Job(user_id="u1", target="rest", state=JobState.RUNNING)
    await store.request_cancel(job.id)  # unknown job: nothing kept
    assert not await store.cancel_requested(job.id)
    await store.save(job)
    await request_cancel(store, job)
    await store.save(job)  # the worker's next write does not lose it
    assert await cancel_requested(store, job.id)
    got = await store.get(job.id)
    assert got is not None and got.cancel_requested and got.status_view()["cancel_requested"]


class PlainStore:
    """A job store without the CancelRequests capability."""

    def __init__(self) -> None:
        self.inner = MemoryJobStore()

    async def save(self, job: Job) -> None:
        await self.inner.save(job)

    async def get(self, job_id: str) -> Job | None:
        return await self.inner.get(job_id)


async def test_stores_without_the_capability_get_the_flag_in_the_record() -> None:
    store = PlainStore()
    job = Job(user_id="u1", target="rest", state=JobState.RUNNING)
    await store.save(job)
    await request_cancel(store, job)  # type: ignore[arg-type]
    assert await cancel_requested(store, job.id)  # type: ignore[arg-type]
    done = job.model_copy(update={"id": "done", "state": JobState.COMPLETED})
    await store.save(done)
    await request_cancel(store, done)  # type: ignore[arg-type]
    assert not await cancel_requested(store, "done")  # type: ignore[arg-type]


async def test_the_watch_passes_on_a_cancellation_of_its_caller() -> None:
    store = MemoryJobStore()
    watch = CancelWatch(store, "job", hard=True, after=0.01, interval=0.01)
    task = asyncio.create_task(watch.run(lambda: asyncio.sleep(30)))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_watch_turns_a_request_into_job_cancelled() -> None:
    store = MemoryJobStore()
    job = Job(user_id="u1", target="rest")
    await store.save(job)
    watch = CancelWatch(store, job.id, hard=True, after=0.01, interval=0.01)
    asyncio.get_running_loop().call_later(
        0.05, lambda: asyncio.ensure_future(store.request_cancel(job.id))
    )
    with pytest.raises(JobCancelled):
        await watch.run(lambda: asyncio.sleep(30))
    assert watch.requested


# --- ticket polling ---------------------------------------------------------------------


class Processing:
    """A Flickr whose ticket is still processing."""

    def __init__(self) -> None:
        self.polls = 0

    async def check_tickets(self, tickets: list[str]) -> dict[str, Any]:
        self.polls += 1
        return {"uploader": {"ticket": [{"id": tickets[0], "complete": "0"}]}}


async def test_ticket_polling_stops_when_cancelled_and_returns_the_upload_answer(
    rt: Runtime,
) -> None:
    flickr = Processing()

    async def report(progress: dict[str, Any]) -> None:
        pass

    ctx = TargetContext(
        job=Job(user_id="u1", target="upload"),
        flickr=flickr,  # type: ignore[arg-type]
        blobs=rt.blobs,
        settings=rt.settings,
        log=rt.log,
        report_progress=report,
    )
    answer = {"stat": "ok", "ticketid": {"_content": "T-1"}}
    task = asyncio.create_task(follow_ticket(ctx, answer))
    while flickr.polls == 0:
        await asyncio.sleep(0.01)
    ctx.cancel_event.set()
    async with asyncio.timeout(0.3):  # at once, not after the 0.5 s wait between polls
        assert await task == answer
    assert flickr.polls == 1
    with pytest.raises(JobCancelled):
        ctx.raise_if_cancelled()
