"""A backend that is briefly away, in one process (in-memory runtime, stores made to
fail on purpose): what the end-to-end fault tests rely on, pinned down exactly.

* The API: a store's connection or timeout error (the builtins, or a type a plugin
  declared with ``Runtime.add_unavailable_errors``) is a 503 with ``Retry-After`` and
  the envelope, not a 500; a broker refusing an enqueue too, leaving no job record.
* The runner: a known outcome survives a job store that fails for a moment (its save
  is retried), so an upload that reached Flickr completes instead of coming back
  ``running`` and failing "outcome unknown"; a store away for longer than
  ``OUTCOME_STORE_TIMEOUT`` gives the message back. Progress reports, the read cache
  and the deletion of a photo's bytes never fail a job.
* During an attempt: a store the target uses going away is retried (a read) or ends
  "outcome unknown" (an upload, which may have gone out), never a permanent
  ``ERR_TARGET`` crash; the rate limiter's store away fails the call before anything is
  sent, retryably, and never hides Flickr's own 429.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import pytest
import quart.typing

from flickrhub_api import create_app
from flickrhub_core import Job, JobState, Target, TargetContext, hookimpl
from flickrhub_core.errors import FlickrError, FlickrHttpError, JobError, ServiceUnavailable
from flickrhub_core.flickr import Credentials
from flickrhub_core.flickr.errors import http_error
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings
from flickrhub_core.worker import WorkerHost
from flickrhub_core.worker.session import UserFlickr
from tests.helpers import connected_token, finished, started, working

REST = "/api/v1/flickr/rest"
#: Aliased: pytest would try to collect a name starting with "Test".
Client = quart.typing.TestClientProtocol


class Photo(Target):
    """Like an upload: not idempotent, reports progress, succeeds."""

    name = "photo"
    idempotent = False
    calls: ClassVar[int] = 0

    async def execute(self, ctx: TargetContext) -> Any:
        type(self).calls += 1
        await ctx.report_progress({"bytes_sent": 1, "bytes_total": 2})
        return {"photoid": {"_content": "42"}}


class Read(Target):
    name = "read"
    calls: ClassVar[int] = 0

    def cache_ttl(self, job: Job, settings: Settings) -> float | None:
        return 60.0

    def is_write(self, job: Job) -> bool:
        return False

    async def execute(self, ctx: TargetContext) -> Any:
        type(self).calls += 1
        return {"n": type(self).calls}


def targets_plugin() -> tuple[str, object]:
    @hookimpl
    def register_targets(register: Callable[[Target], None]) -> None:
        register(Photo())
        register(Read())

    module = types.ModuleType("hiccup_targets")
    module.register_targets = register_targets  # type: ignore[attr-defined]
    return ("hiccup_targets", module)


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    Photo.calls = Read.calls = 0
    monkeypatch.setattr("flickrhub_core.worker.runner.OUTCOME_STORE_WAIT", (0.01, 0.02))
    monkeypatch.setattr("flickrhub_core.worker.runner.PROGRESS_INTERVAL", 0)
    monkeypatch.setattr("flickrhub_core.worker.host.REQUEUE_PAUSE", 0.01)


@pytest.fixture
async def rt(make_runtime: Callable[..., Runtime]) -> AsyncIterator[Runtime]:
    runtime = make_runtime(targets_plugin())
    async with started(runtime):
        yield runtime


@pytest.fixture
async def host(rt: Runtime) -> AsyncIterator[WorkerHost]:
    async with working(WorkerHost(rt, concurrency=2), grace=1) as worker:
        yield worker


class FailingSaves:
    """``rt.jobs.save`` raising ConnectionError for the jobs ``when`` picks, while
    :attr:`away`; :attr:`refused` counts the refusals."""

    def __init__(
        self, rt: Runtime, monkeypatch: pytest.MonkeyPatch, when: Callable[[Job], bool]
    ) -> None:
        self.away = True
        self.refused = 0
        real: Callable[[Job], Awaitable[None]] = rt.jobs.save

        async def save(job: Job) -> None:
            if self.away and when(job):
                self.refused += 1
                raise ConnectionError("job store restarting")
            await real(job)

        monkeypatch.setattr(rt.jobs, "save", save)


# --- the API ------------------------------------------------------------------------------


@pytest.fixture
async def client(rt: Runtime) -> AsyncIterator[Client]:
    app = create_app(rt, manage_runtime=False)
    async with app.test_app():
        yield app.test_client()


class LibraryConnectionError(Exception):
    """Stands for a client library's own error (redis', pymongo's), not a builtin."""


