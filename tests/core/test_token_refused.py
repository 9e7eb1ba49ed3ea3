"""A worker's cached token that Flickr refuses (revoked, or replaced by a reconnect
with other permissions in another process) is dropped from the cache, so the next job
of that user reads the token stored now instead of waiting out the cache's TTL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from flickrhub_core import Job, JobState
from flickrhub_core.runtime import Runtime
from flickrhub_core.token_cache import CachedTokenStore
from flickrhub_core.worker import WorkerHost
from tests.helpers import answer_flickr_with, connected_token, finished, started, working

INVALID_TOKEN = {"stat": "fail", "code": 98, "message": "Invalid auth token"}


class Flickr:
    """Refuses every token but ``good``, as Flickr does a revoked one."""

    def __init__(self) -> None:
        self.good = "token-2"

    def handle(self, request: httpx.Request) -> httpx.Response:
        sent = request.headers["Authorization"]
        if f'oauth_token="{self.good}"' in sent:
            return httpx.Response(200, json={"stat": "ok"})
        return httpx.Response(200, json=INVALID_TOKEN)


@pytest.fixture
async def rt(make_runtime: Callable[..., Runtime]) -> AsyncIterator[Runtime]:
    async with started(make_runtime()) as runtime:
        await answer_flickr_with(runtime, Flickr().handle)
        # As in a worker process: the cache in front of the store the API writes to.
        runtime.backends.tokens = CachedTokenStore(runtime.backends.tokens, ttl=3600)
        async with working(WorkerHost(runtime, concurrency=1)):
            yield runtime


async def echo(rt: Runtime) -> Job:
    job = Job(user_id="u1", target="rest", method="flickr.test.echo", max_attempts=1)
    return await finished(rt, (await rt.enqueue(job)).id)


async def test_a_token_flickr_refuses_is_read_afresh_for_the_next_job(rt: Runtime) -> None:
    cache = rt.backends.tokens
    assert isinstance(cache, CachedTokenStore)
    await cache.inner.put(connected_token().model_copy(update={"token": "token-1"}))
    refused = await echo(rt)
    assert refused.state is JobState.FAILED
    assert refused.error is not None and refused.error["flickr_code"] == 98

    # The user reconnects through the API of another process: only the store sees it.
    await cache.inner.put(connected_token().model_copy(update={"token": "token-2"}))
    assert (await echo(rt)).state is JobState.COMPLETED
