"""RedisJobStore's job leases (``JobLeases``) against the real Redis: one holder at a
time, renewed by its holder, given up only by it, gone after its TTL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from flickrhub_core.jobs import Job, JobState, utcnow
from flickrhub_core.stores import CombinedLeases, JobLeases, StartingLeases
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


def started_copy(job: Job) -> Job:
    """``job`` as a worker starts its attempt."""
    return job.model_copy(
        update={"state": JobState.RUNNING, "attempts": job.attempts + 1, "started_at": utcnow()}
    )


async def test_the_lease_starts_a_job_stored_as_published(client: Redis, prefix: str) -> None:
    jobs = store(client, prefix)
    assert isinstance(jobs, StartingLeases)
    job = Job(owner="app", user_id="u1", target="rest")
    await jobs.save(job)

    result = await jobs.take_lease_and_start(
        job.id, "a", 10, job.model_dump_json(), started_copy(job)
    )

    assert result == (True, True, None)
    stored = await jobs.get(job.id)
    assert stored is not None and stored.state is JobState.RUNNING and stored.attempts == 1
    assert await client.get(Keys(prefix).lease(job.id)) == b"a"
    assert await client.ttl(Keys(prefix).job(job.id)) == -1  # running: no expiry


async def test_a_job_changed_since_published_is_read_not_started(
    client: Redis, prefix: str
) -> None:
    jobs = store(client, prefix)
    job = Job(owner="app", user_id="u1", target="rest")
    published = job.model_dump_json()
    await jobs.save(job.model_copy(update={"state": JobState.CANCELLED, "finished_at": utcnow()}))

    taken, started, read = await jobs.take_lease_and_start(
        job.id, "a", 10, published, started_copy(job)
    )

    assert (taken, started) == (True, False)
    assert read is not None and read.state is JobState.CANCELLED


async def test_a_cancel_request_keeps_the_job_from_being_started(
    client: Redis, prefix: str
) -> None:
    jobs = store(client, prefix)
    job = Job(owner="app", user_id="u1", target="rest")
    await jobs.save(job)
    await jobs.request_cancel(job.id)

    taken, started, read = await jobs.take_lease_and_start(
        job.id, "a", 10, job.model_dump_json(), started_copy(job)
    )

    assert (taken, started) == (True, False)
    assert read is not None and read.state is JobState.QUEUED and read.cancel_requested


async def test_a_lease_another_holder_has_starts_nothing(client: Redis, prefix: str) -> None:
    jobs = store(client, prefix)
    job = Job(owner="app", user_id="u1", target="rest")
    await jobs.save(job)
    await jobs.take_lease(job.id, "b", 10)

    taken, started, read = await jobs.take_lease_and_start(
        job.id, "a", 10, job.model_dump_json(), started_copy(job)
    )

    assert (taken, started) == (False, False)
    assert read is not None and read.state is JobState.QUEUED
    assert await client.get(Keys(prefix).lease(job.id)) == b"b"


async def test_a_start_sent_again_after_its_reply_was_lost_still_says_started(
    client: Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared connection sends a command again when the connection broke before
    the reply came, although Redis may have run it: the repeat must answer as the
    first call would have, or the worker would find its own job ``running`` and count
    a second attempt (an upload: "outcome unknown") for one that has not run."""
    jobs = store(client, prefix)
    job = Job(owner="app", user_id="u1", target="upload")
    await jobs.save(job)
    script = jobs._take_lease_and_start

    async def reply_lost_then_sent_again(**kwargs: Any) -> Any:
        await script(**kwargs)
        return await script(**kwargs)

    monkeypatch.setattr(jobs, "_take_lease_and_start", reply_lost_then_sent_again)

    result = await jobs.take_lease_and_start(
        job.id, "a", 10, job.model_dump_json(), started_copy(job)
    )

    assert result == (True, True, None)
    stored = await jobs.get(job.id)
    assert stored is not None and stored.attempts == 1


async def test_a_second_start_of_the_same_message_reads_the_started_job(
    client: Redis, prefix: str
) -> None:
    """Another call (a redelivered copy of the message on the same worker) is no repeat."""
    jobs = store(client, prefix)
    job = Job(owner="app", user_id="u1", target="upload")
    await jobs.save(job)
    published = job.model_dump_json()
    await jobs.take_lease_and_start(job.id, "a", 10, published, started_copy(job))

    taken, started, read = await jobs.take_lease_and_start(
        job.id, "a", 10, published, started_copy(job)
    )

    assert (taken, started) == (True, False)
    assert read is not None and read.state is JobState.RUNNING and read.attempts == 1
