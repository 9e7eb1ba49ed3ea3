"""The worker host: retries, outcomes, dead letters, redelivery and caching."""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import pytest
from structlog.testing import capture_logs

from flickrhub_core import Job, JobError, JobState, Target, TargetContext, hookimpl
from flickrhub_core.errors import FlickrTransportError
from flickrhub_core.jobs import DLQ, queue_name, utcnow
from flickrhub_core.runtime import Runtime, encode_message
from flickrhub_core.settings import Settings
from flickrhub_core.stores import StoredToken
from flickrhub_core.worker import WorkerHost, runner
from tests.helpers import (
    connected_token,
    dead_job_ids,
    finished,
    started,
    targets_plugin,
    working,
)


class Scripted(Target):
    """Runs a script of outcomes: an exception to raise, a value to return, or a future
    whose value to return once the test sets it."""

    name = "scripted"
    script: ClassVar[list[Any]] = []
    calls: ClassVar[int] = 0

    async def execute(self, ctx: TargetContext) -> Any:
        type(self).calls += 1
        step = self.script.pop(0) if self.script else {"ok": True}
        if isinstance(step, BaseException):
            raise step
        if step == "hang":
            await asyncio.sleep(3600)
        if isinstance(step, asyncio.Future):
            return await step
        return step


class Unsafe(Scripted):
    name = "unsafe"
    idempotent = False


class CachedRead(Scripted):
    name = "cachedread"

    def cache_ttl(self, job: Job, settings: Settings) -> float | None:
        return 60.0

    def is_write(self, job: Job) -> bool:
        return False


class Write(Scripted):
    name = "write"


@pytest.fixture(autouse=True)
def reset_scripts() -> None:
    for cls in (Scripted, Unsafe, CachedRead, Write):
        cls.script = []
        cls.calls = 0


@pytest.fixture
async def rt(make_runtime: Callable[..., Runtime]) -> AsyncIterator[Runtime]:
    runtime = make_runtime(targets_plugin(Scripted(), Unsafe(), CachedRead(), Write()))
    async with started(runtime):
        yield runtime


@pytest.fixture
async def host(rt: Runtime) -> AsyncIterator[WorkerHost]:
    async with working(WorkerHost(rt, concurrency=4), grace=1) as worker:
        yield worker


async def submit(rt: Runtime, target: str = "scripted", **fields: Any) -> Job:
    return await rt.enqueue(Job(user_id="u1", target=target, max_attempts=3, **fields))


async def test_successful_job_is_completed_with_its_result(rt: Runtime, host: WorkerHost) -> None:
    Scripted.script = [{"stat": "ok", "n": 1}]
    job = await finished(rt, (await submit(rt)).id)
    assert job.state is JobState.COMPLETED
    assert job.result == {"stat": "ok", "n": 1}
    assert job.attempts == 1
    assert job.finished_at is not None


async def test_a_result_over_the_size_limit_fails_the_job(
    rt: Runtime, host: WorkerHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "MAX_RESULT_BYTES", 100)
    Scripted.script = [{"photos": "x" * 200}]
    job = await finished(rt, (await submit(rt)).id)
    assert job.state is JobState.FAILED
    assert job.error is not None and job.error["code"] == "ERR_RESULT_TOO_LARGE"
    assert job.result is None


async def test_a_result_with_an_integer_beyond_64_bits_is_kept_exactly(
    rt: Runtime, host: WorkerHost
) -> None:
    Scripted.script = [{"n": 2**70, "name": "Zoë"}]
    job = await finished(rt, (await submit(rt)).id)
    assert job.state is JobState.COMPLETED
    assert job.result == {"n": 2**70, "name": "Zoë"}


def test_a_result_is_measured_as_utf_8_json() -> None:
    assert runner.result_json({"name": "Zoë", "n": [1, 2]}) == '{"name":"Zoë","n":[1,2]}'.encode()
    assert runner.result_json({"n": 2**70}) == b'{"n":1180591620717411303424}'


