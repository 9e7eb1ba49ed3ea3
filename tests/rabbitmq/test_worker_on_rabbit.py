"""The worker host over RabbitMQ, and how the runtime picks the broker from settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest

from flickrhub_core import Job, JobError, JobState, Target, TargetContext
from flickrhub_core.broker import MemoryBroker
from flickrhub_core.broker.rabbitmq import RabbitBroker
from flickrhub_core.errors import ConfigError, ServiceUnavailable
from flickrhub_core.flickr import Credentials
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings, load_settings
from flickrhub_core.worker import WorkerHost
from tests.helpers import builtin_plugins, dead_job_ids, started, targets_plugin, working
from tests.rabbitmq.conftest import MakeBroker


class Scripted(Target):
    """Runs a script of outcomes: an exception to raise or a value to return."""

    name = "scripted"
    script: ClassVar[list[Any]] = []

    async def execute(self, ctx: TargetContext) -> Any:
        step = self.script.pop(0) if self.script else {"ok": True}
        if isinstance(step, BaseException):
            raise step
        return step


@pytest.fixture
async def rt(settings: Settings, make_broker: MakeBroker) -> AsyncIterator[Runtime]:
    Scripted.script = []
    broker = await make_broker()
    runtime = Runtime.create(
        settings,
        plugins=builtin_plugins(targets_plugin(Scripted())),
        broker=broker,
        consumer=Credentials("key", "secret"),
    )
    async with started(runtime):
        yield runtime


@pytest.fixture
async def host(rt: Runtime) -> AsyncIterator[WorkerHost]:
    async with working(WorkerHost(rt, ["scripted"], concurrency=4), grace=1) as worker:
        yield worker


async def finished(rt: Runtime, job_id: str, timeout: float = 10.0) -> Job:
    async with asyncio.timeout(timeout):
        while True:
            job = await rt.jobs.get(job_id)
            if job is not None and job.state.finished:
                return job
            await asyncio.sleep(0.02)


async def test_worker_host_runs_a_job_end_to_end_over_rabbitmq(
    rt: Runtime, host: WorkerHost
) -> None:
    Scripted.script = [JobError("busy", retryable=True), {"stat": "ok", "n": 1}]
    job = await rt.enqueue(Job(user_id="u1", target="scripted", max_attempts=3))
    done = await finished(rt, job.id)
    assert done.state is JobState.COMPLETED
    assert done.result == {"stat": "ok", "n": 1}
    assert done.attempts == 2
    await asyncio.sleep(0.2)
    assert await rt.broker.depth(job.queue) == 0


async def test_exhausted_job_is_dead_lettered_over_rabbitmq(rt: Runtime, host: WorkerHost) -> None:
    Scripted.script = [JobError("busy", retryable=True)] * 3
    job = await rt.enqueue(Job(user_id="u1", target="scripted", max_attempts=3))
    done = await finished(rt, job.id)
    assert done.state is JobState.FAILED
    assert done.dead_lettered
    async with asyncio.timeout(5):
        while not (dead := await rt.broker.peek_dead()):
            await asyncio.sleep(0.05)
    assert dead_job_ids(dead) == [(job.id, "busy")]
    assert await rt.broker.depth(job.queue) == 0


# --- runtime wiring (no RabbitMQ needed) ------------------------------------------------


def test_runtime_uses_rabbitmq_when_rabbit_url_is_set(settings: Settings) -> None:
    s = settings.model_copy(update={"rabbit_url": None})
    assert isinstance(Runtime.create(s, plugins=builtin_plugins()).broker, MemoryBroker)
    s = load_settings(
        RABBIT_URL="amqp://guest:guest@127.0.0.1:5672/", FLICKRHUB_QUEUE_TYPE="classic"
    )
    broker = Runtime.create(s, plugins=builtin_plugins()).broker
    assert isinstance(broker, RabbitBroker)
    assert broker.queue_type == "classic"
    assert broker.shared and broker.supports_delay


def test_rabbit_url_of_another_scheme_is_one_line_without_the_url() -> None:
    s = load_settings(RABBIT_URL="redis://admin:hunter2@rabbit.internal:6379/0")
    with pytest.raises(ConfigError) as caught:
        Runtime.create(s, plugins=builtin_plugins())
    message = str(caught.value)
    assert "RABBIT_URL" in message
    assert "hunter2" not in message
    assert "rabbit.internal" not in message
    assert "\n" not in message


async def test_unreachable_rabbitmq_fails_the_start_in_one_line() -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    broker = RabbitBroker(f"amqp://admin:hunter2@127.0.0.1:{port}/")
    with pytest.raises(ServiceUnavailable) as caught:
        await broker.connect()
    message = str(caught.value)
    assert "RABBIT_URL" in message
    assert "hunter2" not in message
    assert "\n" not in message


async def test_refused_login_is_a_config_error_without_the_password(rabbit_url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(rabbit_url)
    wrong = parts._replace(
        netloc=f"flickrhub-nobody:wr0ngpass@{parts.hostname}:{parts.port or 5672}"
    ).geturl()
    with pytest.raises(ConfigError) as caught:
        await RabbitBroker(wrong).connect()
    assert "refused the login" in str(caught.value)
    assert "wr0ngpass" not in str(caught.value)
