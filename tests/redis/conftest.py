"""Fixtures for the ``redis`` plugin: the real Redis, a unique key prefix per test.

``REDIS_URL`` picks the server (default ``redis://127.0.0.1:6379/0``). An unreachable
Redis fails the tests in CI (``CI`` set) and skips them elsewhere, saying why.
Every test writes only under its own prefix and deletes those keys afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

DEFAULT_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL") or DEFAULT_URL
    probe = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        probe.ping()
    except (redis.RedisError, OSError) as exc:
        reason = f"Redis from REDIS_URL (or {DEFAULT_URL}) is not reachable: {type(exc).__name__}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        probe.close()
    return url


@pytest.fixture
def prefix() -> str:
    return f"flickrhub-test:{uuid.uuid4().hex}:"


@pytest.fixture
async def make_client(redis_url: str, prefix: str) -> AsyncIterator[Callable[[], Redis]]:
    """Clients with their own pools (like separate processes); closed, and the
    test's keys deleted, at the end."""
    clients: list[Redis] = []

    def make() -> Redis:
        client = Redis.from_url(redis_url)
        clients.append(client)
        return client

    try:
        yield make
    finally:
        cleaner = make()
        keys = [key async for key in cleaner.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await cleaner.delete(*keys)
        for client in clients:
            await client.aclose()


@pytest.fixture
def client(make_client: Callable[[], Redis]) -> Redis:
    return make_client()


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """How many times this process sent something to Redis since the fixture was set
    up: one send is one round trip, whatever it carries (a command, a script, a pipeline)."""
    sent = 0
    real_send = AbstractConnection.send_packed_command

    async def counting_send(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        nonlocal sent
        sent += 1
        await real_send(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting_send)
    return lambda: sent
