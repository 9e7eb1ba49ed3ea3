"""RedisCache against the real Redis: TTLs, per-user generations, shared hit counters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from flickrhub_core.stores import Cache, GuardedCache
from flickrhub_redis import Keys, RedisCache


@pytest.fixture
def cache(client: Redis, prefix: str) -> RedisCache:
    return RedisCache(client, prefix)


async def test_set_then_get_and_a_miss(cache: RedisCache) -> None:
    assert isinstance(cache, Cache)
    await cache.set("u1", "k1", b'{"stat":"ok"}', 60)

    assert await cache.get("u1", "k1") == b'{"stat":"ok"}'
    assert await cache.get("u1", "k2") is None


async def test_a_hit_tells_the_time_it_has_left(cache: RedisCache) -> None:
    assert isinstance(cache, GuardedCache)
    await cache.set("u1", "k", b"answer", ttl=60)

    found = await cache.read("u1", "k")

    assert found.value == b"answer"
    assert found.seconds_left is not None and 59 < found.seconds_left <= 60
    assert (await cache.read("u1", "missing")).value is None


async def test_an_answer_is_not_cached_once_the_users_reads_were_invalidated_since_the_miss(
    cache: RedisCache,
) -> None:
    missed = await cache.read("u1", "k")
    assert missed.generation == "0"

    await cache.invalidate_user("u1")  # a write of this user finished meanwhile

    assert await cache.set_if_current("u1", "k", b"stale", 60, missed.generation) is False
    assert await cache.get("u1", "k") is None
    again = await cache.read("u1", "k")
    assert again.generation == "1"
    assert await cache.set_if_current("u1", "k", b"fresh", 60, again.generation) is True
    assert await cache.get("u1", "k") == b"fresh"


async def test_entries_expire_with_their_ttl(cache: RedisCache, client: Redis, prefix: str) -> None:
    await cache.set("u1", "short", b"1", 0.15)
    await cache.set("u1", "long", b"2", 60)
    left = await client.pttl(f"{Keys(prefix).cache_entry_prefix('u1')}0:long")
    assert 59_000 < left <= 60_000

    await asyncio.sleep(0.3)

    assert await cache.get("u1", "short") is None
    assert await cache.get("u1", "long") == b"2"
    await cache.set("u1", "never", b"3", 0)  # a zero TTL stores nothing
    assert await cache.get("u1", "never") is None


async def test_users_are_isolated_and_invalidated_alone(
    cache: RedisCache, client: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    await cache.set("u1", "k", b"one", 60)
    await cache.set("u2", "k", b"two", 60)

    await cache.invalidate_user("u1")

    assert await cache.get("u1", "k") is None
    assert await cache.get("u2", "k") == b"two"
    assert await client.get(keys.cache_generation("u1")) == b"1"
    assert await client.exists(keys.cache_generation("u2")) == 0
    # The old entry is left to its TTL (no scan), and is never read again.
    assert await client.exists(f"{keys.cache_entry_prefix('u1')}0:k") == 1

    await cache.set("u1", "k", b"fresh", 60)
    assert await cache.get("u1", "k") == b"fresh"
    assert await client.exists(f"{keys.cache_entry_prefix('u1')}1:k") == 1
    await cache.invalidate_user("u1")
    assert await cache.get("u1", "k") is None


async def test_invalidation_is_seen_by_every_worker(
    make_client: Callable[[], Redis], prefix: str, client: Redis
) -> None:
    other = RedisCache(make_client(), prefix)
    mine = RedisCache(client, prefix)
    await mine.set("u1", "k", b"v", 60)
    assert await other.get("u1", "k") == b"v"

    await other.invalidate_user("u1")

    assert await mine.get("u1", "k") is None


async def test_stats_count_hits_and_misses_across_instances(
    cache: RedisCache, make_client: Callable[[], Redis], prefix: str
) -> None:
    other = RedisCache(make_client(), prefix)
    assert await cache.stats() == {"hits": 0, "misses": 0}
    await cache.set("u1", "k", b"v", 60)

    await cache.get("u1", "k")
    await other.get("u1", "k")
    await other.get("u1", "nope")

    assert await cache.stats() == {"hits": 2, "misses": 1}
    assert await other.stats() == {"hits": 2, "misses": 1}
