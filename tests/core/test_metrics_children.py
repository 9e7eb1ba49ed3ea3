"""``metrics.child``: the labelled series, looked up once."""

from __future__ import annotations

from prometheus_client import REGISTRY

from flickrhub_core import metrics


def test_child_is_the_labelled_series() -> None:
    assert metrics.child(metrics.JOBS, "rest", "completed") is metrics.JOBS.labels(
        "rest", "completed"
    )


def test_counts_through_a_child_reach_the_scrape() -> None:
    labels = {"target": "rest", "outcome": "failed"}
    before = REGISTRY.get_sample_value("flickrhub_jobs_total", labels) or 0.0
    metrics.child(metrics.JOBS, "rest", "failed").inc()
    metrics.child(metrics.JOBS, "rest", "failed").inc()
    assert REGISTRY.get_sample_value("flickrhub_jobs_total", labels) == before + 2
