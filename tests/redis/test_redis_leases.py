"""RedisJobStore's job leases (``JobLeases``) against the real Redis: one holder at a
time, renewed by its holder, given up only by it, gone after its TTL."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from flickrhub_core.jobs import Job
from flickrhub_core.stores import CombinedLeases, JobLeases
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


async def test_taking_a_lease_also_reads_the_job_and_its_cancel_request(
    client: Redis, prefix: str
) -> None:
    jobs = store(client, prefix)
    assert isinstance(jobs, CombinedLeases)
    job = Job(owner="app", user_id="u1", target="rest")
    await jobs.save(job)
    await jobs.request_cancel(job.id)

    taken, read = await jobs.take_lease_and_get(job.id, "a", 10)
    assert taken is True
    assert read is not None and read.id == job.id and read.cancel_requested

    # Another holder is refused the lease but still reads the job (has it finished?).
    taken, read = await jobs.take_lease_and_get(job.id, "b", 10)
    assert taken is False and read is not None and read.id == job.id
    assert await client.get(Keys(prefix).lease(job.id)) == b"a"

    assert await jobs.take_lease_and_get("no-such-job", "a", 10) == (True, None)


async def test_renewing_many_leases_names_those_another_holder_took(
    client: Redis, prefix: str
) -> None:
    jobs = store(client, prefix)
    keys = Keys(prefix)
    await jobs.take_lease("j1", "a", 1)
    await jobs.take_lease("j2", "b", 10)  # a's lease on j2 lapsed and b took it

    lost = await jobs.renew_leases(["j1", "j2", "j3"], "a", 30)

    assert lost == ["j2"]
    assert 25_000 < await client.pttl(keys.lease("j1")) <= 30_000
    assert await client.get(keys.lease("j2")) == b"b"
    assert await client.get(keys.lease("j3")) == b"a"  # a free lease is taken again