async def test_retryable_error_is_retried_then_succeeds(rt: Runtime, host: WorkerHost) -> None:
    Scripted.script = [JobError("busy", retryable=True), {"ok": 2}]
    job = await finished(rt, (await submit(rt)).id)
    assert job.state is JobState.COMPLETED
    assert job.attempts == 2
    assert job.result == {"ok": 2}


async def test_permanent_error_fails_at_once(rt: Runtime, host: WorkerHost) -> None:
    Scripted.script = [JobError("bad method", code="ERR_X")]
    job = await finished(rt, (await submit(rt)).id)
    assert job.state is JobState.FAILED
    assert job.attempts == 1
    assert job.error == {"code": "ERR_X", "message": "bad method", "retryable": False}
    assert not job.dead_lettered


async def test_exhausted_job_is_dead_lettered(rt: Runtime, host: WorkerHost) -> None:
    Scripted.script = [JobError("busy", retryable=True)] * 3
    job = await finished(rt, (await submit(rt)).id)
    assert job.state is JobState.FAILED
    assert job.attempts == 3
    assert job.dead_lettered
    await asyncio.sleep(0.05)
    dead = await rt.broker.peek_dead()
    assert [job_id for job_id, _ in dead_job_ids(dead)] == [job.id]


async def test_unexpected_exception_fails_without_leaking_details(
    rt: Runtime, host: WorkerHost
) -> None:
    Scripted.script = [RuntimeError("password=hunter2")]
    job = await finished(rt, (await submit(rt)).id)
    assert job.state is JobState.FAILED
    assert job.error is not None
    assert "hunter2" not in job.error["message"]
    assert job.error["code"] == "ERR_TARGET"


async def test_unknown_outcome_of_non_idempotent_job_is_not_retried(
    rt: Runtime, host: WorkerHost
) -> None:
    Unsafe.script = [FlickrTransportError("read timeout", retryable=True, sent=True)]
    job = await finished(rt, (await submit(rt, target="unsafe")).id)
    assert job.state is JobState.FAILED
    assert job.attempts == 1
    assert Unsafe.calls == 1
    assert job.error is not None and job.error["code"] == "ERR_OUTCOME_UNKNOWN"


async def test_non_idempotent_job_is_retried_when_request_never_left(
    rt: Runtime, host: WorkerHost
) -> None:
    Unsafe.script = [FlickrTransportError("connection refused", retryable=True, sent=False)]
    job = await finished(rt, (await submit(rt, target="unsafe")).id)
    assert job.state is JobState.COMPLETED
    assert Unsafe.calls == 2


async def test_redelivered_finished_job_is_not_run_again(rt: Runtime, host: WorkerHost) -> None:
    job = await finished(rt, (await submit(rt)).id)
    await rt.broker.publish(queue_name("scripted"), encode_message(job))
    await asyncio.sleep(0.1)
    assert Scripted.calls == 1
    assert await rt.broker.depth(queue_name("scripted")) == 0


async def test_redelivered_interrupted_upload_fails_as_outcome_unknown(rt: Runtime) -> None:
    job = Job(user_id="u1", target="unsafe", state=JobState.RUNNING, attempts=1)
    await rt.jobs.save(job)
    await rt.broker.publish(queue_name("unsafe"), encode_message(job))
    worker = WorkerHost(rt)
    await worker.start()
    try:
        done = await finished(rt, job.id)
    finally:
        await worker.stop(grace=1)
    assert Unsafe.calls == 0
    assert done.error is not None and done.error["code"] == "ERR_OUTCOME_UNKNOWN"


