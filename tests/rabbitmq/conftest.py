"""RabbitMQ fixtures: the real broker (``RABBIT_URL``, default the local one), a queue
prefix per test, and every queue a test declared deleted afterwards.

In CI (``CI`` set) an unreachable RabbitMQ fails these tests; elsewhere they skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import pytest

from flickrhub_core.broker.rabbitmq import DLX, RabbitBroker

RABBIT_URL = os.environ.get("RABBIT_URL") or "amqp://guest:guest@127.0.0.1:5672/"

MakeBroker = Callable[..., Awaitable[RabbitBroker]]


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=3):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def rabbit_url() -> str:
    if not _reachable(RABBIT_URL):
        where = urlsplit(RABBIT_URL).hostname
        if os.environ.get("CI"):
            raise RuntimeError(f"RabbitMQ at {where} is not reachable (CI requires it)")
        pytest.skip(f"RabbitMQ at {where} is not reachable; start it or set RABBIT_URL")
    return RABBIT_URL


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:10]}."


@pytest.fixture
async def cleanup(rabbit_url: str, prefix: str) -> AsyncIterator[set[str]]:
    """Queue names to delete at the end (the brokers' declared queues are added)."""
    names: set[str] = set()
    yield names
    connection = await aio_pika.connect(rabbit_url)
    try:
        for name in sorted(names):
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(name)
            with contextlib.suppress(Exception):
                await channel.close()
        channel = await connection.channel()
        with contextlib.suppress(Exception):
            await channel.exchange_delete(prefix + DLX)
    finally:
        await connection.close()


@pytest.fixture
async def make_broker(rabbit_url: str, prefix: str, cleanup: set[str]) -> AsyncIterator[MakeBroker]:
    brokers: list[RabbitBroker] = []

    async def make(url: str | None = None, **options: Any) -> RabbitBroker:
        broker = RabbitBroker(url or rabbit_url, queue_prefix=prefix, **options)
        brokers.append(broker)
        await broker.connect()
        return broker

    yield make
    for broker in brokers:
        cleanup.update(broker.declared_queues)
        await broker.close()


@pytest.fixture
async def broker(make_broker: MakeBroker) -> RabbitBroker:
    return await make_broker()


@pytest.fixture
async def raw(rabbit_url: str) -> AsyncIterator[aio_pika.abc.AbstractConnection]:
    """A plain connection for looking behind the broker's back."""
    connection = await aio_pika.connect(rabbit_url)
    yield connection
    await connection.close()


class DroppingProxy:
    """A TCP proxy to RabbitMQ whose connections can be cut, like a network failure."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        for coro in (pump(reader, up_writer), pump(up_reader, writer)):
            task = asyncio.create_task(coro)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def drop(self) -> int:
        """Abort every proxied connection (both sides); returns how many."""
        dropped = len(self.writers)
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()
        return dropped

    async def stop(self) -> None:
        self.drop()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def proxy(rabbit_url: str) -> AsyncIterator[DroppingProxy]:
    parts = urlsplit(rabbit_url)
    if parts.scheme != "amqp":
        pytest.skip("the dropping proxy only forwards plain amqp://")
    p = DroppingProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    await p.start()
    yield p
    await p.stop()


def via_proxy(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    hostport = f"127.0.0.1:{port}"
    return parts._replace(
        netloc=f"{netloc[0]}@{hostport}" if len(netloc) == 2 else hostport
    ).geturl()