async def test_a_store_away_is_a_503_with_retry_after(
    rt: Runtime, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def away(*_: Any) -> None:
        raise LibraryConnectionError("redis://:hunter2@10.0.0.5:6379")

    monkeypatch.setattr(rt.jobs, "get", away)
    response = await client.get("/api/v1/flickr/jobs/abc")
    assert response.status_code == 500  # an unknown exception is our fault ...

    rt.add_unavailable_errors(LibraryConnectionError)  # ... until a plugin says what it is
    response = await client.get("/api/v1/flickr/jobs/abc")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    body = await response.get_json()
    assert body["data"] is None
    assert body["error"]["code"] == "ERR_UNAVAILABLE"
    assert "hunter2" not in await response.get_data(as_text=True)

    async def timed_out(*_: Any) -> None:
        raise TimeoutError

    monkeypatch.setattr(rt.jobs, "get", timed_out)  # the builtins count without asking
    assert (await client.get("/api/v1/flickr/jobs/abc")).status_code == 503


async def test_a_refused_enqueue_is_a_503_with_retry_after_and_leaves_no_record(
    rt: Runtime, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved: list[str] = []
    real_save = rt.jobs.save

    async def save(job: Job) -> None:
        saved.append(job.id)
        await real_save(job)

    async def refuse(*_: Any) -> None:
        raise ServiceUnavailable("RabbitMQ is not connected (reconnecting)")

    monkeypatch.setattr(rt.jobs, "save", save)
    monkeypatch.setattr(rt.broker, "publish", refuse)
    response = await client.post(
        REST, json={"user_id": "u1", "method": "flickr.test.echo", "target": "read"}
    )
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert (await response.get_json())["error"]["code"] == "ERR_UNAVAILABLE"
    assert saved and all([await rt.jobs.get(job_id) is None for job_id in saved])


# --- the runner ---------------------------------------------------------------------------


async def test_a_known_outcome_waits_for_the_store_instead_of_being_lost(
    rt: Runtime, host: WorkerHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FailingSaves(rt, monkeypatch, lambda job: job.state is JobState.COMPLETED)
    job = await rt.enqueue(Job(user_id="u1", target="photo"))
    await asyncio.sleep(0.2)  # the store refuses the outcome for a while ...
    assert store.refused >= 3
    store.away = False  # ... then is back
    done = await finished(rt, job.id)
    assert (done.state, done.attempts, Photo.calls) == (JobState.COMPLETED, 1, 1)
    assert done.result == {"photoid": {"_content": "42"}}


async def test_each_refused_outcome_write_is_logged_with_its_try_number(
    lines: list[dict[str, Any]], rt: Runtime, host: WorkerHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusals = iter(range(3))
    FailingSaves(
        rt,
        monkeypatch,
        lambda job: job.state is JobState.COMPLETED and next(refusals, None) is not None,
    )
    job = await rt.enqueue(Job(user_id="u1", target="photo"))
    done = await finished(rt, job.id)
    assert done.state is JobState.COMPLETED
    retries = [line for line in lines if line["event"] == "job_store_retry"]
    assert [(r["job_id"], r["state"], r["try_number"]) for r in retries] == [
        (job.id, "completed", n) for n in (1, 2, 3)
    ]


async def test_a_store_away_too_long_gives_the_message_back(
    rt: Runtime, host: WorkerHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("flickrhub_core.worker.runner.OUTCOME_STORE_TIMEOUT", 0.1)
    # Only the completed state is refused: the failure that follows is stored.
    FailingSaves(rt, monkeypatch, lambda job: job.state is JobState.COMPLETED)
    job = await rt.enqueue(Job(user_id="u1", target="photo"))
    done = await finished(rt, job.id)
    # The outcome was lost with the message: the upload is not sent again.
    assert done.state is JobState.FAILED
    assert done.error is not None and done.error["code"] == "ERR_OUTCOME_UNKNOWN"
    assert Photo.calls == 1


async def test_progress_reports_failing_do_not_fail_the_job(
    rt: Runtime, host: WorkerHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FailingSaves(rt, monkeypatch, lambda job: job.progress is not None)
    job = await rt.enqueue(Job(user_id="u1", target="photo"))
    done = await finished(rt, job.id)
    assert store.refused
    assert (done.state, Photo.calls) == (JobState.COMPLETED, 1)


async def test_a_cache_that_cannot_store_still_completes_the_read(
    rt: Runtime, host: WorkerHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(*_: Any) -> None:
        raise ConnectionError("cache restarting")

    monkeypatch.setattr(rt.cache, "set", refuse)
    job = await rt.enqueue(Job(user_id="u1", target="read"))
    done = await finished(rt, job.id)
    assert (done.state, done.result) == (JobState.COMPLETED, {"n": 1})


async def test_photo_bytes_that_cannot_be_deleted_do_not_stop_the_announcement(
    rt: Runtime, host: WorkerHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []

    @hookimpl
    def job_event(event: Any) -> None:
        events.append(event.name)

    rt.plugins.pm.register(types.SimpleNamespace(job_event=job_event), name="spy")

    async def refuse(*_: Any) -> None:
        raise ConnectionError("blob store away")

    monkeypatch.setattr(rt.blobs, "delete", refuse)
    job = await rt.enqueue(Job(user_id="u1", target="photo", blob_id="b" * 32))
    done = await finished(rt, job.id)
    assert done.state is JobState.COMPLETED
    await asyncio.sleep(0.05)
    assert events[-1] == "job_completed"


# --- a store away during an attempt -------------------------------------------------------


class Flaky(Target):
    """Its store (say, the blob store) is away on the first attempt."""

    name = "flaky"
    calls: ClassVar[int] = 0

    async def execute(self, ctx: TargetContext) -> Any:
        type(self).calls += 1
        if type(self).calls == 1:
            raise ConnectionError("blob store restarting")
        return {"ok": True}


class FlakyPhoto(Flaky):
    name = "flakyphoto"
    idempotent = False


@pytest.fixture
async def flaky_rt(make_runtime: Callable[..., Runtime]) -> AsyncIterator[Runtime]:
    @hookimpl
    def register_targets(register: Callable[[Target], None]) -> None:
        register(Flaky())
        register(FlakyPhoto())

    module = types.ModuleType("flaky_targets")
    module.register_targets = register_targets  # type: ignore[attr-defined]
    runtime = make_runtime(("flaky_targets", module))
    await runtime.start()
    await runtime.tokens.put(connected_token())
    worker = WorkerHost(runtime, concurrency=2)
    await worker.start()
    Flaky.calls = FlakyPhoto.calls = 0
    try:
        yield runtime
    finally:
        await worker.stop(grace=1)
        await runtime.close()


async def test_a_store_away_during_a_read_is_retried_not_a_crash(flaky_rt: Runtime) -> None:
    job = await flaky_rt.enqueue(Job(user_id="u1", target="flaky"))
    done = await finished(flaky_rt, job.id)
    assert (done.state, done.attempts, Flaky.calls) == (JobState.COMPLETED, 2, 2)


async def test_a_store_away_during_an_upload_is_not_sent_again(flaky_rt: Runtime) -> None:
    job = await flaky_rt.enqueue(Job(user_id="u1", target="flakyphoto"))
    done = await finished(flaky_rt, job.id)
    assert (done.state, FlakyPhoto.calls) == (JobState.FAILED, 1)
    assert done.error is not None and done.error["code"] == "ERR_OUTCOME_UNKNOWN"


class AwayLimiter:
    """A rate limiter whose store (Redis) is away."""

    async def acquire(self, key: str) -> float:
        raise ConnectionError("redis restarting")

    async def back_off(self, key: str, seconds: float) -> None:
        raise ConnectionError("redis restarting")


async def test_a_limiter_away_fails_the_call_before_sending_and_retryably() -> None:
    session = UserFlickr(None, Credentials("k", "s", "t", "ts"), AwayLimiter())  # type: ignore[arg-type]
    sent: list[int] = []

    async def send() -> dict[str, Any]:
        sent.append(1)
        return {}

    with pytest.raises(JobError) as caught:
        await session._paced(send)
    assert sent == []
    assert (caught.value.code, caught.value.retryable) == ("ERR_UNAVAILABLE", True)
    assert not isinstance(caught.value, FlickrError)  # never "outcome unknown": not sent


async def test_a_limiter_away_does_not_hide_flickrs_429() -> None:
    class Once(AwayLimiter):
        async def acquire(self, key: str) -> float:
            return 0.0

    session = UserFlickr(None, Credentials("k", "s", "t", "ts"), Once())  # type: ignore[arg-type]

    async def refused() -> dict[str, Any]:
        raise http_error(429, method="flickr.test.echo", retry_after=5)

    with pytest.raises(FlickrHttpError) as caught:
        await session._paced(refused)
    assert caught.value.status == 429
