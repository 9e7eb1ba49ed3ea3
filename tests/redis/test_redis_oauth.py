"""RedisRequestTokenStore against the real Redis: single use, TTL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from flickrhub_core.stores import PendingAuth, RequestTokenStore
from flickrhub_redis import Keys, RedisRequestTokenStore


def pending(token: str = "req-1") -> PendingAuth:
    return PendingAuth(
        oauth_token=token,
        oauth_token_secret="req-secret",
        consumer_key="ck",
        consumer_secret="cs",
        state="st",
        callback="oob",
        owner="app",
    )


@pytest.fixture
def store(client: Redis, prefix: str) -> RedisRequestTokenStore:
    return RedisRequestTokenStore(client, prefix)


async def test_put_then_take_once(
    store: RedisRequestTokenStore, client: Redis, prefix: str
) -> None:
    assert isinstance(store, RequestTokenStore)
    record = pending()
    await store.put(record, ttl=600)
    left = await client.pttl(Keys(prefix).request_token("req-1"))
    assert 595_000 < left <= 600_000

    assert await store.take("req-1") == record
    assert await store.take("req-1") is None
    assert await store.take("unknown") is None


async def test_a_request_token_expires(store: RedisRequestTokenStore) -> None:
    await store.put(pending(), ttl=0.15)
    await asyncio.sleep(0.3)
    assert await store.take("req-1") is None


async def test_concurrent_takes_have_exactly_one_winner(
    make_client: Callable[[], Redis], prefix: str
) -> None:
    stores = [RedisRequestTokenStore(make_client(), prefix) for _ in range(4)]
    record = pending()
    await stores[0].put(record, ttl=600)

    taken = await asyncio.gather(*(stores[n % 4].take("req-1") for n in range(20)))

    assert [t for t in taken if t is not None] == [record]
