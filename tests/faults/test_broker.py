"""RabbitMQ goes away while jobs flow, and comes back.

"Restarted" here is the cut of a TCP proxy between FlickrHub and the machine's
RabbitMQ (see :mod:`tests.faults.conftest`): every AMQP connection is reset and new
ones are refused, exactly what FlickrHub sees of a broker restart, without restarting
a server other engineers' tests share.

While it is away the API answers an enqueue with 503, ``Retry-After`` and the error
envelope, promptly (well within a client's timeout), and leaves no job record behind;
the workers finish the calls they were making and store the outcomes, their acks are
lost with the channel, and after the reconnect the redelivered messages are
recognised as finished. Nothing is lost, nothing runs twice.

A restart shorter than the calls in flight is the harder case: RabbitMQ hands the
unacknowledged messages to whichever consumer is back first, while the first worker
still runs their jobs. The copies wait for the job's lease (held and renewed by the
worker running it) and then find the job finished, instead of running it again.
"""

from __future__ import annotations

import time
import uuid

import pytest

from tests.faults.conftest import FaultCluster
from tests.faults.harness import Jobs, arrived, check_promises, running_on, wait_for

pytestmark = pytest.mark.e2e

#: An enqueue while the broker is away must be answered within this many seconds.
REFUSAL_BUDGET = 4.0


def job_keys(hub: FaultCluster) -> set[bytes]:
    client = hub.redis.client()
    try:
        return set(client.scan_iter(match=f"{hub.backends.redis_prefix}job:*", count=1000))
    finally:
        client.close()


def test_rabbitmq_restart_loses_nothing_and_the_api_answers_503(
    hub: FaultCluster, jobs: Jobs
) -> None:
    jobs.faults(latency_ms=800, methods=["flickr.test.echo", "upload"])
    batch = jobs.submit(reads=10, uploads=2, tag="broker-")
    wait_for(
        lambda: any(running_on(p, batch.ids) for p in hub.workers.values()),
        what="jobs running",
    )
    records = job_keys(hub)

    hub.cut_rabbit()
    for n in range(3):
        started = time.monotonic()
        response = jobs.read(f"refused-{n}", timeout=REFUSAL_BUDGET + 6)
        took = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert took < REFUSAL_BUDGET, f"the refusal took {took:.1f} s"
        assert int(response.headers["Retry-After"]) >= 1
        body = response.json()
        assert body["data"] is None
        assert body["error"]["code"] == "ERR_UNAVAILABLE"
        assert body["request_id"]
    response = jobs.upload("refused-photo")
    assert response.status_code == 503, response.text
    assert "Retry-After" in response.headers
    # A refused enqueue leaves no job record.
    assert job_keys(hub) == records
    hub.restore_rabbit()

    # Once the broker is back, enqueues are accepted again (after the reconnect).
    def accepted() -> bool:
        key = f"back-{uuid.uuid4().hex}"
        response = jobs.read(key)
        assert response.status_code in (202, 503), response.text
        if response.status_code == 202:
            batch.reads[response.json()["data"]["job_id"]] = key
        return response.status_code == 202

    wait_for(accepted, timeout=20, what="an accepted enqueue after the broker returned")
    jobs.clear_faults()
    batch += jobs.submit(reads=6, uploads=1, tag="after-broker-")

    check_promises(jobs, batch, hub.workers.values())
    assert all(
        "refused" not in key for key in jobs.sandbox_calls("flickr.test.echo", "key").elements()
    )

    # Nothing waits or sits unacknowledged in RabbitMQ.
    rabbit = hub.backends.rabbit
    wait_for(
        lambda: (
            rabbit.depths(("flickr_rest", "flickr_upload"))
            == {
                "flickr_rest": 0,
                "flickr_upload": 0,
            }
        ),
        timeout=10,
        what="empty queues",
    )


def test_a_worker_cut_off_the_broker_mid_jobs_runs_nothing_twice(
    hub: FaultCluster, jobs: Jobs
) -> None:
    """A network failure between one worker and RabbitMQ, shorter than its calls: the
    broker gives the worker's unacknowledged messages to the other worker at once,
    while the first still runs their jobs. The copies wait for the jobs' leases, then
    find the jobs finished: each ran once, on the first worker."""
    jobs.faults(latency_ms=2500, methods=["flickr.test.echo", "upload"])
    batch = jobs.submit(reads=8, uploads=2, tag="blip-")

    def busy_worker() -> str | None:
        for name, proc in hub.workers.items():
            held = running_on(proc, batch.ids)
            if len(held) >= 3 and held & set(batch.uploads):
                return name
        return None

    name = wait_for(busy_worker, what="a worker running an upload and reads")
    held = running_on(hub.workers[name], batch.ids)
    wait_for(lambda: arrived(jobs, batch, held), what="their requests at the sandbox")
    hub.cut_rabbit(name)
    time.sleep(0.5)
    hub.restore_rabbit()
    jobs.clear_faults()
    verdict = check_promises(jobs, batch, hub.workers.values())
    # Every job ran once: one call per read, and the uploads completed.
    assert all(verdict.read_counts[key] == 1 for key in batch.reads.values()), verdict.read_counts
    assert {verdict.state(job_id) for job_id in batch.uploads} == {"completed"}, verdict.jobs
    for job_id in held:
        assert verdict.finished_by[job_id] == [(name, "job_completed")], verdict.jobs[job_id]
    # The other worker met the copies of (at least some of) them, and waited.
    (other,) = set(hub.workers) - {name}
    waited = {e["job_id"] for e in hub.workers[other].events("job_lease_busy")}
    assert waited & held, "no copy reached the other worker while the job ran"
