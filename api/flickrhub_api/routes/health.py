"""Probes and metrics: ``/healthz`` (the process answers), ``/readyz`` (its
dependencies answer), ``/metrics`` (Prometheus). ``/health`` is the earlier
system's liveness route."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import prometheus_client
from quart import Blueprint, Response
from quart_schema import deprecate, document_response, operation_id, tag

from flickrhub_api.context import get_runtime
from flickrhub_api.envelope import envelope, error_body, json_response
from flickrhub_api.models import Check, Envelope, Health, NotReadyEnvelope, ReadyData
from flickrhub_api.openapi import media_response, no_backend
from flickrhub_core import metrics
from flickrhub_core.jobs import DLQ
from flickrhub_core.runtime import Runtime

blueprint = Blueprint("health", __name__)

#: Seconds one readiness check or queue-depth read may take.
CHECK_TIMEOUT = 2.0


@blueprint.get("/healthz")
@tag(["health"])
@operation_id("healthz")
@no_backend
@document_response(Health, 200)
async def healthz() -> Response:
    """The process is up (checks nothing else, so a slow dependency never kills it)."""
    return json_response({"status": "ok"})


@blueprint.get("/health")
@tag(["health"])
@operation_id("health")
@deprecate
@no_backend
@document_response(Health, 200)
async def health() -> Response:
    """The earlier system's name of ``/healthz``."""
    return await healthz()


def _checks(runtime: Runtime) -> dict[str, Callable[[], Awaitable[object]]]:
    probe = f"readyz-{uuid.uuid4().hex}"
    return {
        "broker": lambda: runtime.broker.depth("flickr_rest"),
        "job_store": lambda: runtime.jobs.get(probe),
        "token_store": lambda: runtime.tokens.get(probe),
        # A blob id is 32 hex digits: a store answers any other id without asking its backend.
        "blob_store": lambda: runtime.blobs.stat(uuid.uuid4().hex),
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
@operation_id("readyz")
@document_response(Envelope[ReadyData], 200)
@document_response(NotReadyEnvelope, 503)
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
    queues = {target.queue for target in runtime.targets.values()} | {DLQ}
    await metrics.refresh_queue_depths(runtime.broker, queues)


@blueprint.get("/metrics")
@tag(["health"])
@operation_id("metrics")
@no_backend  # a queue depth that cannot be read is left out of the scrape
@media_response(
    200,
    prometheus_client.CONTENT_TYPE_LATEST.split(";", 1)[0],
    description="Prometheus text exposition format",
)
async def metrics_text() -> Response:
    """Prometheus metrics of this process, queue depths read just now."""
    await _update_queue_depths(get_runtime())
    return Response(
        prometheus_client.generate_latest(),
        content_type=prometheus_client.CONTENT_TYPE_LATEST,
    )
