"""A real ``flickrhub worker --metrics-port`` process on RabbitMQ, Redis and MongoDB:
it serves Prometheus metrics (its queues' depths read from RabbitMQ) and ``/healthz``
while it runs, drains on SIGINT/SIGTERM, and logs JSON lines without secrets."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.distributed.cluster import Backends, Proc, clean_environ, free_port
from tests.distributed.conftest import WORKER_READY


def test_worker_serves_metrics_and_drains(backends: Backends, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **clean_environ(),
        **backends.env(),
        "FLICKRHUB_LOG_FORMAT": "json",
        "FLICKRHUB_DATA_DIR": str(tmp_path / "data"),
        "FLICKRHUB_DRAIN_SECONDS": "3",
    }
    proc = Proc(
        "worker-metrics", ["worker", "--target", "rest", "--metrics-port", str(port)], env, tmp_path
    )
    proc.start()
    try:
        proc.wait_until(lambda: WORKER_READY in proc.output(), "consuming")
        base = f"http://127.0.0.1:{port}"
        scraped = httpx.get(f"{base}/metrics", timeout=5)
        health = httpx.get(f"{base}/healthz", timeout=5)
    finally:
        code = proc.stop()
    assert code == 0, proc.output()
    assert f"Metrics on {base}/metrics" in proc.output()

    assert scraped.status_code == 200
    samples = {
        (sample.name, json.dumps(sample.labels, sort_keys=True)): sample.value
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
    }
    # its queue and the DLQ, read from RabbitMQ; the other targets' queues are not its own
    assert samples[("flickrhub_queue_depth", '{"queue": "flickr_rest"}')] == 0
    assert ("flickrhub_queue_depth", '{"queue": "flickr_dlq"}') in samples
    assert ("flickrhub_queue_depth", '{"queue": "flickr_upload"}') not in samples
    assert samples[("flickrhub_jobs_in_flight", '{"target": "rest"}')] == 0
    assert ("flickrhub_jobs_total", '{"outcome": "completed", "target": "rest"}') in samples
    assert health.status_code == 200

    events = [event["event"] for event in proc.events()]
    for name in ("worker_started", "metrics_server_started", "worker_draining", "worker_stopped"):
        assert name in events, events
    assert events.index("worker_draining") < events.index("worker_stopped")
    started = proc.events("metrics_server_started")[0]
    assert started["url"] == f"{base}/metrics" and started["role"] == "worker"
    # the broker and store URLs' credentials never show
    for url in (backends.rabbit.url, backends.redis_url, backends.mongo_url):
        password = httpx.URL(url).password
        if password and len(password) > 5:
            assert password not in proc.output()
