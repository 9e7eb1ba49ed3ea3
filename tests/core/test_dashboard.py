"""``docs/grafana-dashboard.json`` is a Grafana dashboard over the documented metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).parents[2] / "docs"
METRIC = re.compile(r"\b(flickrhub_[a-z_]+)")
HISTOGRAM_SERIES = re.compile(r"_(bucket|count|sum)$")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DOCS / "grafana-dashboard.json").read_text("utf-8"))
    return loaded


def documented_metrics() -> dict[str, str]:
    """name → type, from ``docs/metrics.md``'s table."""
    rows = re.findall(
        r"^\| `(flickrhub_\w+)` \| (\w+) \|", (DOCS / "metrics.md").read_text("utf-8"), re.M
    )
    return dict(rows)


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found += panel.get("panels", [])  # collapsed rows keep theirs inside
    return found


def exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]


def test_it_is_a_current_dashboard_with_a_prometheus_datasource_variable(
    dashboard: dict[str, Any],
) -> None:
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["title"] and dashboard["uid"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    datasource = variables["datasource"]
    assert datasource["type"] == "datasource" and datasource["query"] == "prometheus"
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}"


def test_every_expr_uses_documented_metrics(dashboard: dict[str, Any]) -> None:
    known = documented_metrics()
    for expr in exprs(dashboard):
        names = METRIC.findall(expr)
        assert names, expr
        for name in names:
            base = HISTOGRAM_SERIES.sub("", name)
            if base != name:
                assert known.get(base) == "histogram", f"{name} in {expr!r}"
            else:
                assert name in known, f"{name} in {expr!r} is not in docs/metrics.md"


def test_every_documented_metric_is_on_the_dashboard(dashboard: dict[str, Any]) -> None:
    used = {HISTOGRAM_SERIES.sub("", n) for e in exprs(dashboard) for n in METRIC.findall(e)}
    assert set(documented_metrics()) <= used


@pytest.mark.parametrize(
    "topic",
    [
        "Jobs / s by outcome",
        "Job duration",
        "Flickr latency",
        "Retries and dead letters / s",
        "Queue depth",
        "Cache hit ratio",
        "Rate-limit waits",
        "Webhook deliveries / s",
        "API requests / s by status",
        "API latency p95 by route",
        "API 5xx ratio",
    ],
)
def test_the_panels_operators_need_are_there(dashboard: dict[str, Any], topic: str) -> None:
    assert topic in {p["title"] for p in panels(dashboard)}


def test_job_duration_shows_p50_p95_p99(dashboard: dict[str, Any]) -> None:
    panel = next(p for p in panels(dashboard) if p["title"] == "Job duration")
    quantiles = {re.search(r"histogram_quantile\((0\.\d+)", t["expr"])[1] for t in panel["targets"]}  # type: ignore[index]
    assert quantiles == {"0.5", "0.95", "0.99"}
