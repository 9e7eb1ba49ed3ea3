"""Decrypted tokens kept for a few seconds in a worker process.

A worker reads the user's token for every job it runs: a SQLite ``SELECT`` or a
MongoDB round trip, then Fernet decryption, for the same few users over and over.
:class:`CachedTokenStore` keeps what :meth:`~CachedTokenStore.get` found for
``FLICKRHUB_TOKEN_CACHE_SECONDS`` (0: no cache), for at most :data:`MAX_ENTRIES`
users, the least recently used dropped first.

The runtime puts it in front of the token store of the ``worker`` role only
(:class:`~flickrhub_core.runtime.Runtime`). The API connects and revokes accounts
and must see that at once; a worker sees a change made by another process within the
TTL. Until then a revoked account's token may still be used by the jobs of that
user a worker runs (the revoke cancels the user's queued jobs; a job already started
or waiting for a retry runs on), and a reconnected account's previous token may be.

What is safe without waiting:

* a user who just connected works at once: a miss (``None``) is never kept;
* :meth:`~CachedTokenStore.put` and :meth:`~CachedTokenStore.delete` through this
  store drop the user's entry (the embedded mode's API and worker share one store);
* a job whose call Flickr refuses for its token (an ``oauth_problem``, code 98 or 99)
  drops the user's entry: the next job reads the token the API stored since;
* ``flickrhub tokens rotate-key`` re-encrypts the secrets at rest with another key
  but leaves them as they are: the decrypted tokens kept here stay valid.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from flickrhub_core.stores import StoredToken, TokenStore

__all__ = ["MAX_ENTRIES", "CachedTokenStore"]

#: Users whose token one process keeps at most (a few MB at most).
MAX_ENTRIES = 10_000


class CachedTokenStore:
    """A :class:`~flickrhub_core.stores.TokenStore` in front of ``inner`` that keeps
    found tokens for ``ttl`` seconds.

    Only :meth:`get` is cached; every other method (:meth:`owner` too) goes to
    ``inner``. The tokens
    returned are shared between callers, who must not change them.
    """

    def __init__(
        self,
        inner: TokenStore,
        ttl: float,
        *,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        #: user_id -> (when it expires, the token); least recently used first.
        self._entries: OrderedDict[str, tuple[float, StoredToken]] = OrderedDict()
        #: Bumped by every write, so a read that raced one keeps nothing.
        self._generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, user_id: str) -> StoredToken | None:
        entry = self._entries.get(user_id)
        if entry is not None:
            expires, cached = entry
            if self._clock() < expires:
                self._entries.move_to_end(user_id)
                return cached
            del self._entries[user_id]
        generation = self._generation
        token = await self.inner.get(user_id)
        if token is not None and generation == self._generation:
            self._entries[user_id] = (self._clock() + self.ttl, token)
            if len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return token

    async def owner(self, user_id: str) -> str | None:
        return await self.inner.owner(user_id)

    async def find_account(
        self, owner: str, consumer_key: str, user_nsid: str
    ) -> StoredToken | None:
        return await self.inner.find_account(owner, consumer_key, user_nsid)

    async def put(self, token: StoredToken) -> None:
        try:
            await self.inner.put(token)
        finally:
            self.forget(token.user_id)

    async def delete(self, user_id: str) -> bool:
        try:
            return await self.inner.delete(user_id)
        finally:
            self.forget(user_id)

    async def list(self, owner: str) -> list[StoredToken]:
        return await self.inner.list(owner)

    def forget(self, user_id: str) -> None:
        """Drop the user's entry (and any read in flight): the runner calls this when
        Flickr refuses the token, which another process may have replaced or revoked."""
        self._generation += 1
        self._entries.pop(user_id, None)
