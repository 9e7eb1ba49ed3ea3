"""The API's enqueue with an ``Idempotency-Key`` on a job store shared by several API
processes (Redis): the first process to claim the key makes the job (or the batch),
the others answer with it."""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from flickrhub_api import create_app, submission
from flickrhub_api.routes.batches import BATCH_KEY_PREFIX
from flickrhub_api.submission import submit
from flickrhub_core import hookimpl
from flickrhub_core.errors import Conflict, QueueFull
from flickrhub_core.jobs import Job
from flickrhub_core.runtime import Runtime
from flickrhub_redis import RedisJobStore
from tests.api.conftest import Client, connect

KEY = "order-7"


@pytest.fixture
def store(client: Redis, prefix: str) -> RedisJobStore:
    return RedisJobStore(client, prefix, ttl_complete=60, ttl_fail=60)


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime], store: RedisJobStore) -> Runtime:
    @hookimpl
    def job_store(runtime: Runtime) -> RedisJobStore:
        return store

    plugin = types.ModuleType("shared_job_store")
    plugin.job_store = job_store  # type: ignore[attr-defined]
    return make_runtime(("shared_job_store", plugin))


def request(key: str = KEY) -> Job:
    return Job(user_id="u1", target="rest", method="flickr.test.echo", idempotency_key=key)


async def test_a_key_another_process_claimed_is_answered_with_that_processes_job(
    rt: Runtime, store: RedisJobStore
) -> None:
    theirs = request()
    assert await store.claim_idempotency(theirs.owner, KEY, theirs.id) is None

    async def other_process_saves_its_job() -> None:
        await asyncio.sleep(0.1)
        await store.save(theirs)

    saving = asyncio.create_task(other_process_saves_its_job())
    job, replayed = await submit(rt, request())
    await saving

    assert (job.id, replayed) == (theirs.id, True)
    assert await rt.broker.depth("flickr_rest") == 0  # this process queued nothing


async def test_a_key_claimed_by_a_process_that_made_no_job_is_a_409_to_retry(
    rt: Runtime, store: RedisJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submission, "HOLDER_WAIT", 0.2)
    assert await store.claim_idempotency("default", KEY, "never-saved") is None

    with pytest.raises(Conflict, match="being handled"):
        await submit(rt, request())


async def test_an_enqueue_refused_frees_the_key_it_claimed(
    rt: Runtime, store: RedisJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rt.settings, "max_pending_jobs", 1)
    await submit(rt, request("first"))

    refused = request()
    with pytest.raises(QueueFull):
        await submit(rt, refused)

    assert await store.claim_idempotency(refused.owner, KEY, "a-later-retry") is None


async def test_the_first_claim_makes_and_queues_the_job(rt: Runtime) -> None:
    job, replayed = await submit(rt, request())

    assert replayed is False
    assert await rt.jobs.find_idempotent(job.owner, KEY) == job
    assert await rt.broker.depth("flickr_rest") == 1


@pytest.fixture
async def api(rt: Runtime) -> AsyncIterator[Client]:
    """The API of one process (``client`` is the Redis client here)."""
    app = create_app(rt)
    async with app.test_app():
        await connect(rt)
        yield app.test_client()


def batch_calls() -> list[dict[str, object]]:
    return [
        {"method": "flickr.test.echo", "user_id": "user-1", "params": {"n": str(i)}}
        for i in range(3)
    ]


def their_batch() -> list[Job]:
    """The batch another API process makes for :func:`batch_calls` under ``KEY``."""
    jobs = [
        Job(
            user_id="user-1",
            target="rest",
            method="flickr.test.echo",
            params={"n": str(i)},
            batch_id="their-batch",
        )
        for i in range(3)
    ]
    jobs[0].idempotency_key = BATCH_KEY_PREFIX + KEY
    return jobs


async def test_a_batch_key_another_process_claimed_is_answered_with_that_batch(
    rt: Runtime, store: RedisJobStore, api: Client
) -> None:
    theirs = their_batch()
    assert await store.claim_idempotency("default", BATCH_KEY_PREFIX + KEY, theirs[0].id) is None

    async def other_process_queues_its_batch() -> None:
        for job in theirs:  # one at a time, as the route queues them
            await asyncio.sleep(0.05)
            await store.save(job)

    queueing = asyncio.create_task(other_process_queues_its_batch())
    response = await api.post(
        "/api/v1/flickr/batch", json={"calls": batch_calls()}, headers={"Idempotency-Key": KEY}
    )
    await queueing

    assert response.status_code == 202, await response.get_data(as_text=True)
    data = (await response.get_json())["data"]
    assert data["batch_id"] == "their-batch"
    assert data["job_ids"] == [job.id for job in theirs]
    assert data["idempotent_replay"] is True
    assert await rt.broker.depth("flickr_rest") == 0  # this process queued nothing
