"""Every line logged while a job runs carries its job id, user id, target, attempt and
trace id: the runner's, the Flickr client's ``flickr_api_call``, a target's own, a
webhook's; and nothing of one job leaks into the lines after it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from flickrhub_core import Target, TargetContext, logs
from flickrhub_core.flickr import FlickrClient
from flickrhub_core.jobs import Job
from flickrhub_core.log_catalogue import EVENTS, JOB_FIELDS
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import StoredToken
from flickrhub_core.worker import WorkerHost
from tests.helpers import connected_token, finished, started, targets_plugin, working


@pytest.fixture
async def rt(
    make_runtime: Callable[..., Runtime], lines: list[dict[str, Any]]
) -> AsyncIterator[Runtime]:
    runtime = make_runtime()
    await runtime.start()
    calls = {"n": 0}

    def flickr(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:  # the first attempt meets a hiccup, the second succeeds
            return httpx.Response(502, text="bad gateway")
        return httpx.Response(200, json={"stat": "ok"})

    runtime.flickr = FlickrClient(
        runtime.endpoints,
        transport=httpx.MockTransport(flickr),
        on_call=runtime.record_flickr_call,
    )
    await runtime.tokens.put(
        StoredToken(
            user_id="u-ctx",
            consumer_key="key",
            consumer_secret="secret",
            token="t",
            token_secret="ts",
            user_nsid="1@N01",
        )
    )
    try:
        yield runtime
    finally:
        await runtime.close()


async def test_every_line_of_a_job_carries_its_ids(
    rt: Runtime, lines: list[dict[str, Any]]
) -> None:
    host = WorkerHost(rt)
    await host.start()
    try:
        job = await rt.enqueue(
            Job(
                user_id="u-ctx",
                target="rest",
                method="flickr.test.echo",
                max_attempts=3,
                trace_id="req-trace-1",
            )
        )
        async with asyncio.timeout(10):
            while not any(
                line["event"] == "job_completed" and line.get("job_id") == job.id for line in lines
            ):
                await asyncio.sleep(0.01)
    finally:
        await host.stop(grace=1)

    of_job = [line for line in lines if line.get("job_id") == job.id]
    events = [line["event"] for line in of_job]
    assert events[0] == "job_enqueued" and events[-1] == "job_completed"
    assert events.count("flickr_api_call") == 2
    assert "job_retrying" in events
    for line in of_job:
        assert EVENTS[line["event"]].job, line["event"]
        missing = [field for field in JOB_FIELDS if line.get(field) in (None, "")]
        assert not missing, (line["event"], missing)
        assert line["user_id"] == "u-ctx"
        assert line["target"] == "rest"
        assert line["trace_id"] == "req-trace-1"
    calls = [line for line in of_job if line["event"] == "flickr_api_call"]
    assert [(c["attempt"], c["status"], c["outcome"]) for c in calls] == [
        (1, 502, "http_error"),
        (2, 200, "ok"),
    ]
    assert all(c["flickr_method"] == "flickr.test.echo" and c["kind"] == "rest" for c in calls)
    assert all(isinstance(c["duration_ms"], float) for c in calls)
    # The worker's own lines after the job carry none of its ids.
    stopped = next(line for line in lines if line["event"] == "worker_stopped")
    assert not set(JOB_FIELDS) & set(stopped)


def test_bound_job_restores_the_context() -> None:
    outer = Job(id="outer", user_id="u", target="rest", trace_id="t")
    with logs.bound_job(outer):
        logs.bind_attempt(2)
        assert logs.job_context()["attempt"] == 2
    assert logs.job_context() == {}


class Talking(Target):
    """Logs a line of its own through ``ctx.log``."""

    name = "talking"

    async def execute(self, ctx: TargetContext) -> Any:
        ctx.log.info("target_note", step="walked")
        return {"stat": "ok"}


async def test_a_targets_own_lines_carry_the_job_ids(
    make_runtime: Callable[..., Runtime], lines: list[dict[str, Any]]
) -> None:
    runtime = make_runtime(targets_plugin(Talking()))
    async with started(runtime, connected_token("u-talk")), working(WorkerHost(runtime)):
        job = await runtime.enqueue(Job(user_id="u-talk", target="talking", trace_id="tr-2"))
        await finished(runtime, job.id)

    note = next(line for line in lines if line["event"] == "target_note")
    assert {field: note.get(field) for field in JOB_FIELDS} == {
        "job_id": job.id,
        "user_id": "u-talk",
        "target": "talking",
        "attempt": 1,
        "trace_id": "tr-2",
    }
    assert note["step"] == "walked"
