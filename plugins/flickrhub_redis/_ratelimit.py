"""The Flickr rate limiter shared by every worker: GCRA in Redis.

Key: ``<p>ratelimit:<consumer_key>`` → the theoretical arrival time (TAT) in
microseconds of Redis server time. The same arithmetic as
:class:`~flickrhub_core.memory.MemoryRateLimiter`:

* ``acquire``: ``tat = max(stored, now)``; the caller waits
  ``max(0, tat - now - (burst - 1) * interval)`` and the slot is reserved at once
  (``stored = tat + interval``), so waiting callers keep their order and never fail;
* ``back_off``: ``stored = max(stored, now + seconds + (burst - 1) * interval)``.

Each is one Lua call (atomic, one round trip) and reads ``TIME`` on the server, so the
workers' clocks don't matter. The key expires when its TAT is reached: by then an absent
key and the stored value mean the same.

``per_hour=0`` (``FLICKR_RATE_LIMIT_PER_HOUR=0``) means no limit, and then nothing is
shared: a call costs no round trip, and a 429's back-off delays the callers of this
process only (:class:`~flickrhub_core.memory.MemoryRateLimiter`).
"""

from __future__ import annotations

import asyncio
import math

from redis.asyncio import Redis

from flickrhub_core.memory import MemoryRateLimiter
from flickrhub_redis._client import Keys

# Times are whole microseconds: exact in Lua's doubles (now ≈ 1.8e15 < 2^53), and
# formatted with %d because tostring() would round them to 14 digits.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored and tonumber(stored) > now then tat = tonumber(stored) end
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
"""

# KEYS: limiter key. ARGV: interval µs, burst. Returns the wait in ms (rounded up).
_ACQUIRE = (
    _NOW
    + """
local wait = tat - now - (burst - 1) * interval
if wait < 0 then wait = 0 end
local new_tat = tat + interval
if new_tat > now then
  redis.call('SET', KEYS[1], string.format('%d', new_tat),
             'PX', math.ceil((new_tat - now) / 1000))
end
return math.ceil(wait / 1000)
"""
)

# KEYS: limiter key. ARGV: interval µs, burst, back-off µs.
_BACK_OFF = (
    _NOW
    + """
local floor = now + tonumber(ARGV[3]) + (burst - 1) * interval
if floor > tat then
  redis.call('SET', KEYS[1], string.format('%d', floor),
             'PX', math.ceil((floor - now) / 1000))
end
return 0
"""
)


class RedisRateLimiter:
    """:class:`~flickrhub_core.stores.RateLimiter` on Redis: ``per_hour`` calls per key,
    evenly spaced, with a small burst; ``per_hour=0`` means no limit (back-offs still
    apply, in this process: see the module docstring).
    """

    def __init__(self, client: Redis, prefix: str, *, per_hour: int, burst: int = 10) -> None:
        self._keys = Keys(prefix)
        # Rounded up: the limit is never exceeded by rounding.
        self._interval_us = math.ceil(3_600_000_000 / per_hour) if per_hour > 0 else 0
        self._burst = max(1, burst)
        self._acquire = client.register_script(_ACQUIRE)
        self._back_off = client.register_script(_BACK_OFF)
        #: Without a limit there is nothing to share: back-offs are kept here.
        self._unlimited = MemoryRateLimiter(0) if per_hour <= 0 else None

    async def acquire(self, key: str) -> float:
        if self._unlimited is not None:
            return await self._unlimited.acquire(key)
        wait_ms = await self._acquire(
            keys=[self._keys.rate_limit(key)], args=[self._interval_us, self._burst]
        )
        wait = int(wait_ms) / 1000
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    async def back_off(self, key: str, seconds: float) -> None:
        if self._unlimited is not None:
            await self._unlimited.back_off(key, seconds)
            return
        await self._back_off(
            keys=[self._keys.rate_limit(key)],
            args=[self._interval_us, self._burst, max(0, math.ceil(seconds * 1_000_000))],
        )
