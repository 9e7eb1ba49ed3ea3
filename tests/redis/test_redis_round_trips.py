"""What one job costs the worker in Redis round trips, with the ``redis`` plugin's stores.

Counted at the client: every send to Redis is one round trip, whatever it carries (a
command, a script, a pipeline). The job is a Flickr read with the cache off and no
rate limit, as the benchmark runs it (``docs/performance.md``), so its round trips are
the job store's and the lease's alone: take the lease and start the job (``running``)
in one script, when it is still stored as its message carries it, then save it
``completed``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from redis.asyncio import Redis

from flickrhub_core.jobs import Job, JobState
from flickrhub_core.runtime import Runtime, encode_message
from flickrhub_core.settings import Settings
from flickrhub_core.worker import WorkerHost
from tests.helpers import answer_flickr_with, connected_token
from tests.redis.test_redis_plugin import plugins, with_redis

#: Lease and start (one script), save ``completed``.
ROUND_TRIPS_PER_JOB = 2


class Delivered:
    """A message handed straight to the host, as a broker would."""

    def __init__(self, job: Job, body: bytes | None = None) -> None:
        self.body = encode_message(job) if body is None else body
        self.redelivered = False
        self.settled = ""

    async def ack(self) -> None:
        self.settled = "ack"

    async def dead_letter(self, reason: str) -> None:
        self.settled = "dead_letter"

    async def requeue(self) -> None:
        self.settled = "requeue"


def flickr_says_ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"stat": "ok"})


@pytest.fixture
async def rt(
    settings: Settings, redis_url: str, prefix: str, client: Redis
) -> AsyncIterator[Runtime]:
    s = with_redis(settings, redis_url, prefix).model_copy(
        update={"cache_enabled": False, "flickr_rate_limit_per_hour": 0}
    )
    runtime = Runtime.create(s, plugins=plugins())
    await runtime.start()
    await answer_flickr_with(runtime, flickr_says_ok)
    await runtime.tokens.put(connected_token())
    try:
        yield runtime
    finally:
        await runtime.close()


async def enqueue(rt: Runtime) -> Job:
    return await rt.enqueue(
        Job(owner="app", user_id="u1", target="rest", method="flickr.test.echo")
    )


async def test_a_job_costs_the_worker_two_round_trips(
    rt: Runtime, round_trips: Callable[[], int]
) -> None:
    host = WorkerHost(rt, ["rest"])
    await host.handle(Delivered(await enqueue(rt)))  # connections opened, scripts loaded
    job = await enqueue(rt)
    delivery = Delivered(job)

    before = round_trips()
    await host.handle(delivery)
    used = round_trips() - before

    assert delivery.settled == "ack"
    stored = await rt.jobs.get(job.id)
    assert stored is not None and stored.state is JobState.COMPLETED
    assert used <= ROUND_TRIPS_PER_JOB


async def test_a_message_without_the_record_reads_the_job_then_starts_it(
    rt: Runtime, round_trips: Callable[[], int]
) -> None:
    """A message published before messages carried the record (an upgrade)."""

    def without_record(job: Job) -> Delivered:
        return Delivered(job, json.dumps({"job_id": job.id, "target": "rest"}).encode())

    host = WorkerHost(rt, ["rest"])
    await host.handle(without_record(await enqueue(rt)))  # its scripts loaded
    job = await enqueue(rt)
    delivery = without_record(job)

    before = round_trips()
    await host.handle(delivery)
    used = round_trips() - before

    stored = await rt.jobs.get(job.id)
    assert stored is not None and stored.state is JobState.COMPLETED and stored.attempts == 1
    assert used == ROUND_TRIPS_PER_JOB + 1


async def test_a_job_cancelled_since_its_message_was_published_is_not_started(
    rt: Runtime,
) -> None:
    host = WorkerHost(rt, ["rest"])
    job = await enqueue(rt)
    delivery = Delivered(job)  # the message as published
    await rt.cancel(job)

    await host.handle(delivery)

    stored = await rt.jobs.get(job.id)
    assert stored is not None and stored.state is JobState.CANCELLED and stored.attempts == 0
    assert delivery.settled == "ack"


async def test_a_job_whose_owner_has_no_token_fails_without_using_an_attempt(
    rt: Runtime,
) -> None:
    host = WorkerHost(rt, ["rest"])
    job = await rt.enqueue(
        Job(owner="app", user_id="nobody", target="rest", method="flickr.test.echo")
    )

    await host.handle(Delivered(job))

    stored = await rt.jobs.get(job.id)
    assert stored is not None and stored.state is JobState.FAILED and stored.attempts == 0
    assert stored.error is not None and stored.error["code"] == "ERR_TOKEN_NOT_FOUND"


async def test_an_enqueue_under_the_pending_cap_costs_one_round_trip(
    rt: Runtime, round_trips: Callable[[], int]
) -> None:
    """The cap is checked inside the save script: no separate count (``SCARD``)."""
    await enqueue(rt)  # scripts loaded
    job = Job(owner="app", user_id="u1", target="rest", method="flickr.test.echo")

    before = round_trips()
    await rt.enqueue(job, max_pending=10)

    assert round_trips() - before == 1
    assert await rt.jobs.count_pending("app") == 2
