"""A Flickr 429 does not use up an attempt: Flickr ran nothing and asks every caller
of the key to wait, so the job is tried again after ``Retry-After`` (at least) and
counts the refusal in ``rate_limited``, up to ``FLICKRHUB_RATE_LIMITED_RETRIES``;
past that a 429 is an ordinary failed attempt. An upload refused with 429 was never
processed, so it is sent again (never "outcome unknown").

The real ``rest`` and ``upload`` targets and Flickr client run in the embedded mode
(in-process broker: retries wait in the worker), against a scripted Flickr.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from flickrhub_core import Job, JobState
from flickrhub_core.errors import JobError
from flickrhub_core.flickr.errors import http_error
from flickrhub_core.runtime import Runtime
from flickrhub_core.worker import WorkerHost
from flickrhub_core.worker.runner import JobRunner
from flickrhub_core.worker.session import DEFAULT_429_BACKOFF
from tests.helpers import answer_flickr_with, finished, started, working

OK_XML = b'<rsp stat="ok"><photoid>42</photoid></rsp>'


#: ``FLICKRHUB_RATE_LIMITED_RETRIES`` in these tests.
CAP = 2


class ScriptedFlickr:
    """Answers 429 (``Retry-After: 0``) to the first ``refusals`` requests, then OK."""

    def __init__(self) -> None:
        self.refusals = 0
        self.paths: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if len(self.paths) <= self.refusals:
            return httpx.Response(429, headers={"Retry-After": "0"}, text="Too Many Requests")
        if request.url.path.endswith("/upload/"):
            return httpx.Response(200, content=OK_XML, headers={"Content-Type": "text/xml"})
        return httpx.Response(200, json={"stat": "ok"})


@pytest.fixture
def flickr() -> ScriptedFlickr:
    return ScriptedFlickr()


@pytest.fixture
async def rt(
    make_runtime: Callable[..., Runtime], flickr: ScriptedFlickr
) -> AsyncIterator[Runtime]:
    async with started(make_runtime(rate_limited_retries=CAP)) as runtime:
        await answer_flickr_with(runtime, flickr.handle)
        async with working(WorkerHost(runtime, concurrency=2)):
            yield runtime


async def echo(rt: Runtime) -> Job:
    job = Job(user_id="u1", target="rest", method="flickr.test.echo", max_attempts=3)
    return await finished(rt, (await rt.enqueue(job)).id)


async def test_two_429s_then_success_complete_in_one_attempt(
    rt: Runtime, flickr: ScriptedFlickr
) -> None:
    flickr.refusals = 2
    done = await echo(rt)
    assert (done.state, done.attempts, done.rate_limited) == (JobState.COMPLETED, 1, 2)
    assert done.status_view()["rate_limited"] == 2
    assert len(flickr.paths) == 3


async def test_429s_past_the_cap_count_as_attempts(rt: Runtime, flickr: ScriptedFlickr) -> None:
    flickr.refusals = 100
    done = await echo(rt)
    assert (done.state, done.attempts, done.rate_limited) == (JobState.FAILED, 3, CAP)
    assert done.dead_lettered
    assert done.error is not None and done.error["http_status"] == 429
    assert len(flickr.paths) == 3 + CAP


async def test_an_upload_answered_429_is_sent_again_and_completes_once(
    rt: Runtime, flickr: ScriptedFlickr
) -> None:
    flickr.refusals = 1

    async def photo() -> AsyncIterator[bytes]:
        yield b"\xff\xd8 not really a jpeg"

    blob = await rt.blobs.put(photo(), filename="a.jpg", content_type="image/jpeg")
    job = Job(user_id="u1", target="upload", blob_id=blob.id, max_attempts=3)
    done = await finished(rt, (await rt.enqueue(job)).id)
    assert (done.state, done.attempts, done.rate_limited) == (JobState.COMPLETED, 1, 1)
    assert done.result["photoid"] == {"_content": "42"}
    assert flickr.paths == ["/services/upload/", "/services/upload/"]


async def test_the_retry_after_a_429_waits_at_least_what_flickr_asked(runtime: Runtime) -> None:
    runner = JobRunner(runtime)
    job = Job(user_id="u1", target="rest", attempts=1)
    asked = http_error(429, method="flickr.test.echo", retry_after=7)
    unsaid = http_error(429, method="flickr.test.echo")
    assert runner.retry_delay(job, asked) >= 7
    assert runner.retry_delay(job, unsaid) >= DEFAULT_429_BACKOFF
    assert runner.retry_delay(job, JobError("busy", retryable=True)) < 7