async def test_job_interrupted_by_shutdown_is_requeued_and_rerun(rt: Runtime) -> None:
    Scripted.script = ["hang", {"ok": "second run"}]
    job = await submit(rt)
    worker = WorkerHost(rt)
    await worker.start()
    while Scripted.calls == 0:
        await asyncio.sleep(0.01)
    await worker.stop(grace=0.05)
    assert (await rt.jobs.get(job.id)).state is JobState.RUNNING  # type: ignore[union-attr]
    assert await rt.broker.depth(queue_name("scripted")) == 1
    worker = WorkerHost(rt)
    await worker.start()
    try:
        done = await finished(rt, job.id)
    finally:
        await worker.stop(grace=1)
    assert done.result == {"ok": "second run"}


async def test_cancelled_job_is_not_run(rt: Runtime) -> None:
    job = await submit(rt)
    await rt.cancel(job)
    worker = WorkerHost(rt)
    await worker.start()
    await asyncio.sleep(0.1)
    await worker.stop(grace=1)
    assert Scripted.calls == 0
    assert (await rt.jobs.get(job.id)).state is JobState.CANCELLED  # type: ignore[union-attr]


async def test_job_without_connected_account_fails(rt: Runtime, host: WorkerHost) -> None:
    job = await rt.enqueue(Job(user_id="nobody", target="scripted"))
    done = await finished(rt, job.id)
    assert done.error is not None and done.error["code"] == "ERR_TOKEN_NOT_FOUND"


async def test_read_is_served_from_cache_the_second_time(rt: Runtime, host: WorkerHost) -> None:
    CachedRead.script = [{"photos": 1}, {"photos": 2}]
    first = await finished(rt, (await submit(rt, target="cachedread", method="m")).id)
    second = await finished(rt, (await submit(rt, target="cachedread", method="m")).id)
    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.result == {"photos": 1}
    assert CachedRead.calls == 1


async def test_a_cache_hit_shows_the_time_the_answer_has_left(
    rt: Runtime, host: WorkerHost
) -> None:
    CachedRead.script = [{"photos": 1}]
    first = await finished(rt, (await submit(rt, target="cachedread", method="m")).id)
    second = await finished(rt, (await submit(rt, target="cachedread", method="m")).id)

    assert "cache_ttl_seconds" not in first.status_view()["returnvalue"]
    returnvalue = second.status_view()["returnvalue"]
    assert list(returnvalue) == ["from_cache", "cache_ttl_seconds", "flickr"]
    assert 59 <= returnvalue["cache_ttl_seconds"] <= 60  # CachedRead caches for 60 s


async def test_cache_is_per_user(rt: Runtime, host: WorkerHost) -> None:
    await rt.tokens.put(
        StoredToken(
            user_id="u2",
            consumer_key="key",
            consumer_secret="s",
            token="t2",
            token_secret="s2",
            user_nsid="2@N01",
        )
    )
    CachedRead.script = [{"who": 1}, {"who": 2}]
    await finished(rt, (await submit(rt, target="cachedread", method="m")).id)
    other = await rt.enqueue(Job(user_id="u2", target="cachedread", method="m"))
    assert (await finished(rt, other.id)).result == {"who": 2}


async def test_write_invalidates_the_users_cached_reads(rt: Runtime, host: WorkerHost) -> None:
    CachedRead.script = [{"v": 1}, {"v": 2}]
    await finished(rt, (await submit(rt, target="cachedread", method="m")).id)
    await finished(rt, (await submit(rt, target="write", method="w")).id)
    again = await finished(rt, (await submit(rt, target="cachedread", method="m")).id)
    assert (again.from_cache, again.result) == (False, {"v": 2})


async def test_a_read_answered_before_a_write_finished_is_not_cached_after_it(
    rt: Runtime, host: WorkerHost
) -> None:
    answer: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
    CachedRead.script = [answer, {"v": "after the write"}]
    read = await submit(rt, target="cachedread", method="m")
    while CachedRead.calls == 0:  # the read has missed the cache and is at Flickr
        await asyncio.sleep(0.01)
    await finished(rt, (await submit(rt, target="write", method="w")).id)
    answer.set_result({"v": "before the write"})  # Flickr's answer, from before the write
    assert (await finished(rt, read.id)).result == {"v": "before the write"}

    again = await finished(rt, (await submit(rt, target="cachedread", method="m")).id)

    assert (again.from_cache, again.result) == (False, {"v": "after the write"})


