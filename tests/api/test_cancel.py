"""``POST /jobs/<id>/cancel`` on a job a worker is running: 202 ``cancelling``, then
the job ends ``cancelled`` (cooperatively, see tests/core/test_cancel_running.py)."""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from quart import Quart

from flickrhub_api import create_app
from flickrhub_core import Target, TargetContext, cancel, hookimpl
from flickrhub_core.runtime import Runtime
from flickrhub_core.worker import WorkerHost
from tests.api.conftest import REST, Client, connect

STARTED = asyncio.Event()


class Slow(Target):
    name = "slow"

    async def execute(self, ctx: TargetContext) -> Any:
        STARTED.set()
        await asyncio.sleep(30)
        return {}


def plugin() -> tuple[str, object]:
    @hookimpl
    def register_targets(register: Callable[[Target], None]) -> None:
        register(Slow())

    module = types.ModuleType("slow_target")
    module.register_targets = register_targets  # type: ignore[attr-defined]
    return ("slow_target", module)


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setattr(cancel, "WATCH_AFTER", 0.05)
    monkeypatch.setattr(cancel, "WATCH_INTERVAL", 0.02)
    STARTED.clear()
    return make_runtime(plugin())


@pytest.fixture
async def app(rt: Runtime) -> AsyncIterator[Quart]:
    app = create_app(rt)
    async with app.test_app():
        worker = WorkerHost(rt)
        await worker.start()
        try:
            yield app
        finally:
            await worker.stop(grace=1)


async def test_cancelling_a_running_job(app: Quart, rt: Runtime) -> None:
    client: Client = app.test_client()
    await connect(rt)
    response = await client.post(REST, json={"user_id": "user-1", "target": "slow"})
    job_id = (await response.get_json())["data"]["job_id"]
    async with asyncio.timeout(5):
        await STARTED.wait()

    response = await client.post(f"/api/v1/flickr/jobs/{job_id}/cancel", json={})
    assert response.status_code == 202
    assert (await response.get_json())["data"]["state"] == "cancelling"
    again = await client.post(f"/api/v1/flickr/jobs/{job_id}/cancel", json={})
    assert again.status_code in (200, 202)  # harmless, whenever it lands

    status = await client.get(f"/api/v1/flickr/jobs/{job_id}", query_string={"wait": "5"})
    job = (await status.get_json())["data"]
    assert job["state"] == "cancelled"
    assert job["cancel_requested"] is True and job["attempts"] == 1
    done = await client.post(f"/api/v1/flickr/jobs/{job_id}/cancel", json={})
    assert done.status_code == 200
