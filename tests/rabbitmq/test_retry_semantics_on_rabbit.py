"""Retry semantics with the worker on RabbitMQ: a Flickr 429 waits in a delay queue
without using up an attempt; a dead job whose copy for ``flickr_dlq`` failed gets
its copy when its message comes back; a replay or purge takes every copy of a job
out of ``flickr_dlq``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest

from flickrhub_core import Job, JobError, JobState, Target, TargetContext
from flickrhub_core.broker import Delivery
from flickrhub_core.broker.rabbitmq import RabbitBroker
from flickrhub_core.errors import ServiceUnavailable
from flickrhub_core.flickr import Credentials
from flickrhub_core.flickr.errors import http_error
from flickrhub_core.jobs import DLQ
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings
from flickrhub_core.worker import WorkerHost
from tests.helpers import (
    builtin_plugins,
    connected_token,
    dead_job_ids,
    finished,
    targets_plugin,
)
from tests.rabbitmq.conftest import MakeBroker


class Scripted(Target):
    """Runs a script of outcomes: an exception to raise or a value to return."""

    name = "scripted"
    script: ClassVar[list[Any]] = []
    calls: ClassVar[int] = 0

    async def execute(self, ctx: TargetContext) -> Any:
        type(self).calls += 1
        step = self.script.pop(0) if self.script else {"ok": True}
        if isinstance(step, BaseException):
            raise step
        return step


@pytest.fixture
async def rt(settings: Settings, make_broker: MakeBroker) -> AsyncIterator[Runtime]:
    Scripted.script = []
    Scripted.calls = 0
    runtime = Runtime.create(
        settings,
        plugins=builtin_plugins(targets_plugin(Scripted())),
        broker=await make_broker(),
        consumer=Credentials("key", "secret"),
    )
    await runtime.start()
    await runtime.tokens.put(connected_token())
    worker = WorkerHost(runtime, ["scripted"], concurrency=2)
    await worker.start()
    try:
        yield runtime
    finally:
        await worker.stop(grace=1)
        await runtime.close()


async def dead_letters(broker: RabbitBroker, count: int) -> list[tuple[bytes, str]]:
    async with asyncio.timeout(10):
        while len(dead := await broker.peek_dead()) < count:
            await asyncio.sleep(0.05)
    return dead


async def test_a_429_waits_in_the_broker_without_using_an_attempt(rt: Runtime) -> None:
    refused = http_error(429, method="flickr.test.echo", retry_after=0)
    Scripted.script = [refused, refused, {"stat": "ok"}]
    job = await rt.enqueue(Job(user_id="u1", target="scripted", max_attempts=3))
    done = await finished(rt, job.id, timeout=10)
    assert (done.state, done.attempts, done.rate_limited) == (JobState.COMPLETED, 1, 2)
    assert Scripted.calls == 3


async def test_a_dead_jobs_copy_lands_in_the_dlq_when_its_message_comes_back(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = rt.broker
    assert isinstance(broker, RabbitBroker)
    monkeypatch.setattr("flickrhub_core.worker.host.REQUEUE_PAUSE", 0.01)
    real_publish = broker._publish_raw
    refusals: list[str] = []

    async def publish_raw(name: str, body: bytes, headers: dict[str, Any] | None = None) -> None:
        if name == broker._name(DLQ) and not refusals:
            refusals.append(name)  # the broker is away just when the copy goes out
            raise ServiceUnavailable("RabbitMQ lost the message")
        await real_publish(name, body, headers)

    monkeypatch.setattr(broker, "_publish_raw", publish_raw)
    Scripted.script = [JobError("Flickr is down", retryable=True)] * 3
    job = await rt.enqueue(Job(user_id="u1", target="scripted", max_attempts=3))

    dead = await dead_letters(broker, 1)
    assert refusals
    assert dead_job_ids(dead) == [(job.id, "Flickr is down")]
    assert Scripted.calls == 3  # the redelivered message did not run the job again
    assert await broker.depth(job.queue) == 0


def message(job_id: str) -> bytes:
    return json.dumps({"job_id": job_id, "target": "rest"}).encode()


async def test_take_dead_removes_every_copy_of_a_job(broker: RabbitBroker) -> None:
    async def reject(delivery: Delivery) -> None:
        await delivery.dead_letter("exhausted")

    bodies = [message("job-1"), message("job-2"), message("job-1"), message("job-3")]
    consumer = await broker.consume("flickr_rest", reject, prefetch=1)
    for body in bodies:
        await broker.publish("flickr_rest", body)
    await dead_letters(broker, len(bodies))
    await consumer.cancel()

    assert await broker.take_dead({"job-1"}) == 2
    assert [body for body, _ in await broker.peek_dead()] == [message("job-2"), message("job-3")]
