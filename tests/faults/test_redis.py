"""Redis (job state, cache, rate limiter) restarts while jobs run.

The cluster's Redis is a ``redis-server`` of this package's own (see
:mod:`tests.faults.conftest`), with the append-only file on as in production, so a
restart keeps the job records; it is stopped cleanly (SIGTERM) and started again on the
same port and files.

While it is away a worker cannot store outcomes: it keeps the message and tries the
job again with backoff (``FLICKRHUB_STORE_WAIT_SECONDS``), and the job is run to its
end once Redis answers again. An outcome that
was known when Redis went away (the call had succeeded) is kept: the worker retries
storing it rather than losing it, so an upload that reached Flickr completes instead of
failing as "outcome unknown". The API answers 503 with ``Retry-After`` meanwhile,
never 500.

Once Redis is back, nothing fails on the connections the restart broke: the client
sends a command that meets a dead pooled connection again on a new one (the last
test, against a Redis of its own).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flickrhub_redis import RedisJobStore, RedisRateLimiter
from flickrhub_redis._client import connect
from tests.faults.conftest import FaultCluster
from tests.faults.harness import Jobs, PrivateRedis, check_promises, running_on, wait_for

#: Seconds Redis stays away.
OUTAGE = 3.0


@pytest.mark.e2e
def test_redis_restart_mid_jobs_loses_nothing(hub: FaultCluster, jobs: Jobs) -> None:
    jobs.faults(latency_ms=1000, methods=["flickr.test.echo", "upload"])
    batch = jobs.submit(reads=10, uploads=2, tag="redis-")
    wait_for(
        lambda: sum(len(running_on(p, batch.ids)) for p in hub.workers.values()) >= 4,
        what="jobs running on the workers",
    )
    hub.redis.stop()
    # Calls in flight come back while Redis is away: their outcomes cannot be stored yet.
    jobs.clear_faults()
    started = time.monotonic()
    response = jobs.read("while-redis-is-away", timeout=15)
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "ERR_UNAVAILABLE"
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - started)))
    hub.redis.start()

    batch += jobs.submit(reads=4, uploads=1, tag="after-redis-")
    verdict = check_promises(jobs, batch, hub.workers.values())
    # Every upload reached Flickr once and completed: no outcome was lost with Redis.
    assert {verdict.state(job_id) for job_id in batch.uploads} == {"completed"}, verdict.jobs


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_the_client_replaces_the_connections_a_restart_broke(
    own_redis: PrivateRedis,
) -> None:
    """After a restart every pooled connection is dead; each command still succeeds
    the first time it is called (on a new connection), none fails on a dead one."""
    client = connect(own_redis.url)
    jobs = RedisJobStore(client, "t:", ttl_complete=60, ttl_fail=60)
    # A limit high enough never to wait; without one (0) the limiter sends nothing.
    limiter = RedisRateLimiter(client, "t:", per_hour=3_600_000)
    try:
        # Several connections in the pool, all used once.
        await asyncio.gather(*(limiter.acquire("k") for _ in range(8)))
        await asyncio.to_thread(own_redis.stop)
        await asyncio.to_thread(own_redis.start)
        assert await asyncio.gather(*(limiter.acquire("k") for _ in range(8))) == [0.0] * 8
        assert await jobs.take_lease("j", "me", 5) is True
        assert await jobs.get("nothing") is None
    finally:
        await client.aclose()
