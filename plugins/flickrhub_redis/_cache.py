"""The response cache in Redis, shared by every worker.

Keys (``<p>`` is the prefix):

* ``<p>cachegen:<user>``: the user's generation counter (absent = 0). Invalidating a
  user is one INCR: entries of older generations are never read again and expire by
  their own TTL. The counter itself never expires: if it did, it would fall back to 0
  and older entries still alive could be served again. A miss tells the generation it
  read, and the answer fetched after it is stored only if that is still the
  generation (:class:`~flickrhub_core.stores.GuardedCache`), so a read answered before
  a write of the same user finished is not cached after it.
* ``<p>cache:<user>:<gen>:<key>``: a cached answer, with its TTL.
* ``<p>cache:stats``: hash of ``hits`` and ``misses`` across all workers (the
  dashboard's cluster-wide hit ratio; the per-process Prometheus counters stay).

Reads and writes are each one Lua call, so the generation and the entry are read
together in one round trip.
"""

from __future__ import annotations

import math

from redis.asyncio import Redis

from flickrhub_core.stores import CacheRead
from flickrhub_redis._client import Keys, text

# KEYS: generation, stats. ARGV: entry prefix, key.
# Returns {1, value, ms left} on a hit, {0, generation} on a miss.
_GET = """
local gen = redis.call('GET', KEYS[1]) or '0'
local entry = ARGV[1] .. gen .. ':' .. ARGV[2]
local value = redis.call('GET', entry)
if value then
  redis.call('HINCRBY', KEYS[2], 'hits', 1)
  return {1, value, redis.call('PTTL', entry)}
end
redis.call('HINCRBY', KEYS[2], 'misses', 1)
return {0, gen}
"""

# KEYS: generation. ARGV: entry prefix, key, value, ttl in ms, and the generation the
# miss read ('' for any). Returns 1 if stored, 0 if the generation moved on since.
_SET = """
local gen = redis.call('GET', KEYS[1]) or '0'
if ARGV[5] ~= '' and ARGV[5] ~= gen then
  return 0
end
redis.call('SET', ARGV[1] .. gen .. ':' .. ARGV[2], ARGV[3], 'PX', ARGV[4])
return 1
"""


class RedisCache:
    """:class:`~flickrhub_core.stores.Cache` (a ``GuardedCache``) on Redis, invalidated
    per user in O(1)."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._r = client
        self._keys = Keys(prefix)
        self._get = client.register_script(_GET)
        self._set = client.register_script(_SET)

    async def get(self, user_id: str, key: str) -> bytes | None:
        return (await self.read(user_id, key)).value

    async def read(self, user_id: str, key: str) -> CacheRead:
        found = await self._get(
            keys=[self._keys.cache_generation(user_id), self._keys.cache_stats()],
            args=[self._keys.cache_entry_prefix(user_id), key],
        )
        if int(found[0]) == 0:
            return CacheRead(None, generation=text(found[1]))
        value = found[1] if isinstance(found[1], bytes) else str(found[1]).encode()
        return CacheRead(value, seconds_left=max(0, int(found[2])) / 1000)

    async def set(self, user_id: str, key: str, value: bytes, ttl: float) -> None:
        await self._store(user_id, key, value, ttl, "")

    async def set_if_current(
        self, user_id: str, key: str, value: bytes, ttl: float, generation: str
    ) -> bool:
        return await self._store(user_id, key, value, ttl, generation)

    async def _store(
        self, user_id: str, key: str, value: bytes, ttl: float, generation: str
    ) -> bool:
        if ttl <= 0:
            return False  # already expired: the memory cache would never return it either
        stored = await self._set(
            keys=[self._keys.cache_generation(user_id)],
            args=[
                self._keys.cache_entry_prefix(user_id),
                key,
                value,
                math.ceil(ttl * 1000),
                generation,
            ],
        )
        return bool(stored)

    async def invalidate_user(self, user_id: str) -> None:
        await self._r.incr(self._keys.cache_generation(user_id))

    async def stats(self) -> dict[str, int]:
        """Cluster-wide ``{"hits": n, "misses": m}`` since the stats key was made."""
        raw = await self._r.hgetall(self._keys.cache_stats())
        counts = {text(k): int(v) for k, v in raw.items()}
        return {"hits": counts.get("hits", 0), "misses": counts.get("misses", 0)}
