"""What the UI's pages show, as plain data: one job row, the dashboard's figures.

The same dictionaries feed the Jinja templates (first render) and
``/ui/dashboard.json`` (live updates, rendered by ``static/ui.js`` with DOM text
nodes only), so both show exactly the same words.

Figures read from Prometheus counters are this process's, since it started; the
labels on the page say so.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from prometheus_client import REGISTRY, Counter

from flickrhub_core import dlq, metrics
from flickrhub_core.jobs import DLQ, FINISHED_STATES, Job, JobState, utcnow
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import JobQuery

__all__ = [
    "STATE_ICONS",
    "STATE_ORDER",
    "DashboardFilters",
    "cache_figures",
    "dashboard_data",
    "duration_text",
    "job_detail",
    "job_row",
    "pretty_json",
    "rate_limit_figures",
    "state_summary",
]

T = TypeVar("T")

#: States in the order a job goes through them (summaries and filters use it).
STATE_ORDER = tuple(JobState)
#: A shape per state, shown beside the state's name: status is never colour alone.
STATE_ICONS = {
    JobState.QUEUED: "○",
    JobState.RUNNING: "▶",
    JobState.RETRYING: "↻",
    JobState.COMPLETED: "✓",
    JobState.FAILED: "✕",
    JobState.CANCELLED: "⊘",
}
#: Rows of the jobs table.
JOBS_SHOWN = 50
#: Dead letters counted at most (the dashboard shows the number).
DEAD_SCAN = 500
#: Characters of a job's params shown in its row (the detail page shows them all).
PARAMS_PREVIEW = 120
#: Characters of a result shown on the detail page.
RESULT_SHOWN = 64 * 1024
#: Seconds one broker or store read of the dashboard may take.
READ_TIMEOUT = 2.0
HOUR = 3600.0


@dataclass(frozen=True)
class DashboardFilters:
    state: JobState | None = None
    target: str | None = None

    @classmethod
    def parse(cls, args: Any, targets: list[str]) -> DashboardFilters:
        """From the query string; unknown values mean "any" (it is a filter form)."""
        raw_state = str(args.get("state") or "")
        raw_target = str(args.get("target") or "")
        state = JobState(raw_state) if raw_state in {s.value for s in JobState} else None
        return cls(state=state, target=raw_target if raw_target in targets else None)

    def query(self, owner: str, limit: int = JOBS_SHOWN) -> JobQuery:
        return JobQuery(owner=owner, state=self.state, target=self.target, limit=limit)


# --- one job ----------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _clock(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"


def duration_text(ms: float | None) -> str:
    """``850 ms``, ``3.2 s``, ``4 min 05 s``; ``—`` when the job has not finished."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def pretty_json(value: Any, limit: int | None = None) -> tuple[str, bool]:
    """Indented JSON text (escaped by the template, never marked safe); ``(text, cut)``."""
    text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    if limit is not None and len(text) > limit:
        return text[:limit], True
    return text, False


def _state_note(job: Job) -> str:
    """A word beside the state where it tells more: where the result came from, or
    where the job went."""
    if job.state is JobState.FAILED and job.dead_lettered:
        return "dead letter"
    if job.state is JobState.COMPLETED and job.from_cache:
        return "from cache"
    if job.state is JobState.RETRYING:
        return f"attempt {job.attempts + 1} of {job.max_attempts}"
    return ""


def job_row(job: Job) -> dict[str, Any]:
    """One row of the jobs table."""
    error = job.error or {}
    params = _compact(job.params) if job.params else ""
    if len(params) > PARAMS_PREVIEW:
        params = params[: PARAMS_PREVIEW - 1] + "…"
    return {
        "id": job.id,
        "short_id": job.id[:8],
        "state": job.state.value,
        "state_label": job.state.value,
        "state_note": _state_note(job),
        "icon": STATE_ICONS[job.state],
        "finished": job.state in FINISHED_STATES,
        "target": job.target,
        "method": job.method or "",
        "params": params,
        "user_id": job.user_id,
        "created_at": _iso(job.created_at),
        "created": job.created_at.strftime("%H:%M:%S"),
        "duration_ms": job.duration_ms,
        "duration": duration_text(job.duration_ms),
        "attempts": f"{job.attempts} of {job.max_attempts}",
        "error": str(error.get("message", "")) if job.error else "",
        "error_code": str(error.get("code", "")) if job.error else "",
        "dead_lettered": job.dead_lettered,
        "from_cache": job.from_cache,
    }


