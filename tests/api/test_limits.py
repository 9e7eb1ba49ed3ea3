"""Per-client limits: request rate (429), pending jobs (503) and body sizes (413)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from quart import Quart

from flickrhub_api import create_app
from flickrhub_api.limits import ClientRateLimiter, retry_after_seconds
from flickrhub_core.jobs import Job, JobState
from flickrhub_core.memory import MemoryJobStore
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import CappedCreate, JobQuery, JobStore
from tests.api.conftest import REST, connect, finish_job
from tests.api.test_photos import Form, RecordingBlobStore, post_form

KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef"}
JOBS = "/api/v1/flickr/jobs"
UPLOAD = "/api/v1/flickr/upload"
CALL = {"method": "flickr.test.echo", "user_id": "user-1"}


def as_client(name: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[name]}


@pytest.fixture
async def serve(make_runtime: Any) -> AsyncIterator[Any]:
    """``await serve(**settings)``: a started app (and its runtime) with those settings."""
    apps: list[Quart] = []

    async def make(**overrides: Any) -> tuple[Quart, Runtime]:
        runtime: Runtime = make_runtime(**overrides)
        runtime.backends.blobs = RecordingBlobStore()
        app = create_app(runtime)
        await app.startup()
        apps.append(app)
        return app, runtime

    yield make
    for app in apps:
        await app.shutdown()


# --- the request rate ----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_allows_a_minutes_worth_at_once_then_spaces_them() -> None:
    clock = Clock()
    limiter = ClientRateLimiter(6, clock=clock)
    assert [limiter.check("a") for _ in range(6)] == [0.0] * 6
    assert limiter.check("a") == pytest.approx(10.0)
    assert limiter.check("b") == 0.0  # each client has its own
    clock.now += 10.0
    assert limiter.check("a") == 0.0
    assert limiter.check("a") == pytest.approx(10.0)


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert retry_after_seconds(0.01) == 1
    assert retry_after_seconds(1.2) == 2
    assert retry_after_seconds(20.0) == 20


async def test_a_client_over_its_rate_gets_a_429_with_retry_after(serve: Any) -> None:
    app, _ = await serve(client_rate_limit_per_minute=3)
    client = app.test_client()
    for _ in range(3):
        assert (await client.get(f"{JOBS}/nothing")).status_code == 404
    response = await client.get(f"{JOBS}/nothing")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    body = await response.get_json()
    assert body["error"]["code"] == "ERR_RATE_LIMITED"
    assert body["error"]["details"] == {"limit_per_minute": 3}
    # Probes and docs are not limited.
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/openapi.json")).status_code == 200


async def test_the_rate_limit_is_per_client(serve: Any) -> None:
    keys = ",".join(f"{name}={key}" for name, key in KEYS.items())
    app, _ = await serve(client_rate_limit_per_minute=2, api_keys=SecretStr(keys))
    client = app.test_client()
    for _ in range(2):
        await client.get(f"{JOBS}/nothing", headers=as_client("alice"))
    assert (await client.get(f"{JOBS}/x", headers=as_client("alice"))).status_code == 429
    assert (await client.get(f"{JOBS}/x", headers=as_client("bob"))).status_code == 404
    # A request without a valid key is refused before it counts against anyone.
    assert (await client.get(f"{JOBS}/x", headers={"X-API-Key": "wrong"})).status_code == 401


async def test_a_rate_limit_of_zero_is_off(serve: Any) -> None:
    app, _ = await serve(client_rate_limit_per_minute=0)
    client = app.test_client()
    for _ in range(50):
        assert (await client.get(f"{JOBS}/nothing")).status_code == 404


# --- pending jobs -----------------------------------------------------------------------


async def assert_queue_full(response: Any, *, pending: int, cap: int) -> None:
    """The pending-jobs cap's answer: 503, ``Retry-After``, the counts in the details."""
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    error = (await response.get_json())["error"]
    assert error["code"] == "ERR_QUEUE_FULL"
    assert error["details"] == {"pending": pending, "max_pending_jobs": cap}


async def test_a_full_queue_is_a_503_with_retry_after_and_makes_no_job(serve: Any) -> None:
    app, rt = await serve(max_pending_jobs=2)
    await connect(rt)
    client = app.test_client()
    for _ in range(2):
        assert (await client.post(REST, json=CALL)).status_code == 202
    depth = await rt.broker.depth("flickr_rest")
    response = await client.post(REST, json=CALL)
    await assert_queue_full(response, pending=2, cap=2)
    assert len(await rt.jobs.list(JobQuery(owner="default"))) == 2
    assert await rt.broker.depth("flickr_rest") == depth


class CountedFirst:
    """A job store without :class:`CappedCreate`: the runtime counts, then saves."""

    def __init__(self) -> None:
        self.inner = MemoryJobStore()
        self.counts = 0

    async def save(self, job: Job) -> None:
        await self.inner.save(job)

    async def get(self, job_id: str) -> Job | None:
        return await self.inner.get(job_id)

    async def delete(self, job_id: str) -> None:
        await self.inner.delete(job_id)

    async def find_idempotent(self, owner: str, key: str) -> Job | None:
        return await self.inner.find_idempotent(owner, key)

    async def count_pending(self, owner: str) -> int:
        self.counts += 1
        return await self.inner.count_pending(owner)

    async def list(self, query: JobQuery) -> list[Job]:
        return await self.inner.list(query)


