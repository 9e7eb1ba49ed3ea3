"""Prometheus metrics of one process (served at ``/metrics`` by the API)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

JOBS = Counter(
    "flickrhub_jobs_total", "Jobs finished, by target and outcome", ["target", "outcome"]
)
JOBS_ENQUEUED = Counter("flickrhub_jobs_enqueued_total", "Jobs accepted", ["target"])
JOB_DURATION = Histogram(
    "flickrhub_job_duration_seconds",
    "Time from start to outcome of a job",
    ["target"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RETRIES = Counter("flickrhub_job_retries_total", "Attempts that will be retried", ["target"])
DEAD_LETTERS = Counter("flickrhub_dead_letters_total", "Jobs moved to the DLQ", ["target"])
FLICKR_CALLS = Counter(
    "flickrhub_flickr_calls_total", "Calls to Flickr, by kind and outcome", ["kind", "outcome"]
)
FLICKR_LATENCY = Histogram(
    "flickrhub_flickr_call_seconds",
    "Latency of calls to Flickr",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
)
CACHE = Counter("flickrhub_cache_requests_total", "Cache lookups, by result", ["result"])
RATE_LIMIT_WAIT = Counter(
    "flickrhub_rate_limit_wait_seconds_total", "Seconds workers waited for the rate limit"
)
QUEUE_DEPTH = Gauge("flickrhub_queue_depth", "Messages waiting per queue", ["queue"])