async def test_failed_read_is_not_cached(rt: Runtime, host: WorkerHost) -> None:
    CachedRead.script = [JobError("not found"), {"v": 2}]
    await finished(rt, (await submit(rt, target="cachedread", method="m")).id)
    again = await finished(rt, (await submit(rt, target="cachedread", method="m")).id)
    assert (again.from_cache, again.result) == (False, {"v": 2})


async def test_cache_bypass_skips_the_cache(rt: Runtime, host: WorkerHost) -> None:
    CachedRead.script = [{"v": 1}, {"v": 2}]
    await finished(rt, (await submit(rt, target="cachedread", method="m")).id)
    job = await submit(rt, target="cachedread", method="m", cache_bypass=True)
    assert (await finished(rt, job.id)).result == {"v": 2}


async def test_every_state_change_is_announced(rt: Runtime, host: WorkerHost) -> None:
    seen: list[tuple[str, str]] = []

    @hookimpl
    def job_event(event: Any) -> None:
        seen.append((event.name, event.job.state.value))

    rt.plugins.pm.register(types.SimpleNamespace(job_event=job_event), name="spy")
    Scripted.script = [JobError("busy", retryable=True), {"ok": 1}]
    job = await submit(rt)
    await finished(rt, job.id)
    await asyncio.sleep(0.05)
    assert seen == [
        ("job_enqueued", "queued"),
        ("job_started", "running"),
        ("job_retrying", "retrying"),
        ("job_started", "running"),
        ("job_completed", "completed"),
    ]


async def test_unreadable_message_is_dead_lettered(rt: Runtime, host: WorkerHost) -> None:
    await rt.broker.publish(queue_name("scripted"), b"not json")
    await asyncio.sleep(0.1)
    assert await rt.broker.peek_dead() == [(b"not json", "unreadable message")]
    assert DLQ == "flickr_dlq"


