"""``/metrics`` after real work: jobs completed, failed, cached, retried and dead,
Flickr errors and a 429, rate-limit waits, webhooks delivered and given up, API
requests. Every metric ``docs/metrics.md`` documents is there, with its labels, and
the numbers add up."""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from quart import Quart

from flickrhub_core.flickr import FlickrClient
from flickrhub_core.jobs import DLQ
from flickrhub_core.metrics_server import metrics_app
from flickrhub_core.runtime import Runtime
from flickrhub_core.serve import HttpServer, bind_socket
from flickrhub_core.stores import StoredToken
from flickrhub_core.worker import WorkerHost
from tests.api.conftest import REST, Client

DOCS = Path(__file__).parents[2] / "docs" / "metrics.md"
ROW = re.compile(r"^\| `(?P<name>flickrhub_\w+)` \| (?P<type>\w+) \| (?P<labels>[^|]*) \|")


def documented() -> dict[str, tuple[str, frozenset[str]]]:
    """``docs/metrics.md``'s table: name → (type, labels)."""
    found = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            labels = frozenset(re.findall(r"`(\w+)`", match["labels"]))
            found[match["name"]] = (match["type"], labels)
    return found


def registered() -> dict[str, tuple[str, frozenset[str]]]:
    """FlickrHub's metrics in the process registry: name → (type, labels)."""
    found = {}
    # Private, but the registry has no public list of its collectors.
    for collector in list(REGISTRY._collector_to_names):
        for family in collector.collect() if hasattr(collector, "_name") else ():
            if not family.name.startswith("flickrhub_"):
                continue
            name = family.name + ("_total" if family.type == "counter" else "")
            labels = frozenset(getattr(collector, "_labelnames", ()))
            found[name] = (family.type, labels)
    return found


def test_docs_list_every_metric_with_its_type_and_labels() -> None:
    import flickrhub_obs  # noqa: F401 - its counters are documented too

    assert documented() == registered()


# --- a fake Flickr -----------------------------------------------------------------------


