"""RedisJobStore's job leases (``JobLeases``) against the real Redis: one holder at a
time, renewed by its holder, given up only by it, gone after its TTL."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from flickrhub_core.stores import JobLeases
from flickrhub_redis import Keys, RedisJobStore


def store(client: Redis, prefix: str) -> RedisJobStore:
    return RedisJobStore(client, prefix, ttl_complete=60, ttl_fail=60)


async def test_one_holder_at_a_time(client: Redis, prefix: str) -> None:
    jobs = store(client, prefix)
    assert isinstance(jobs, JobLeases)
    assert await jobs.take_lease("j1", "a", 10) is True
    assert await jobs.take_lease("j1", "b", 10) is False
    assert await jobs.take_lease("j2", "b", 10) is True  # per job
    assert await client.get(Keys(prefix).lease("j1")) == b"a"


async def test_the_holder_renews_it(client: Redis, prefix: str) -> None:
    jobs = store(client, prefix)
    await jobs.take_lease("j1", "a", 1)
    assert await jobs.take_lease("j1", "a", 30) is True
    assert 25_000 < await client.pttl(Keys(prefix).lease("j1")) <= 30_000


async def test_only_the_holder_gives_it_up(client: Redis, prefix: str) -> None:
    jobs = store(client, prefix)
    await jobs.take_lease("j1", "a", 10)
    await jobs.drop_lease("j1", "b")
    assert await jobs.take_lease("j1", "b", 10) is False
    await jobs.drop_lease("j1", "a")
    assert await jobs.take_lease("j1", "b", 10) is True


async def test_a_lease_nobody_renews_expires(client: Redis, prefix: str) -> None:
    jobs = store(client, prefix)
    await jobs.take_lease("j1", "a", 0.2)
    assert await jobs.take_lease("j1", "b", 10) is False
    await asyncio.sleep(0.3)
    assert await jobs.take_lease("j1", "b", 10) is True
