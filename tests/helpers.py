"""Helpers shared by tests: plugin sets built explicitly (never auto-loaded)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import types
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

import flickrhub_replace
import flickrhub_rest
import flickrhub_upload
from flickrhub_core import Job, JobState, Target, hookimpl
from flickrhub_core.flickr import FlickrClient
from flickrhub_core.jobs import DLQ, utcnow
from flickrhub_core.plugins import Plugins, load_plugins
from flickrhub_core.runtime import Runtime, encode_message
from flickrhub_core.stores import StoredToken
from flickrhub_core.worker import WorkerHost

BUILTIN_TARGETS = [
    ("rest", flickrhub_rest),
    ("upload", flickrhub_upload),
    ("replace", flickrhub_replace),
]


def builtin_plugins(*extra: tuple[str, object]) -> Plugins:
    """The built-in targets plus ``extra``, without looking at installed entry points."""
    return load_plugins([], found=[], extra=[*BUILTIN_TARGETS, *extra])


def targets_plugin(*targets: Target, name: str = "test_targets") -> tuple[str, object]:
    """A plugin module registering ``targets``, for ``builtin_plugins`` or ``make_runtime``."""

    @hookimpl
    def register_targets(register: Callable[[Target], None]) -> None:
        for target in targets:
            register(target)

    module = types.ModuleType(name)
    module.register_targets = register_targets  # type: ignore[attr-defined]
    return (name, module)


def connected_token(user_id: str = "u1", user_nsid: str = "1@N01") -> StoredToken:
    """A connected account signed with the test consumer pair ("key", "secret")."""
    return StoredToken(
        user_id=user_id,
        consumer_key="key",
        consumer_secret="secret",
        token="t",
        token_secret="ts",
        user_nsid=user_nsid,
    )


async def finished(rt: Runtime, job_id: str, timeout: float = 5.0) -> Job:
    """The job once it reached a terminal state (fails the test after ``timeout``)."""
    async with asyncio.timeout(timeout):
        while True:
            job = await rt.jobs.get(job_id)
            if job is not None and job.state.finished:
                return job
            await asyncio.sleep(0.01)


async def answer_flickr_with(
    runtime: Runtime, handler: Callable[[httpx.Request], httpx.Response]
) -> None:
    """Point a started runtime's Flickr client at ``handler`` (a scripted Flickr)."""
    original = runtime.require_flickr()
    runtime.flickr = FlickrClient(runtime.endpoints, transport=httpx.MockTransport(handler))
    await original.aclose()


@contextlib.asynccontextmanager
async def started(runtime: Runtime, *tokens: StoredToken) -> AsyncIterator[Runtime]:
    """``runtime`` started with ``tokens`` stored (by default :func:`connected_token`),
    closed afterwards."""
    await runtime.start()
    for token in tokens or (connected_token(),):
        await runtime.tokens.put(token)
    try:
        yield runtime
    finally:
        await runtime.close()


@contextlib.asynccontextmanager
async def working(worker: WorkerHost, *, grace: float = 1.0) -> AsyncIterator[WorkerHost]:
    """``worker`` consuming, drained for at most ``grace`` seconds afterwards."""
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop(grace=grace)


async def store_dead_job(rt: Runtime, *, age: float = 0, **fields: Any) -> Job:
    """A job as a worker leaves one that exhausted its retries (created ``age`` seconds
    ago): its record and its copy in the DLQ. ``fields`` set the call and its owner."""
    job = Job(
        state=JobState.FAILED,
        attempts=3,
        max_attempts=3,
        dead_lettered=True,
        created_at=utcnow() - timedelta(seconds=age),
        finished_at=utcnow(),
        **fields,
    )
    await rt.jobs.save(job)
    await rt.broker.publish(DLQ, encode_message(job))
    return job


def dead_job_ids(dead: list[tuple[bytes, str]]) -> list[tuple[str, str]]:
    """Dead letters (``peek_dead``) as (job id, reason): a message also carries the
    job's record as published, which later saves of the job changed."""
    return [(json.loads(body)["job_id"], reason) for body, reason in dead]


def raw_http(url: str, *chunks: bytes, timeout: float = 10) -> bytes:
    """Send ``chunks`` as they are to the server at ``url`` and read until it closes:
    for requests an HTTP client would refuse to send (oversized or endless heads)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None, url
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        for chunk in chunks:
            sock.sendall(chunk)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    return answer