class FakeFlickr:
    """Answers by method: ok, cacheable, flaky (503 once), down (always 503),
    failing (stat fail), limited (429 once, Retry-After: 1)."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = defaultdict(int)

    def handle(self, request: httpx.Request) -> httpx.Response:
        method = request.url.params.get("method") or ""
        self.calls[method] += 1
        n = self.calls[method]
        if method == "flickr.photos.getInfo" and n == 1:
            return httpx.Response(503, text="busy")
        if method == "flickr.people.getInfo":
            return httpx.Response(503, text="down")
        if method == "flickr.photos.getSizes":
            return httpx.Response(200, json={"stat": "fail", "code": 1, "message": "not found"})
        if method == "flickr.photos.getExif" and n == 1:
            return httpx.Response(429, headers={"Retry-After": "1"}, text="slow down")
        return httpx.Response(200, json={"stat": "ok", "method": {"_content": method}})


async def receiver(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A webhook receiver that answers 204 to everything."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime(
        flickr_rate_limit_per_hour=72_000,  # one call per 50 ms once the burst is spent
        rate_limit_burst=1,
        callback_retry_attempts=2,
        webhook_allow_private=True,
        webhook_timeout=2.0,
    )


@pytest.fixture
async def worker(rt: Runtime, app: Quart) -> AsyncIterator[WorkerHost]:
    fake = FakeFlickr()
    rt.flickr = FlickrClient(
        rt.endpoints, transport=httpx.MockTransport(fake.handle), on_call=rt.record_flickr_call
    )
    for user, consumer in (("user-1", "key"), ("user-429", "other-key")):
        await rt.tokens.put(
            StoredToken(
                user_id=user,
                owner="default",
                consumer_key=consumer,
                consumer_secret="secret",
                token="access-token",
                token_secret="access-secret",
                user_nsid="1@N01",
            )
        )
    host = WorkerHost(rt, concurrency=4)
    await host.start()
    try:
        yield host
    finally:
        await host.stop(grace=2)


@pytest.fixture
async def webhook_url() -> AsyncIterator[str]:
    server = HttpServer(receiver, bind_socket("127.0.0.1", 0))
    await server.start()
    try:
        yield f"{server.url}/hook"
    finally:
        await server.stop()


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


WATCHED: list[tuple[str, dict[str, str]]] = [
    ("flickrhub_jobs_enqueued_total", {"target": "rest"}),
    *(("flickrhub_jobs_total", {"target": "rest", "outcome": o}) for o in ("completed", "failed")),
    ("flickrhub_job_retries_total", {"target": "rest"}),
    ("flickrhub_dead_letters_total", {"target": "rest"}),
    ("flickrhub_job_duration_seconds_count", {"target": "rest"}),
    *(("flickrhub_cache_requests_total", {"result": r}) for r in ("hit", "miss")),
    *(
        ("flickrhub_flickr_calls_total", {"kind": "rest", "outcome": o})
        for o in ("ok", "api_error", "rate_limited", "http_error")
    ),
    ("flickrhub_flickr_call_seconds_count", {"kind": "rest"}),
    ("flickrhub_rate_limit_waits_total", {}),
    ("flickrhub_rate_limit_wait_seconds_total", {}),
    ("flickrhub_rate_limit_backoffs_total", {}),
    *(
        ("flickrhub_webhook_deliveries_total", {"outcome": o})
        for o in ("delivered", "retried", "failed")
    ),
    (
        "flickrhub_api_requests_total",
        {"method": "POST", "route": "/api/v1/flickr/rest", "status": "202"},
    ),
    ("flickrhub_api_requests_total", {"method": "GET", "route": "unmatched", "status": "404"}),
    (
        "flickrhub_api_request_duration_seconds_count",
        {"method": "POST", "route": "/api/v1/flickr/rest"},
    ),
]


async def finished(rt: Runtime, job_id: str) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            job = await rt.jobs.get(job_id)
            assert job is not None
            if job.state.finished and (not job.callback_url or _webhook_done(job.webhook)):
                return job.status_view()
            await asyncio.sleep(0.02)


def _webhook_done(record: dict[str, Any] | None) -> bool:
    return record is not None and record.get("state") in ("delivered", "failed")


async def test_metrics_after_real_work(
    client: Client, rt: Runtime, worker: WorkerHost, webhook_url: str
) -> None:
    before = {(name, json.dumps(labels)): value(name, **labels) for name, labels in WATCHED}

    async def submit(method: str, user: str = "user-1", **extra: Any) -> str:
        body = {"method": method, "user_id": user, "params": {"photo_id": "1"}, **extra}
        response = await client.post(REST, json=body)
        assert response.status_code == 202, await response.get_data(as_text=True)
        job_id: str = (await response.get_json())["data"]["job_id"]
        return job_id

    closed = bind_socket("127.0.0.1", 0)  # a port nothing answers on
    dead_hook = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
    closed.close()
    jobs = {
        "ok": await submit("flickr.test.echo", callback_url=webhook_url),
        "cached-1": await submit("flickr.photos.search"),
        "flaky": await submit("flickr.photos.getInfo"),
        "down": await submit("flickr.people.getInfo", callback_url=dead_hook),
        "failing": await submit("flickr.photos.getSizes"),
        "limited": await submit("flickr.photos.getExif", user="user-429"),
    }
    views = {name: await finished(rt, job_id) for name, job_id in jobs.items()}
    jobs["cached-2"] = await submit("flickr.photos.search")
    views["cached-2"] = await finished(rt, jobs["cached-2"])
    assert (await client.get("/no/such/route")).status_code == 404

    assert {name: view["state"] for name, view in views.items()} == {
        "ok": "completed",
        "cached-1": "completed",
        "cached-2": "completed",
        "flaky": "completed",
        "down": "failed",
        "failing": "failed",
        "limited": "completed",
    }
    assert views["cached-2"]["from_cache"] is True

    response = await client.get("/metrics")
    assert response.status_code == 200
    text = await response.get_data(as_text=True)
    samples = parse(text)

    # every documented metric is served, with its documented labels
    for name, (kind, labels) in documented().items():
        series = name if kind != "histogram" else f"{name}_count"
        assert series in samples, f"{series} missing from /metrics"
        for sample_labels in samples[series]:
            assert set(sample_labels) == labels, (series, sample_labels)

    def delta(name: str, **labels: str) -> float:
        return value(name, **labels) - before[(name, json.dumps(labels))]

    seven = len(jobs)
    assert delta("flickrhub_jobs_enqueued_total", target="rest") == seven
    assert delta("flickrhub_jobs_total", target="rest", outcome="completed") == 5
    assert delta("flickrhub_jobs_total", target="rest", outcome="failed") == 2
    assert delta("flickrhub_dead_letters_total", target="rest") == 1
    # flaky: 1 retry; down: 2 (3 attempts); limited: 1
    assert delta("flickrhub_job_retries_total", target="rest") == 4
    assert delta("flickrhub_job_duration_seconds_count", target="rest") == seven
    assert delta("flickrhub_cache_requests_total", result="hit") == 1
    assert delta("flickrhub_cache_requests_total", result="miss") >= 3
    assert delta("flickrhub_flickr_calls_total", kind="rest", outcome="rate_limited") == 1
    assert delta("flickrhub_flickr_calls_total", kind="rest", outcome="http_error") == 4
    assert delta("flickrhub_flickr_calls_total", kind="rest", outcome="api_error") == 1
    assert (
        delta("flickrhub_flickr_calls_total", kind="rest", outcome="ok") == 4
    )  # cached-2 never called
    assert delta("flickrhub_flickr_call_seconds_count", kind="rest") == 10
    assert delta("flickrhub_rate_limit_backoffs_total") == 1
    assert delta("flickrhub_rate_limit_waits_total") >= 1
    assert delta("flickrhub_rate_limit_wait_seconds_total") > 0
    assert delta("flickrhub_webhook_deliveries_total", outcome="delivered") == 1
    assert delta("flickrhub_webhook_deliveries_total", outcome="retried") == 1
    assert delta("flickrhub_webhook_deliveries_total", outcome="failed") == 1
    route = {"method": "POST", "route": "/api/v1/flickr/rest"}
    assert delta("flickrhub_api_requests_total", **route, status="202") == seven
    assert delta("flickrhub_api_request_duration_seconds_count", **route) >= seven
    assert delta("flickrhub_api_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value("flickrhub_jobs_in_flight", target="rest") == 0
    assert value("flickrhub_queue_depth", queue="flickr_rest") == 0
    assert value("flickrhub_queue_depth", queue=DLQ) == 1

    # a worker's own endpoint serves the same registry, its queues' depths read first
    app = metrics_app(rt.broker, ["flickr_rest", DLQ])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://worker"
    ) as scraper:
        scraped = await scraper.get("/metrics")
    assert scraped.status_code == 200
    assert 'flickrhub_queue_depth{queue="flickr_dlq"} 1.0' in scraped.text
    assert "flickrhub_jobs_total" in scraped.text


def parse(text: str) -> dict[str, list[dict[str, str]]]:
    """Sample name → the label sets it is served with (``le`` of buckets left out)."""
    samples: dict[str, list[dict[str, str]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append({k: v for k, v in sample.labels.items() if k != "le"})
    return samples
