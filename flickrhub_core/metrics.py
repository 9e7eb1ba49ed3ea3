"""Prometheus metrics of one process: the API serves them at ``/metrics``, a worker
at ``/metrics`` on ``FLICKRHUB_WORKER_METRICS_PORT`` (:mod:`flickrhub_core.metrics_server`).

Every metric, with its labels and meaning, is documented in ``docs/metrics.md`` (a
test checks the page against this module). Labels take values from small fixed
sets (targets, outcomes, route templates, status codes), never ids or user input.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from flickrhub_core.broker import Broker
    from flickrhub_core.flickr import CallRecord

# --- jobs --------------------------------------------------------------------------------

JOBS = Counter(
    "flickrhub_jobs_total", "Jobs finished, by target and outcome", ["target", "outcome"]
)
#: The ``outcome`` values of :data:`JOBS` (the job's final state).
JOB_OUTCOMES = ("completed", "failed", "cancelled")
JOBS_ENQUEUED = Counter("flickrhub_jobs_enqueued_total", "Jobs accepted", ["target"])
JOBS_IN_FLIGHT = Gauge("flickrhub_jobs_in_flight", "Jobs this process is running now", ["target"])
JOB_DURATION = Histogram(
    "flickrhub_job_duration_seconds",
    "Time from start to outcome of a job",
    ["target"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RETRIES = Counter("flickrhub_job_retries_total", "Attempts that will be retried", ["target"])
DEAD_LETTERS = Counter("flickrhub_dead_letters_total", "Jobs moved to the DLQ", ["target"])
QUEUE_DEPTH = Gauge("flickrhub_queue_depth", "Messages waiting per queue", ["queue"])

# --- Flickr ------------------------------------------------------------------------------

FLICKR_CALLS = Counter(
    "flickrhub_flickr_calls_total", "Calls to Flickr, by kind and outcome", ["kind", "outcome"]
)
FLICKR_KINDS = ("rest", "upload", "replace", "oauth")
#: The ``outcome`` values of :data:`FLICKR_CALLS` (see :func:`call_outcome`).
FLICKR_OUTCOMES = ("ok", "api_error", "rate_limited", "http_error", "transport_error")
FLICKR_LATENCY = Histogram(
    "flickrhub_flickr_call_seconds",
    "Latency of calls to Flickr",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
)
RATE_LIMIT_WAIT = Counter(
    "flickrhub_rate_limit_wait_seconds_total", "Seconds workers waited for the rate limit"
)
RATE_LIMIT_WAITS = Counter(
    "flickrhub_rate_limit_waits_total", "Flickr calls that had to wait for the rate limit"
)
RATE_LIMIT_BACKOFFS = Counter(
    "flickrhub_rate_limit_backoffs_total",
    "Flickr 429 answers that paused every call of the API key",
)

# --- cache -------------------------------------------------------------------------------

CACHE = Counter("flickrhub_cache_requests_total", "Cache lookups, by result", ["result"])

# --- webhooks ----------------------------------------------------------------------------

WEBHOOKS = Counter(
    "flickrhub_webhook_deliveries_total",
    "Webhook delivery events: delivered, retried (an attempt failed, another follows), "
    "failed (given up), dropped (too many pending)",
    ["outcome"],
)
WEBHOOK_OUTCOMES = ("delivered", "retried", "failed", "dropped")

# --- the HTTP API ------------------------------------------------------------------------

API_REQUESTS = Counter(
    "flickrhub_api_requests_total",
    "HTTP requests answered, by method, route template and status code",
    ["method", "route", "status"],
)
API_LATENCY = Histogram(
    "flickrhub_api_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
#: Methods counted by name; anything else is ``other`` (a client picks the method).
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


_Metric = TypeVar("_Metric", Counter, Gauge, Histogram)


@functools.cache
def child(metric: _Metric, *values: str) -> _Metric:
    """``metric.labels(*values)``, looked up once: ``labels`` takes a lock and checks
    its values on every call, several times per job and per request. The label values
    come from small fixed sets (see the module docstring), so this stays small."""
    return metric.labels(*values)


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    """Count one answered request (``route``: the matched rule, None when unmatched)."""
    method = method if method in HTTP_METHODS else "other"
    template = route or "unmatched"
    child(API_REQUESTS, method, template, str(status)).inc()
    child(API_LATENCY, method, template).observe(seconds)


def call_outcome(record: CallRecord) -> str:
    """How a Flickr call ended, as the ``outcome`` label says it."""
    if record.ok:
        return "ok"
    if record.http_status is None:
        return "transport_error"
    if record.http_status == 429:
        return "rate_limited"
    if record.http_status != 200:
        return "http_error"
    return "api_error"  # "stat": "fail" (or an unreadable body) in a 200 answer


def observe_flickr_call(record: CallRecord) -> str:
    """Count one Flickr exchange; its outcome label."""
    outcome = call_outcome(record)
    child(FLICKR_CALLS, record.kind, outcome).inc()
    child(FLICKR_LATENCY, record.kind).observe(record.duration_s)
    return outcome


def init_labels(targets: Iterable[str]) -> None:
    """Create every known label set at zero, so series exist (and ``rate()`` and
    alerts work) before the first event."""
    for target in targets:
        JOBS_ENQUEUED.labels(target)
        JOBS_IN_FLIGHT.labels(target)
        JOB_DURATION.labels(target)
        RETRIES.labels(target)
        DEAD_LETTERS.labels(target)
        for outcome in JOB_OUTCOMES:
            JOBS.labels(target, outcome)
    for kind in FLICKR_KINDS:
        FLICKR_LATENCY.labels(kind)
        for outcome in FLICKR_OUTCOMES:
            FLICKR_CALLS.labels(kind, outcome)
    for result in ("hit", "miss"):
        CACHE.labels(result)
    for outcome in WEBHOOK_OUTCOMES:
        WEBHOOKS.labels(outcome)


#: Seconds one queue-depth read may take during a scrape.
DEPTH_TIMEOUT = 2.0


async def refresh_queue_depths(broker: Broker, queues: Iterable[str]) -> None:
    """Read each queue's depth into :data:`QUEUE_DEPTH` (called on every scrape);
    a queue whose read fails keeps its last value."""

    async def one(queue: str) -> None:
        try:
            depth = await asyncio.wait_for(broker.depth(queue), DEPTH_TIMEOUT)
        except Exception:  # a broker hiccup must not break the scrape
            return
        child(QUEUE_DEPTH, queue).set(depth)

    await asyncio.gather(*(one(queue) for queue in sorted(set(queues))))
