"""Probes and metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST

from flickrhub_core.runtime import Runtime
from tests.api.conftest import REST, Client


async def test_healthz_is_plain_ok(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}


async def test_the_earlier_health_route_still_answers(client: Client) -> None:
    response = await client.get("/health")
    assert await response.get_json() == {"status": "ok"}


async def test_readyz_checks_each_dependency(client: Client) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    data = (await response.get_json())["data"]
    assert data["status"] == "ready"
    assert set(data["checks"]) == {"broker", "job_store", "token_store", "blob_store"}
    assert all(check["ok"] for check in data["checks"].values())


async def test_readyz_is_503_naming_the_failed_dependency_without_secrets(
    client: Client, rt: Runtime
) -> None:
    async def broken(queue: str) -> int:
        raise ConnectionError("amqp://guest:hunter2@rabbit.internal:5672 refused")

    rt.broker.depth = broken  # type: ignore[method-assign]
    response = await client.get("/readyz")
    assert response.status_code == 503
    body = await response.get_json()
    assert body["data"]["status"] == "not_ready"
    assert body["data"]["checks"]["broker"] == {"ok": False, "error": "ConnectionError"}
    assert body["error"]["code"] == "ERR_UNAVAILABLE"
    assert "hunter2" not in await response.get_data(as_text=True)


async def test_metrics_are_prometheus_text_with_queue_depths(client: Client, rt: Runtime) -> None:
    from tests.api.conftest import connect

    await connect(rt)
    await client.post(REST, json={"method": "flickr.test.echo", "user_id": "user-1"})
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type == CONTENT_TYPE_LATEST
    text = await response.get_data(as_text=True)
    assert 'flickrhub_queue_depth{queue="flickr_rest"} 1.0' in text
    assert 'flickrhub_queue_depth{queue="flickr_dlq"} 0.0' in text
