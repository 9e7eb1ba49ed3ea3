"""Dead letters and cancel requests with the worker on RabbitMQ: a replay takes the
dead letter out of ``flickr_dlq``; a retry waiting in a delay queue is cancelled
when it comes back."""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import pytest

from flickrhub_core import Job, JobError, JobState, Target, TargetContext, dlq, hookimpl
from flickrhub_core.cancel import request_cancel
from flickrhub_core.flickr import Credentials
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings
from flickrhub_core.worker import WorkerHost
from tests.helpers import builtin_plugins, connected_token, dead_job_ids
from tests.rabbitmq.conftest import MakeBroker


class Outage(Target):
    """Fails retryably ``failures`` times; with ``cancel_first`` the first attempt
    also brings its owner's cancel request (the API, while it runs)."""

    name = "outage"
    failures: ClassVar[int] = 0
    calls: ClassVar[int] = 0
    cancel_first: ClassVar[bool] = False

    async def execute(self, ctx: TargetContext) -> Any:
        type(self).calls += 1
        if self.cancel_first and self.calls == 1:
            await request_cancel(STORE["jobs"], ctx.job)
        if type(self).failures > 0:
            type(self).failures -= 1
            raise JobError("Flickr is down", retryable=True)
        return {"ok": True}


#: The runtime's job store, for the target to reach (as the API would).
STORE: dict[str, Any] = {}


def plugin() -> tuple[str, object]:
    @hookimpl
    def register_targets(register: Callable[[Target], None]) -> None:
        register(Outage())

    module = types.ModuleType("rabbit_dlq_targets")
    module.register_targets = register_targets  # type: ignore[attr-defined]
    return ("rabbit_dlq_targets", module)


@pytest.fixture
async def rt(settings: Settings, make_broker: MakeBroker) -> AsyncIterator[Runtime]:
    Outage.failures = 0
    Outage.calls = 0
    Outage.cancel_first = False
    runtime = Runtime.create(
        settings,
        plugins=builtin_plugins(plugin()),
        broker=await make_broker(),
        consumer=Credentials("key", "secret"),
    )
    STORE["jobs"] = runtime.jobs
    await runtime.start()
    await runtime.tokens.put(connected_token())
    worker = WorkerHost(runtime, ["outage"], concurrency=4)
    await worker.start()
    try:
        yield runtime
    finally:
        await worker.stop(grace=1)
        await runtime.close()


async def finished(rt: Runtime, job_id: str, timeout: float = 10.0) -> Job:
    async with asyncio.timeout(timeout):
        while True:
            job = await rt.jobs.get(job_id)
            if job is not None and job.state.finished:
                return job
            await asyncio.sleep(0.02)


async def test_a_replay_takes_the_dead_letter_out_of_rabbitmq(rt: Runtime) -> None:
    Outage.failures = 3
    dead = await finished(rt, (await rt.enqueue(Job(user_id="u1", target="outage"))).id)
    assert dead.dead_lettered
    async with asyncio.timeout(5):
        while not await rt.broker.peek_dead():
            await asyncio.sleep(0.05)
    assert dead_job_ids(await rt.broker.peek_dead()) == [(dead.id, "Flickr is down")]

    fresh = await dlq.replay(rt, "default", dead.id)
    assert await rt.broker.peek_dead() == []
    done = await finished(rt, fresh.id)
    assert done.state is JobState.COMPLETED and done.attempts == 1
    assert done.replay_of == dead.id


async def test_a_retry_waiting_in_the_broker_is_cancelled_when_it_comes_back(
    rt: Runtime,
) -> None:
    Outage.failures = 1
    Outage.cancel_first = True
    job = await rt.enqueue(Job(user_id="u1", target="outage", max_attempts=3))
    done = await finished(rt, job.id)
    assert done.state is JobState.CANCELLED
    assert Outage.calls == 1 and done.attempts == 1  # never sent again
    await asyncio.sleep(0.2)
    assert await rt.broker.depth(job.queue) == 0