async def test_failure_to_handle_a_message_gives_it_back(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("flickrhub_core.worker.host.REQUEUE_PAUSE", 0.01)
    job = await submit(rt)
    calls = 0
    real_get = rt.jobs.get

    async def flaky_get(job_id: str) -> Job | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("job store down")
        return await real_get(job_id)

    monkeypatch.setattr(rt.jobs, "get", flaky_get)
    worker = WorkerHost(rt)
    await worker.start()
    try:
        async with asyncio.timeout(5):
            while (done := await real_get(job.id)) is None or not done.state.finished:
                await asyncio.sleep(0.01)
    finally:
        await worker.stop(grace=1)
    assert done.state is JobState.COMPLETED
    assert calls >= 2


# --- a job finished elsewhere meanwhile (JobStore.save refuses a second outcome) -------


class Overtaken(Target):
    """While it runs, another worker (which took the job over when this one's lease
    lapsed) stores its own outcome, ``other``; then this run ends with ``then``."""

    name = "overtaken"
    store: ClassVar[Any] = None
    other: ClassVar[JobState] = JobState.FAILED
    then: ClassVar[Any] = {"ok": "late"}

    async def execute(self, ctx: TargetContext) -> Any:
        job = await self.store.get(ctx.job.id)
        job.state = self.other
        job.finished_at = utcnow()
        if self.other is JobState.FAILED:
            job.error = {"code": "ERR_OUTCOME_UNKNOWN", "message": "by the other worker"}
        else:
            job.result = {"ok": "by the other worker"}
        await self.store.save(job)
        if isinstance(self.then, BaseException):
            raise self.then
        return self.then


@pytest.fixture
async def overtaken_rt(make_runtime: Callable[..., Runtime]) -> AsyncIterator[Runtime]:
    runtime = make_runtime(targets_plugin(Overtaken()))
    await runtime.start()
    await runtime.tokens.put(connected_token())
    Overtaken.store = runtime.jobs
    Overtaken.other, Overtaken.then = JobState.FAILED, {"ok": "late"}
    try:
        yield runtime
    finally:
        await runtime.close()


def spy_on_job_events(rt: Runtime) -> list[str]:
    seen: list[str] = []

    @hookimpl
    def job_event(event: Any) -> None:
        seen.append(event.name)

    rt.plugins.pm.register(types.SimpleNamespace(job_event=job_event), name="spy")
    return seen


async def test_the_outcome_another_worker_stored_first_stands(overtaken_rt: Runtime) -> None:
    rt = overtaken_rt
    seen = spy_on_job_events(rt)
    host = WorkerHost(rt)
    await host.start()
    try:
        with capture_logs() as logs:
            job = await rt.enqueue(Job(user_id="u1", target="overtaken"))
            done = await finished(rt, job.id)
            while not host.processed:  # this run ended too
                await asyncio.sleep(0.01)
    finally:
        await host.stop(grace=1)

    assert done.state is JobState.FAILED
    assert done.error is not None and done.error["message"] == "by the other worker"
    assert "job_completed" not in seen and "job_failed" not in seen  # nothing announced again
    refused = [line for line in logs if line["event"] == "job_already_finished"]
    assert [(r["state"], r["stored_state"]) for r in refused] == [("completed", "failed")]
    assert await rt.broker.peek_dead() == []


async def test_a_job_another_worker_completed_is_not_dead_lettered_here(
    overtaken_rt: Runtime,
) -> None:
    rt = overtaken_rt
    Overtaken.other = JobState.COMPLETED
    Overtaken.then = JobError("busy", retryable=True)  # this run's last attempt fails
    seen = spy_on_job_events(rt)
    host = WorkerHost(rt)
    await host.start()
    try:
        job = await rt.enqueue(Job(user_id="u1", target="overtaken", max_attempts=1))
        done = await finished(rt, job.id)
        while not host.processed:  # this run ended too
            await asyncio.sleep(0.01)
    finally:
        await host.stop(grace=1)

    assert done.state is JobState.COMPLETED and done.result == {"ok": "by the other worker"}
    assert "job_dead" not in seen
    assert await rt.broker.peek_dead() == []


class HangingLimiter:
    """A rate limiter whose slot never comes (as after a long Flickr 429 back-off)."""

    async def acquire(self, key: str) -> float:
        await asyncio.sleep(3600)
        return 0.0

    async def back_off(self, key: str, seconds: float) -> None:
        pass


class Upload(Target):
    """Sends one request through the paced session, as the upload target does."""

    name = "paced_upload"
    idempotent = False

    async def execute(self, ctx: TargetContext) -> Any:
        return await ctx.flickr.call("flickr.test.echo", {})


async def test_a_drain_gives_back_an_attempt_that_sent_nothing(
    make_runtime: Callable[..., Runtime],
) -> None:
    @hookimpl
    def rate_limiter(runtime: Runtime) -> HangingLimiter:
        return HangingLimiter()

    limiter = types.ModuleType("hanging_limiter")
    limiter.rate_limiter = rate_limiter  # type: ignore[attr-defined]
    runtime = make_runtime(targets_plugin(Upload()), ("hanging_limiter", limiter))
    async with started(runtime):
        job = await submit(runtime, target="paced_upload")
        host = WorkerHost(runtime, concurrency=1)
        await host.start()
        while (await runtime.jobs.get(job.id)).state is not JobState.RUNNING:  # type: ignore[union-attr]
            await asyncio.sleep(0.01)

        await host.stop(grace=0.1)  # the upload still waits for the rate limiter

        stored = await runtime.jobs.get(job.id)
    assert stored is not None
    assert (stored.state, stored.attempts) == (JobState.QUEUED, 0)
