"""``POST /jobs/<id>/cancel`` racing a worker: the route read the job queued, and a
worker changed it before the cancel was stored. A worker that finished it keeps its
outcome (a finished job's state is final: the client hears 409, as for any finished
job); a worker that started it is asked to stop it (202 ``cancelling``), as for any
running job."""

from __future__ import annotations

from typing import Any

import pytest

from flickrhub_core.jobs import Job, JobState, utcnow
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import StoredToken
from tests.api.conftest import REST, Client


async def cancel_after_a_worker(
    client: Client, rt: Runtime, monkeypatch: pytest.MonkeyPatch, **worker_wrote: Any
) -> tuple[int, dict[str, Any], Job]:
    """Enqueue a job, let a worker store ``worker_wrote`` on it just after the cancel
    route read it queued, and cancel it: the status, the body and the stored job."""
    response = await client.post(
        REST, json={"method": "flickr.test.echo", "params": {}, "user_id": "user-1"}
    )
    job_id = (await response.get_json())["data"]["job_id"]
    read_by_the_route = await rt.jobs.get(job_id)
    assert read_by_the_route is not None and read_by_the_route.state is JobState.QUEUED
    await rt.jobs.save(read_by_the_route.model_copy(update=worker_wrote))
    real_get = rt.jobs.get
    stale = [read_by_the_route]

    async def get(wanted: str) -> Job | None:
        return stale.pop() if stale else await real_get(wanted)

    monkeypatch.setattr(rt.jobs, "get", get)
    response = await client.post(f"/api/v1/flickr/jobs/{job_id}/cancel")
    stored = await real_get(job_id)
    assert stored is not None
    return response.status_code, await response.get_json(), stored


async def test_cancel_of_a_job_a_worker_finished_meanwhile_is_a_409(
    client: Client, rt: Runtime, user: StoredToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, body, stored = await cancel_after_a_worker(
        client,
        rt,
        monkeypatch,
        state=JobState.COMPLETED,
        result={"stat": "ok"},
        finished_at=utcnow(),
    )
    assert status == 409
    assert body["error"]["details"] == {"state": "completed"}
    assert stored.state is JobState.COMPLETED and stored.result == {"stat": "ok"}


async def test_cancel_of_a_job_a_worker_started_meanwhile_asks_it_to_stop(
    client: Client, rt: Runtime, user: StoredToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, body, stored = await cancel_after_a_worker(
        client, rt, monkeypatch, state=JobState.RUNNING, attempts=1, started_at=utcnow()
    )
    assert status == 202
    assert body["data"]["state"] == "cancelling"
    assert stored.state is JobState.RUNNING and stored.cancel_requested