async def test_a_job_store_without_capped_create_is_counted_first(serve: Any) -> None:
    app, rt = await serve(max_pending_jobs=2)
    store = rt.backends.jobs = CountedFirst()
    assert isinstance(store, JobStore) and not isinstance(store, CappedCreate)
    await connect(rt)
    client = app.test_client()
    for _ in range(2):
        assert (await client.post(REST, json=CALL)).status_code == 202
    response = await client.post(REST, json=CALL)
    await assert_queue_full(response, pending=2, cap=2)
    assert store.counts == 3
    assert len(await rt.jobs.list(JobQuery(owner="default"))) == 2


async def test_finished_jobs_make_room(serve: Any) -> None:
    app, rt = await serve(max_pending_jobs=1)
    await connect(rt)
    client = app.test_client()
    first = await client.post(REST, json=CALL)
    assert (await client.post(REST, json=CALL)).status_code == 503
    await finish_job(rt, (await first.get_json())["data"]["job_id"])
    assert (await client.post(REST, json=CALL)).status_code == 202


async def test_running_and_retrying_jobs_count_as_pending(serve: Any) -> None:
    app, rt = await serve(max_pending_jobs=5)
    await connect(rt)
    client = app.test_client()
    states = (JobState.RUNNING, JobState.RETRYING, JobState.FAILED)
    for state in states:
        job_id = (await (await client.post(REST, json=CALL)).get_json())["data"]["job_id"]
        job = await rt.jobs.get(job_id)
        assert job is not None
        job.state = state
        await rt.jobs.save(job)
    assert await rt.jobs.count_pending("default") == 2


async def test_a_retry_of_an_accepted_request_is_not_refused_when_full(serve: Any) -> None:
    app, rt = await serve(max_pending_jobs=1)
    await connect(rt)
    client = app.test_client()
    headers = {"Idempotency-Key": "once"}
    first = await client.post(REST, json=CALL, headers=headers)
    again = await client.post(REST, json=CALL, headers=headers)
    assert again.status_code == 202
    assert (await again.get_json())["data"]["job_id"] == (await first.get_json())["data"]["job_id"]


async def test_the_pending_cap_is_per_client(serve: Any) -> None:
    keys = ",".join(f"{name}={key}" for name, key in KEYS.items())
    app, rt = await serve(max_pending_jobs=1, api_keys=SecretStr(keys))
    await connect(rt, "user-1", owner="alice")
    await connect(rt, "user-2", owner="bob", nsid="2@N01")
    client = app.test_client()
    assert (await client.post(REST, json=CALL, headers=as_client("alice"))).status_code == 202
    assert (await client.post(REST, json=CALL, headers=as_client("alice"))).status_code == 503
    bobs = {**CALL, "user_id": "user-2"}
    assert (await client.post(REST, json=bobs, headers=as_client("bob"))).status_code == 202


async def test_a_full_queue_refuses_an_upload_before_storing_the_photo(serve: Any) -> None:
    app, rt = await serve(max_pending_jobs=1)
    await connect(rt)
    client = app.test_client()
    assert (await client.post(REST, json=CALL)).status_code == 202
    # The photo comes before user_id: without the early check it would be stored first.
    form = Form().file(b"\xff\xd8" + b"x" * 200_000).field("user_id", "user-1")
    status, body = await post_form(app, UPLOAD, form)
    assert status == 503
    assert body["error"]["code"] == "ERR_QUEUE_FULL"
    blobs = rt.blobs
    assert isinstance(blobs, RecordingBlobStore)
    assert blobs.puts == 0
    assert blobs.ids == []
    assert len(await rt.jobs.list(JobQuery(owner="default"))) == 1


async def test_a_cap_of_zero_is_off(serve: Any) -> None:
    app, rt = await serve(max_pending_jobs=0)
    await connect(rt)
    client = app.test_client()
    for _ in range(5):
        assert (await client.post(REST, json=CALL)).status_code == 202


# --- body sizes ----------------------------------------------------------------------


async def test_a_json_body_over_its_limit_is_a_413_envelope(serve: Any) -> None:
    app, rt = await serve(json_body_limit=2000)
    await connect(rt)
    client = app.test_client()
    small = {**CALL, "params": {"text": "a" * 1500}}
    assert (await client.post(REST, json=small)).status_code == 202
    big = {**CALL, "params": {"text": "a" * 2500}}
    response = await client.post(REST, json=big)
    assert response.status_code == 413
    body = await response.get_json()
    assert body["error"]["code"] == "ERR_PAYLOAD_TOO_LARGE"
    assert body["error"]["details"] == {"max_bytes": 2000}


async def test_multipart_has_its_own_limit_beyond_the_json_one(serve: Any) -> None:
    app, rt = await serve(json_body_limit=2000, max_upload_bytes=100_000)
    await connect(rt)
    form = Form().field("user_id", "user-1").file(b"\xff\xd8" + b"x" * 50_000)
    status, body = await post_form(app, UPLOAD, form)
    assert status == 202, body
    too_big = Form().field("user_id", "user-1").file(b"\xff\xd8" + b"x" * 150_000)
    status, body = await post_form(app, UPLOAD, too_big)
    assert status == 413
    assert body["error"]["code"] == "ERR_PAYLOAD_TOO_LARGE"
