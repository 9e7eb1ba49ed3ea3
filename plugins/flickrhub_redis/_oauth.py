"""OAuth request tokens in Redis, so ``/auth/complete`` may reach another API process.

Key: ``<p>oauth:req:<oauth_token>`` → the :class:`PendingAuth` as JSON, with the TTL the
caller gives. ``take`` is GETDEL: of two concurrent completions only one gets it.
"""

from __future__ import annotations

import math

from redis.asyncio import Redis

from flickrhub_core.stores import PendingAuth
from flickrhub_redis._client import Keys


class RedisRequestTokenStore:
    """:class:`~flickrhub_core.stores.RequestTokenStore` on Redis; tokens are single use."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._r = client
        self._keys = Keys(prefix)

    async def put(self, pending: PendingAuth, ttl: float) -> None:
        if ttl <= 0:
            return  # already expired: never takeable, as in the memory store
        await self._r.set(
            self._keys.request_token(pending.oauth_token),
            pending.model_dump_json(),
            px=math.ceil(ttl * 1000),
        )

    async def take(self, oauth_token: str) -> PendingAuth | None:
        raw = await self._r.getdel(self._keys.request_token(oauth_token))
        return None if raw is None else PendingAuth.model_validate_json(raw)
