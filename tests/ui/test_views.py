"""The UI's view helpers: formatting, the call window behind the rate-limit figure,
filters and which dead letters can be replayed."""

from __future__ import annotations

from typing import Any

import pytest

from flickrhub_api.ui import views
from flickrhub_api.ui.views import (
    HOUR,
    CallWindow,
    DashboardFilters,
    duration_text,
    job_row,
    state_summary,
)
from flickrhub_core.jobs import Job, JobState
from flickrhub_core.runtime import Runtime


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "—"),
        (0.4, "0 ms"),
        (850, "850 ms"),
        (3_240, "3.2 s"),
        (245_000, "4 min 05 s"),
        (7_380_000, "2 h 03 min"),
    ],
)
def test_duration_text(ms: float | None, text: str) -> None:
    assert duration_text(ms) == text


def test_call_window_counts_the_last_hour_once_it_has_an_old_enough_sample() -> None:
    window = CallWindow(spacing=5)
    start = 10_000.0
    window.record(start, 100)
    assert window.since_hour_ago(start + 60, 120) is None
    for minute in range(1, 70):
        window.record(start + minute * 60, 100 + minute)
    now = start + 69 * 60
    # The newest sample at least an hour old is from minute 9 (count 109).
    assert window.since_hour_ago(now, 169) == 60
    assert window.samples[0][0] == start + 9 * 60


def test_rate_limit_figures_of_a_young_process(
    make_runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime: Runtime = make_runtime(flickr_rate_limit_per_hour=3600)
    monkeypatch.setattr(views, "_counter_total", lambda counter, **labels: 40.0)
    monkeypatch.setattr(views, "_process_start", lambda: 1_000.0)
    monkeypatch.setattr(views, "_WINDOW", CallWindow())
    figures = views.rate_limit_figures(runtime, now=1_000.0 + 600)
    assert figures["calls_last_hour"] == 40
    assert figures["headroom"] == 3560
    assert figures["headroom_text"] == "3,560"
    # Older than an hour: known from the sample taken an hour ago, else unknown.
    later = views.rate_limit_figures(runtime, now=1_000.0 + 600 + HOUR)
    assert later["calls_last_hour"] == 0 and later["headroom"] == 3600
    monkeypatch.setattr(views, "_WINDOW", CallWindow())
    unseen = views.rate_limit_figures(runtime, now=1_000.0 + 2 * HOUR)
    assert unseen["calls_last_hour"] is None and unseen["headroom_text"] == "unknown"
    assert unseen["calls_total"] == 40


def test_rate_limit_figures_without_a_limit(make_runtime: Any) -> None:
    runtime: Runtime = make_runtime(flickr_rate_limit_per_hour=0)
    figures = views.rate_limit_figures(runtime)
    assert figures["limited"] is False
    assert figures["headroom_text"] == "not limited"


def test_filters_ignore_unknown_values() -> None:
    targets = ["rest", "upload"]
    assert DashboardFilters.parse({"state": "failed", "target": "rest"}, targets) == (
        DashboardFilters(JobState.FAILED, "rest")
    )
    assert DashboardFilters.parse({"state": "nope", "target": "evil"}, targets) == (
        DashboardFilters()
    )


def job(**fields: Any) -> Job:
    return Job(user_id="u", target="rest", method="flickr.test.echo", **fields)


def test_state_summary_reads_as_a_sentence() -> None:
    rows = [job_row(job(state=s)) for s in (JobState.RUNNING, JobState.COMPLETED)] + [
        job_row(job(state=JobState.COMPLETED))
    ]
    assert state_summary(rows)["text"] == "Recent jobs: 1 running, 2 completed."
    assert state_summary([])["text"] == "Recent jobs: no jobs."


def test_a_long_params_preview_is_cut() -> None:
    row = job_row(job(params={"text": "x" * 500}))
    assert len(row["params"]) == views.PARAMS_PREVIEW
    assert row["params"].endswith("…")
