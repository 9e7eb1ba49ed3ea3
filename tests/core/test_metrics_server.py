"""The worker's metrics endpoint, served by :class:`HttpServer` as ``flickrhub worker
--metrics-port`` serves it; and the drain setting's names."""

from __future__ import annotations

import httpx
import pytest
from click.testing import CliRunner

from flickrhub_core import metrics
from flickrhub_core.broker import MemoryBroker
from flickrhub_core.cli import cli
from flickrhub_core.jobs import DLQ
from flickrhub_core.metrics_server import metrics_app
from flickrhub_core.serve import HttpServer, bind_socket
from flickrhub_core.settings import load_settings


async def test_metrics_and_healthz_over_http() -> None:
    broker = MemoryBroker()
    await broker.connect()
    await broker.publish("flickr_rest", b'{"job_id": "a"}')
    await broker.publish("flickr_rest", b'{"job_id": "b"}')
    metrics.init_labels(["rest"])
    server = HttpServer(metrics_app(broker, ["flickr_rest", DLQ]), bind_socket("127.0.0.1", 0))
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            scraped = await client.get("/metrics")
            health = await client.get("/healthz")
            missing = await client.get("/nothing")
            posted = await client.post("/metrics")
    finally:
        await server.stop()
        await broker.close()
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=")
    assert 'flickrhub_queue_depth{queue="flickr_rest"} 2.0' in scraped.text
    assert 'flickrhub_queue_depth{queue="flickr_dlq"} 0.0' in scraped.text
    assert 'flickrhub_jobs_total{outcome="completed",target="rest"}' in scraped.text
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert missing.status_code == 404
    assert posted.status_code == 405


async def test_a_failing_broker_does_not_break_the_scrape() -> None:
    class Down(MemoryBroker):
        async def depth(self, queue: str) -> int:
            raise ConnectionError("amqp://guest:hunter2@rabbit refused")

    app = metrics_app(Down(), ["flickr_down"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://w") as c:
        scraped = await c.get("/metrics")
    assert scraped.status_code == 200
    assert "flickr_down" not in scraped.text
    assert "hunter2" not in scraped.text


def test_worker_command_has_a_metrics_port_option() -> None:
    result = CliRunner().invoke(cli, ["worker", "--help"])
    assert result.exit_code == 0
    assert "--metrics-port" in result.output
    assert "FLICKRHUB_WORKER_METRICS_PORT" in result.output


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, 25.0),
        ({"FLICKRHUB_DRAIN_SECONDS": "7"}, 7.0),
        ({"FLICKRHUB_SHUTDOWN_GRACE": "9"}, 9.0),  # the earlier name still works
        ({"FLICKRHUB_DRAIN_SECONDS": "7", "FLICKRHUB_SHUTDOWN_GRACE": "9"}, 7.0),
    ],
)
def test_drain_seconds_and_its_earlier_name(
    env: dict[str, str], expected: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FLICKRHUB_DRAIN_SECONDS", "FLICKRHUB_SHUTDOWN_GRACE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(_env_file=None)
    assert settings.drain_seconds == expected
    assert settings.shutdown_grace == expected
    assert settings.redacted()["FLICKRHUB_DRAIN_SECONDS"] == expected
    assert "FLICKRHUB_SHUTDOWN_GRACE" not in settings.redacted()


def test_worker_metrics_port_setting() -> None:
    assert load_settings(_env_file=None).worker_metrics_port == 0
    assert (
        load_settings(_env_file=None, FLICKRHUB_WORKER_METRICS_PORT="9100").worker_metrics_port
        == 9100
    )
