"""What one job costs the worker in Redis round trips, with the ``redis`` plugin's stores.

Counted at the client: every send to Redis is one round trip, whatever it carries (a
command, a script, a pipeline). The job is a Flickr read with the cache off and no
rate limit, as the benchmark runs it (``docs/performance.md``), so its round trips are
the job store's and the lease's alone: take the lease and read the job, save it
``running``, save it ``completed``.
"""

from __future__ import annotations

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

#: Lease and read (one script), save ``running``, save ``completed``.
ROUND_TRIPS_PER_JOB = 3


class Delivered:
    """A message handed straight to the host, as a broker would."""

    def __init__(self, job: Job) -> None:
        self.body = encode_message(job)
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


async def test_a_job_costs_the_worker_three_round_trips(
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
