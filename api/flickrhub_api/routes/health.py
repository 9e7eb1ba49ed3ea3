"""Probes and metrics: ``/healthz`` (the process answers), ``/readyz`` (its
dependencies answer), ``/metrics`` (Prometheus). ``/health`` is the earlier
system's liveness route."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import prometheus_client
from quart import Blueprint, Response
from quart_schema import document_response, tag

from flickrhub_api.context import get_runtime
from flickrhub_api.envelope import envelope, error_body, json_response
from flickrhub_api.models import Check, Envelope, Health, ReadyData
from flickrhub_core import metrics
from flickrhub_core.jobs import DLQ
from flickrhub_core.runtime import Runtime

blueprint = Blueprint("health", __name__)

#: Seconds one readiness check or queue-depth read may take.
CHECK_TIMEOUT = 2.0


@blueprint.get("/healthz")
@blueprint.get("/health")
@tag(["health"])
@document_response(Health, 200)
async def healthz() -> Response:
    """The process is up (checks nothing else, so a slow dependency never kills it)."""
    return json_response({"status": "ok"})


def _checks(runtime: Runtime) -> dict[str, Callable[[], Awaitable[object]]]:
    probe = f"readyz-{uuid.uuid4().hex}"
    return {
        "broker": lambda: runtime.broker.depth("flickr_rest"),
        "job_store": lambda: runtime.jobs.get(probe),
        "token_store": lambda: runtime.tokens.get(probe),
        "blob_store": lambda: runtime.blobs.stat(probe),
    }


async def _run(check: Callable[[], Awaitable[object]]) -> Check:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except TimeoutError:
        return Check(ok=False, error="timeout")
    except Exception as exc:
        # The class name only: messages can carry hosts, URLs or credentials.
        return Check(ok=False, error=type(exc).__name__)
    return Check(ok=True)


@blueprint.get("/readyz")
@tag(["health"])
@document_response(Envelope[ReadyData], 200)
@document_response(Envelope[ReadyData], 503)
async def readyz() -> Response:
    """Whether every dependency answers; 503 (with which one failed) if not."""
    checks = _checks(get_runtime())
    results = await asyncio.gather(*(_run(check) for check in checks.values()))
    named = dict(zip(checks, results, strict=True))
    ready = all(result.ok for result in results)
    data = ReadyData(status="ready" if ready else "not_ready", checks=named)
    if ready:
        return envelope(data)
    failed = sorted(name for name, result in named.items() if not result.ok)
    return envelope(
        data, 503, error=error_body("ERR_UNAVAILABLE", f"not ready: {', '.join(failed)}")
    )


async def _update_queue_depths(runtime: Runtime) -> None:
    queues = sorted({target.queue for target in runtime.targets.values()} | {DLQ})

    async def one(queue: str) -> None:
        try:
            depth = await asyncio.wait_for(runtime.broker.depth(queue), CHECK_TIMEOUT)
        except Exception:  # a broker hiccup must not break the scrape
            return
        metrics.QUEUE_DEPTH.labels(queue).set(depth)

    await asyncio.gather(*(one(queue) for queue in queues))


@blueprint.get("/metrics")
@tag(["health"])
async def metrics_text() -> Response:
    """Prometheus metrics of this process, queue depths read just now."""
    await _update_queue_depths(get_runtime())
    return Response(
        prometheus_client.generate_latest(),
        content_type=prometheus_client.CONTENT_TYPE_LATEST,
    )