def job_detail(job: Job) -> dict[str, Any]:
    """Everything the detail page shows (never the webhook's secret)."""
    result_text, result_cut = pretty_json(job.result, RESULT_SHOWN)
    return {
        **job_row(job),
        "max_attempts": job.max_attempts,
        "queue": job.queue,
        "created_full": _clock(job.created_at),
        "started_full": _clock(job.started_at),
        "finished_full": _clock(job.finished_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "params_json": pretty_json(job.params)[0],
        "has_result": job.result is not None,
        "result_json": result_text,
        "result_cut": result_cut,
        "error_json": pretty_json(job.error)[0] if job.error else "",
        "error_retryable": (job.error or {}).get("retryable"),
        "meta_json": pretty_json(job.meta)[0] if job.meta else "",
        "progress_json": pretty_json(job.progress)[0] if job.progress else "",
        "trace_id": job.trace_id or "",
        "idempotency_key": job.idempotency_key or "",
        "batch_id": job.batch_id or "",
        "callback_url": job.callback_url or "",
        "webhook": dict(job.webhook) if job.webhook else None,
        "replay_of": job.replay_of or "",
    }


def state_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per state of the rows shown, and the sentence the live region reads."""
    counts = {state.value: 0 for state in STATE_ORDER}
    for row in rows:
        counts[row["state"]] += 1
    parts = [f"{n} {state}" for state, n in counts.items() if n]
    text = ", ".join(parts) if parts else "no jobs"
    return {"counts": counts, "text": f"Recent jobs: {text}."}


# --- figures ----------------------------------------------------------------------------


def _counter_total(counter: Counter, **labels: str) -> float:
    """The sum of ``counter``'s series whose labels include ``labels``."""
    return sum(
        sample.value
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and labels.items() <= sample.labels.items()
    )


def cache_figures() -> dict[str, Any]:
    hits = int(_counter_total(metrics.CACHE, result="hit"))
    misses = int(_counter_total(metrics.CACHE, result="miss"))
    lookups = hits + misses
    ratio = hits / lookups if lookups else None
    return {
        "hits": hits,
        "misses": misses,
        "lookups": lookups,
        "ratio": ratio,
        "ratio_text": f"{ratio:.0%}" if ratio is not None else "no lookups yet",
    }


@dataclass
class CallWindow:
    """Samples of this process's cumulative Flickr call count, to tell how many calls
    fell in the last hour once the process is older than an hour."""

    samples: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=4096))
    spacing: float = 5.0

    def record(self, now: float, total: float) -> None:
        if not self.samples or now - self.samples[-1][0] >= self.spacing:
            self.samples.append((now, total))
        while len(self.samples) > 1 and self.samples[1][0] <= now - HOUR:
            self.samples.popleft()

    def since_hour_ago(self, now: float, total: float) -> float | None:
        """Calls since the newest sample at least an hour old (an upper bound on the
        last hour's); None without such a sample."""
        if self.samples and self.samples[0][0] <= now - HOUR:
            return total - self.samples[0][1]
        return None


_WINDOW = CallWindow()


def _process_start() -> float:
    started = REGISTRY.get_sample_value("process_start_time_seconds")
    return started if started else _IMPORTED_AT


_IMPORTED_AT = time.time()


def rate_limit_figures(runtime: Runtime, *, now: float | None = None) -> dict[str, Any]:
    """The configured Flickr limit and this process's calls against it."""
    now = time.time() if now is None else now
    limit = runtime.settings.flickr_rate_limit_per_hour
    total = _counter_total(metrics.FLICKR_CALLS)
    _WINDOW.record(now, total)
    uptime = now - _process_start()
    if uptime <= HOUR:
        last_hour: float | None = total
        basis = "it started under an hour ago"
    else:
        last_hour = _WINDOW.since_hour_ago(now, total)
        basis = (
            "from this page's samples, up to a few seconds more than an hour"
            if last_hour is not None
            else "known once this page has watched the process for an hour"
        )
    headroom = None if not limit or last_hour is None else max(0, limit - int(last_hour))
    waited = _counter_total(metrics.RATE_LIMIT_WAIT)
    return {
        "limit_per_hour": limit,
        "limited": bool(limit),
        "calls_total": int(total),
        "calls_last_hour": None if last_hour is None else int(last_hour),
        "headroom": headroom,
        "headroom_text": (
            "not limited" if not limit else (f"{headroom:,}" if headroom is not None else "unknown")
        ),
        "basis": basis,
        "waited_seconds": round(waited, 1),
        "counts_workers": runtime.role == "embedded" or runtime.role == "worker",
    }


async def _bounded(awaitable: Awaitable[T]) -> T | None:
    try:
        return await asyncio.wait_for(awaitable, READ_TIMEOUT)
    except Exception:  # a slow or failing backend shows as "unavailable", not a 500
        return None


async def queue_figures(runtime: Runtime) -> dict[str, Any]:
    names = sorted(runtime.targets)
    depths = await asyncio.gather(
        *(_bounded(runtime.broker.depth(runtime.targets[n].queue)) for n in names),
        _bounded(runtime.broker.depth(DLQ)),
    )
    queues = [
        {"target": name, "queue": runtime.targets[name].queue, "depth": depth}
        for name, depth in zip(names, depths[:-1], strict=True)
    ]
    return {"queues": queues, "dlq_messages": depths[-1]}


async def dead_letters(runtime: Runtime, owner: str) -> list[Job]:
    """The owner's jobs in the DLQ (dead-lettered, not replayed or purged yet)."""
    jobs, _ = await dlq.list_dead(runtime, owner, limit=DEAD_SCAN)
    return jobs


async def dashboard_data(runtime: Runtime, owner: str, filters: DashboardFilters) -> dict[str, Any]:
    """Everything the dashboard shows, as JSON-ready data."""
    jobs, queues, dead, accounts = await asyncio.gather(
        runtime.jobs.list(filters.query(owner)),
        queue_figures(runtime),
        _bounded(dead_letters(runtime, owner)),
        _bounded(runtime.tokens.list(owner)),
    )
    rows = [job_row(job) for job in jobs]
    now = utcnow()
    return {
        "generated_at": _iso(now),
        "generated_text": now.strftime("%H:%M:%S UTC"),
        "filters": {
            "state": filters.state.value if filters.state else None,
            "target": filters.target,
        },
        "summary": state_summary(rows),
        "jobs": rows,
        "queues": queues["queues"],
        "dlq": {
            "messages": queues["dlq_messages"],
            "replayable": None if dead is None else len(dead),
        },
        "cache": cache_figures(),
        "rate_limit": rate_limit_figures(runtime),
        "accounts": None if accounts is None else len(accounts),
    }
