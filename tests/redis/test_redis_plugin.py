"""The ``redis`` plugin in a runtime: it answers only when REDIS_URL is set."""

from __future__ import annotations

import asyncio
from importlib.metadata import entry_points

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

import flickrhub_redis
from flickrhub_core.errors import ConfigError, ServiceUnavailable
from flickrhub_core.jobs import Job
from flickrhub_core.memory import (
    MemoryCache,
    MemoryJobStore,
    MemoryRateLimiter,
    MemoryRequestTokenStore,
)
from flickrhub_core.plugins import Plugins, load_plugins
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings
from flickrhub_redis import (
    Keys,
    RedisCache,
    RedisJobStore,
    RedisRateLimiter,
    RedisRequestTokenStore,
    _client,
    client_of,
)
from tests.helpers import BUILTIN_TARGETS

REDIS = ("redis", flickrhub_redis)


def plugins() -> Plugins:
    return load_plugins([], found=[], extra=[*BUILTIN_TARGETS, REDIS])


def with_redis(settings: Settings, url: str, prefix: str) -> Settings:
    return settings.model_copy(update={"redis_url": SecretStr(url), "redis_prefix": prefix})


def test_the_plugin_is_installed_under_its_entry_point() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="flickrhub")}
    assert found.get("redis") == "flickrhub_redis"


def test_without_redis_url_it_answers_nothing(settings: Settings) -> None:
    runtime = Runtime.create(settings.model_copy(update={"redis_url": None}), plugins=plugins())

    assert isinstance(runtime.jobs, MemoryJobStore)
    assert isinstance(runtime.cache, MemoryCache)
    assert isinstance(runtime.request_tokens, MemoryRequestTokenStore)
    assert isinstance(runtime.limiter, MemoryRateLimiter)
    assert client_of(runtime) is None
    info = next(i for i in runtime.plugins.infos if i.name == "redis")
    assert set(info.hooks) == {
        "cache_backend",
        "job_store",
        "rate_limiter",
        "request_token_store",
        "shutdown",
        "startup",
    }


async def test_with_redis_url_the_runtime_uses_its_stores(
    settings: Settings, redis_url: str, prefix: str, client: Redis
) -> None:
    runtime = Runtime.create(with_redis(settings, redis_url, prefix), plugins=plugins())

    assert isinstance(runtime.jobs, RedisJobStore)
    assert isinstance(runtime.cache, RedisCache)
    assert isinstance(runtime.request_tokens, RedisRequestTokenStore)
    assert isinstance(runtime.limiter, RedisRateLimiter)
    shared = client_of(runtime)
    assert shared is not None
    await runtime.start()
    try:
        job = await runtime.enqueue(Job(owner="app", user_id="u1", target="rest"))
        assert await client.exists(Keys(prefix).job(job.id)) == 1
        assert await runtime.jobs.get(job.id) == job
        await runtime.cache.set("u1", "k", b"v", 60)
        assert await runtime.cache.get("u1", "k") == b"v"
        connection_id = await shared.client_id()
        assert await client.client_list(client_id=[connection_id])
    finally:
        await runtime.close()
    # shutdown closed the pool's connections (the server notices a moment later)
    for _ in range(50):
        if not await client.client_list(client_id=[connection_id]):
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the runtime's Redis connection is still open after close")


def test_a_runtime_apart_still_needs_a_shared_broker(
    settings: Settings, redis_url: str, prefix: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Runtime.create(with_redis(settings, redis_url, prefix), role="worker", plugins=plugins())
    message = str(caught.value)
    assert "broker" in message and "job store" not in message and "request-token" not in message


def test_an_invalid_redis_url_is_a_config_error(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="REDIS_URL is not a valid Redis URL"):
        Runtime.create(with_redis(settings, "http://nowhere", "x:"), plugins=plugins())


async def test_an_unreachable_redis_fails_the_start_without_the_password(
    settings: Settings,
) -> None:
    url = "redis://:hunter2-secret@127.0.0.1:1/0"  # nothing listens on port 1
    runtime = Runtime.create(with_redis(settings, url, "x:"), plugins=plugins())
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            await runtime.plugins.startup(runtime)
    finally:
        await runtime.plugins.shutdown(runtime)

    message = str(caught.value)
    assert message.startswith("Redis (REDIS_URL) is not reachable")
    assert "\n" not in message
    assert "hunter2" not in message and url not in message


async def test_a_wrong_password_is_a_config_error(settings: Settings, redis_url: str) -> None:
    url = redis_url.replace("redis://", "redis://nobody-flickrhub:wrong-pw@", 1)
    runtime = Runtime.create(with_redis(settings, url, "x:"), plugins=plugins())
    try:
        with pytest.raises(ConfigError) as caught:
            await runtime.plugins.startup(runtime)
    finally:
        await runtime.plugins.shutdown(runtime)
    assert "wrong-pw" not in str(caught.value)


async def test_a_burst_beyond_the_pool_waits_instead_of_failing(
    redis_url: str, prefix: str
) -> None:
    client = _client.connect(redis_url)
    try:
        # Twice the pool size of blocking commands at once (each takes a pooled
        # connection of its own): the second half waits for a free one.
        results = await asyncio.gather(
            *(
                client.blpop([f"{prefix}burst:{i}"], timeout=0.05)
                for i in range(_client.MAX_CONNECTIONS * 2)
            )
        )
        assert results == [None] * (_client.MAX_CONNECTIONS * 2)
    finally:
        await client.aclose()
