"""RedisRateLimiter against the real Redis: GCRA burst and spacing shared by workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from redis.asyncio import Redis

from flickrhub_core.stores import RateLimiter
from flickrhub_redis import Keys, RedisRateLimiter

PER_SECOND = 20
PER_HOUR = 3600 * PER_SECOND  # one call every 50 ms
BURST = 5


def limiter(client: Redis, prefix: str, *, per_hour: int = PER_HOUR) -> RedisRateLimiter:
    return RedisRateLimiter(client, prefix, per_hour=per_hour, burst=BURST)


async def test_a_burst_then_even_spacing(client: Redis, prefix: str) -> None:
    rl = limiter(client, prefix)
    assert isinstance(rl, RateLimiter)
    started = time.monotonic()

    waits = [await rl.acquire("ck") for _ in range(BURST + 10)]

    elapsed = time.monotonic() - started
    assert waits[:BURST] == [0.0] * BURST
    assert all(0.02 < w <= 0.051 for w in waits[BURST:]), waits
    assert 0.45 <= elapsed < 1.5


async def test_workers_together_never_exceed_the_rate(
    make_client: Callable[[], Redis], prefix: str
) -> None:
    # Four workers (separate clients and pools), three concurrent jobs each, for ~2 s.
    limiters = [limiter(make_client(), prefix) for _ in range(4)]
    stamps: list[float] = []
    started = time.monotonic()
    deadline = started + 2.0

    async def job(rl: RedisRateLimiter) -> None:
        while time.monotonic() < deadline:
            await rl.acquire("ck")
            stamps.append(time.monotonic())

    await asyncio.gather(*(job(rl) for rl in limiters for _ in range(3)))

    stamps.sort()
    span = stamps[-1] - started
    assert len(stamps) <= PER_SECOND * span + BURST + 1
    assert len(stamps) >= PER_SECOND * 2.0 * 0.8  # and the budget is actually used
    window = 0.5
    for i, t in enumerate(stamps):  # every window that starts at a call
        in_window = sum(1 for s in stamps[i:] if s < t + window)
        assert in_window <= PER_SECOND * window + BURST + 2, (t - started, in_window)


async def test_keys_have_separate_budgets(client: Redis, prefix: str) -> None:
    rl = limiter(client, prefix)
    for _ in range(BURST):
        assert await rl.acquire("ck-a") == 0
    assert await rl.acquire("ck-b") == 0


async def test_back_off_delays_every_worker(make_client: Callable[[], Redis], prefix: str) -> None:
    first, second = limiter(make_client(), prefix), limiter(make_client(), prefix)
    await first.back_off("ck", 0.4)

    started = time.monotonic()
    waited = await asyncio.gather(second.acquire("ck"), first.acquire("ck"))

    assert min(waited) >= 0.35 and max(waited) <= 0.5, waited
    assert time.monotonic() - started >= 0.35


async def test_back_off_never_shortens_a_wait(client: Redis, prefix: str) -> None:
    rl = limiter(client, prefix)
    await rl.back_off("ck", 10)
    await rl.back_off("ck", 0.1)
    assert await client.pttl(Keys(prefix).rate_limit("ck")) > 9_000


async def test_no_limit_still_honours_back_off(client: Redis, prefix: str) -> None:
    rl = limiter(client, prefix, per_hour=0)
    assert [await rl.acquire("ck") for _ in range(50)] == [0.0] * 50
    assert await client.exists(Keys(prefix).rate_limit("ck")) == 0  # nothing to remember

    await rl.back_off("ck", 0.3)
    waited = await asyncio.gather(rl.acquire("ck"), rl.acquire("ck"))

    assert all(0.25 <= w <= 0.3 for w in waited), waited
    assert await rl.acquire("ck") == 0.0


async def test_an_idle_key_expires(client: Redis, prefix: str) -> None:
    rl = limiter(client, prefix)
    await rl.acquire("ck")
    left = await client.pttl(Keys(prefix).rate_limit("ck"))
    assert 0 < left <= 50

    await asyncio.sleep(0.1)
    assert await client.exists(Keys(prefix).rate_limit("ck")) == 0
    assert await rl.acquire("ck") == 0.0


async def test_without_a_limit_nothing_is_sent_to_redis(
    client: Redis, prefix: str, round_trips: Callable[[], int]
) -> None:
    rl = limiter(client, prefix, per_hour=0)
    before = round_trips()
    await rl.acquire("ck")
    await rl.back_off("ck", 0.01)
    await rl.acquire("ck")
    assert round_trips() == before
