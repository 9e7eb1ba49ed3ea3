"""``POST /jobs/<id>/cancel`` racing a worker: the job was read queued, and a worker
finished it before the cancel was stored. The worker's outcome stands (a finished
job's state is final) and the client hears 409, as for any finished job."""

from __future__ import annotations

import pytest

from flickrhub_core.jobs import Job, JobState, utcnow
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import StoredToken
from tests.api.conftest import REST, Client


async def test_cancel_of_a_job_a_worker_finished_meanwhile_is_a_409(
    client: Client, rt: Runtime, user: StoredToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = await client.post(
        REST, json={"method": "flickr.test.echo", "params": {}, "user_id": "user-1"}
    )
    job_id = (await response.get_json())["data"]["job_id"]
    read_by_the_route = await rt.jobs.get(job_id)
    assert read_by_the_route is not None and read_by_the_route.state is JobState.QUEUED
    done = read_by_the_route.model_copy(
        update={"state": JobState.COMPLETED, "result": {"stat": "ok"}, "finished_at": utcnow()}
    )
    await rt.jobs.save(done)  # the worker finishes it just after the route read it
    real_get = rt.jobs.get
    stale = [read_by_the_route]

    async def get(wanted: str) -> Job | None:
        return stale.pop() if stale else await real_get(wanted)

    monkeypatch.setattr(rt.jobs, "get", get)

    response = await client.post(f"/api/v1/flickr/jobs/{job_id}/cancel")

    assert response.status_code == 409
    assert (await response.get_json())["error"]["details"] == {"state": "completed"}
    stored = await real_get(job_id)
    assert stored is not None and stored.state is JobState.COMPLETED
    assert stored.result == {"stat": "ok"}


async def test_cancel_of_a_job_a_worker_started_meanwhile_asks_it_to_stop(
    client: Client, rt: Runtime, user: StoredToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = await client.post(
        REST, json={"method": "flickr.test.echo", "params": {}, "user_id": "user-1"}
    )
    job_id = (await response.get_json())["data"]["job_id"]
    read_by_the_route = await rt.jobs.get(job_id)
    assert read_by_the_route is not None and read_by_the_route.state is JobState.QUEUED
    running = read_by_the_route.model_copy(
        update={"state": JobState.RUNNING, "attempts": 1, "started_at": utcnow()}
    )
    await rt.jobs.save(running)  # a worker takes it just after the route read it
    real_get = rt.jobs.get
    stale = [read_by_the_route]

    async def get(wanted: str) -> Job | None:
        return stale.pop() if stale else await real_get(wanted)

    monkeypatch.setattr(rt.jobs, "get", get)

    response = await client.post(f"/api/v1/flickr/jobs/{job_id}/cancel")

    assert response.status_code == 202
    assert (await response.get_json())["data"]["state"] == "cancelling"
    stored = await real_get(job_id)
    assert stored is not None and stored.state is JobState.RUNNING
    assert stored.cancel_requested
