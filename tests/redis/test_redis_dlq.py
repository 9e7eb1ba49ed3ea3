"""The Redis job store's dead-letter index and cancel requests, and replays from two
API processes sharing it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from flickrhub_core import dlq
from flickrhub_core.broker import MemoryBroker
from flickrhub_core.cancel import cancel_requested, request_cancel
from flickrhub_core.errors import Conflict
from flickrhub_core.flickr import Credentials
from flickrhub_core.jobs import Job, JobState, utcnow
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings
from flickrhub_core.stores import CancelRequests, JobQuery, StoredToken
from flickrhub_redis import Keys, RedisJobStore
from tests.redis.test_redis_plugin import plugins, with_redis


def store_of(client: Redis, prefix: str) -> RedisJobStore:
    return RedisJobStore(client, prefix, ttl_complete=3_000, ttl_fail=9_000)


def dead(age: float = 0, owner: str = "app") -> Job:
    at = utcnow() - timedelta(seconds=age)
    return Job(
        owner=owner,
        user_id="u1",
        target="rest",
        method="flickr.test.echo",
        state=JobState.FAILED,
        dead_lettered=True,
        attempts=3,
        created_at=at,
        finished_at=at,
    )


async def test_dead_letters_are_listed_through_their_own_index(client: Redis, prefix: str) -> None:
    store = store_of(client, prefix)
    old = dead(age=1000)
    await store.save(old)
    for n in range(300):  # newer history, which the DLQ's own index never reads
        at = utcnow() - timedelta(seconds=500 - n)
        await store.save(Job(owner="app", user_id="u1", target="rest", created_at=at))
    assert [j.id for j in await store.list(JobQuery(owner="app", in_dlq=True, limit=1))] == [old.id]
    assert await client.zcard(Keys(prefix).dead("app")) == 1
    assert await store.list(JobQuery(owner="other", in_dlq=True)) == []

    old.replayed_by = "copy"
    await store.save(old)
    assert await store.list(JobQuery(owner="app", in_dlq=True)) == []
    assert await client.exists(Keys(prefix).dead("app")) == 0


async def test_the_index_pages_and_forgets_expired_and_deleted_jobs(
    client: Redis, prefix: str
) -> None:
    store = store_of(client, prefix)
    jobs = [dead(age=10 - n) for n in range(4)]
    for job in jobs:
        await store.save(job)
    page = await store.list(JobQuery(owner="app", in_dlq=True, limit=2))
    assert [j.id for j in page] == [jobs[3].id, jobs[2].id]
    rest = await store.list(
        JobQuery(
            owner="app", in_dlq=True, before=page[-1].created_at, before_id=page[-1].id, limit=5
        )
    )
    assert [j.id for j in rest] == [jobs[1].id, jobs[0].id]
    await client.delete(Keys(prefix).job(jobs[1].id))  # expired
    await store.delete(jobs[0].id)
    assert [j.id for j in await store.list(JobQuery(owner="app", in_dlq=True))] == [
        jobs[3].id,
        jobs[2].id,
    ]
    assert await client.zcard(Keys(prefix).dead("app")) == 2


async def test_cancel_requests_live_beside_the_record(client: Redis, prefix: str) -> None:
    store = store_of(client, prefix)
    assert isinstance(store, CancelRequests)
    job = Job(owner="app", user_id="u1", target="rest", state=JobState.RUNNING)
    await store.save(job)
    assert not await cancel_requested(store, job.id)
    await request_cancel(store, job)
    await store.save(job)  # the worker's next write, without the flag, loses nothing
    assert await cancel_requested(store, job.id)
    got = await store.get(job.id)
    assert got is not None and got.cancel_requested
    listed = await store.list(JobQuery(owner="app"))
    assert [j.cancel_requested for j in listed] == [True]
    assert await client.ttl(Keys(prefix).cancel(job.id)) > 0
    await store.delete(job.id)
    assert not await cancel_requested(store, job.id)


async def test_two_api_processes_replay_a_dead_job_once(
    settings: Settings, redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    @contextlib.asynccontextmanager
    async def no_lock(owner: str, job_id: str) -> AsyncIterator[None]:
        yield  # separate processes share no lock: only the store's claim orders them

    monkeypatch.setattr(dlq, "_locked", no_lock)
    broker = MemoryBroker()  # shared: the processes' queue
    runtimes = [
        Runtime.create(
            with_redis(settings, redis_url, prefix),
            plugins=plugins(),
            broker=broker,
            consumer=Credentials("key", "secret"),
        )
        for _ in range(2)
    ]
    for rt in runtimes:
        await rt.start()
    try:
        rt = runtimes[0]
        await rt.tokens.put(
            StoredToken(
                user_id="u1",
                owner="app",
                consumer_key="key",
                consumer_secret="secret",
                token="t",
                token_secret="ts",
                user_nsid="1@N01",
            )
        )
        for other in runtimes[1:]:
            other.backends.tokens = rt.tokens  # the token store is shared too
        job = dead()
        await rt.jobs.save(job)
        results = await asyncio.gather(
            *(dlq.replay(r, "app", job.id) for r in runtimes for _ in range(3)),
            return_exceptions=True,
        )
        made = [r for r in results if isinstance(r, Job)]
        assert len(made) == 1, results
        assert all(isinstance(r, Conflict) for r in results if not isinstance(r, Job))
        assert await broker.depth("flickr_rest") == 1
        stored = await rt.jobs.get(job.id)
        assert stored is not None and stored.replayed_by == made[0].id
    finally:
        for rt in runtimes:
            await rt.close()
