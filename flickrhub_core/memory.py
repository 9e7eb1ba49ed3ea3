"""Embedded in-process backends: the defaults when no plugin provides one.

They serve ``flickrhub run`` (API and workers in one process) and tests. None of
them can be shared between processes; the runtime refuses such a setup.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime

from flickrhub_core.errors import (
    InvalidRequest,
    JobAlreadyFinished,
    JobAlreadyStarted,
    NotFound,
    QueueFull,
)
from flickrhub_core.jobs import Job
from flickrhub_core.stores import BlobInfo, CacheRead, JobQuery, PendingAuth, StoredToken

BLOB_CHUNK = 64 * 1024


class MemoryJobStore:
    """Jobs in a dict, oldest evicted past ``max_jobs`` so a long run stays bounded.

    Cancel requests (:class:`~flickrhub_core.stores.CancelRequests`) are kept in a set
    beside the records and set on every job read back. A finished job's state is final
    (:meth:`~flickrhub_core.stores.JobStore.save`): no await lies between the check
    and the write, so the check is atomic; so is the pending-jobs cap of
    :meth:`create` (:class:`~flickrhub_core.stores.CappedCreate`).
    """

    def __init__(self, max_jobs: int = 100_000) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._idempotency: dict[tuple[str, str], str] = {}
        self._pending: dict[str, set[str]] = {}
        self._cancel: set[str] = set()
        self._max = max_jobs

    async def save(self, job: Job) -> None:
        stored = self._jobs.get(job.id)
        if stored is not None:
            if stored.state.finished and (
                job.state is not stored.state or job.finished_at != stored.finished_at
            ):
                raise JobAlreadyFinished(job.id, stored.state.value)
            if stored.started_at is not None and job.started_at is None:
                raise JobAlreadyStarted(job.id)
        self._jobs[job.id] = job.model_copy()
        pending = self._pending.setdefault(job.owner, set())
        if job.state.finished:
            pending.discard(job.id)
        else:
            pending.add(job.id)
        if job.idempotency_key:
            self._idempotency[(job.owner, job.idempotency_key)] = job.id
        while len(self._jobs) > self._max:
            _, old = self._jobs.popitem(last=False)
            self._pending.get(old.owner, set()).discard(old.id)
            self._cancel.discard(old.id)
            if old.idempotency_key:
                self._idempotency.pop((old.owner, old.idempotency_key), None)

    async def create(self, job: Job, max_pending: int) -> None:
        """:class:`~flickrhub_core.stores.CappedCreate`: no await between the count and
        the save."""
        if job.id not in self._jobs and not job.state.finished:
            pending = len(self._pending.get(job.owner, ()))
            if pending >= max_pending:
                raise QueueFull(pending, max_pending)
        await self.save(job)

    async def get(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        return self._copy(job) if job is not None else None

    def _copy(self, job: Job) -> Job:
        copy = job.model_copy()
        if job.id in self._cancel:
            copy.cancel_requested = True
        return copy

    async def request_cancel(self, job_id: str) -> None:
        if job_id in self._jobs:
            self._cancel.add(job_id)

    async def cancel_requested(self, job_id: str) -> bool:
        return job_id in self._cancel

    async def delete(self, job_id: str) -> None:
        self._cancel.discard(job_id)
        job = self._jobs.pop(job_id, None)
        if job is not None:
            self._pending.get(job.owner, set()).discard(job_id)
        if job is not None and job.idempotency_key:
            self._idempotency.pop((job.owner, job.idempotency_key), None)

    async def count_pending(self, owner: str) -> int:
        return len(self._pending.get(owner, ()))

    async def find_idempotent(self, owner: str, key: str) -> Job | None:
        job_id = self._idempotency.get((owner, key))
        return await self.get(job_id) if job_id else None

    async def list(self, query: JobQuery) -> list[Job]:
        matching = (job for job in self._jobs.values() if query.matches(job))
        newest = heapq.nlargest(max(0, query.limit), matching, key=_order)
        return [self._copy(job) for job in newest]


def _order(job: Job) -> tuple[datetime, str]:
    return (job.created_at, job.id)


class MemoryTokenStore:
    """Connected accounts in memory: lost on restart (the ``local`` plugin keeps them)."""

    def __init__(self) -> None:
        self._tokens: dict[str, StoredToken] = {}

    async def get(self, user_id: str) -> StoredToken | None:
        return self._tokens.get(user_id)

    async def owner(self, user_id: str) -> str | None:
        token = self._tokens.get(user_id)
        return None if token is None else token.owner

    async def find_account(
        self, owner: str, consumer_key: str, user_nsid: str
    ) -> StoredToken | None:
        for token in self._tokens.values():
            if (token.owner, token.consumer_key, token.user_nsid) == (
                owner,
                consumer_key,
                user_nsid,
            ):
                return token
        return None

    async def put(self, token: StoredToken) -> None:
        self._tokens[token.user_id] = token

    async def delete(self, user_id: str) -> bool:
        return self._tokens.pop(user_id, None) is not None

    async def list(self, owner: str) -> list[StoredToken]:
        return [t for t in self._tokens.values() if t.owner == owner]


class MemoryBlobStore:
    """Upload bytes in memory; for tests and single-process runs of small photos."""

    def __init__(self) -> None:
        self._blobs: dict[str, tuple[BlobInfo, bytes]] = {}

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        filename: str,
        content_type: str | None,
        max_bytes: int | None = None,
    ) -> BlobInfo:
        digest = hashlib.sha256()
        parts: list[bytes] = []
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise InvalidRequest(f"photo is larger than {max_bytes} bytes")
            digest.update(chunk)
            parts.append(chunk)
        info = BlobInfo(uuid.uuid4().hex, size, filename, content_type, digest.hexdigest())
        self._blobs[info.id] = (info, b"".join(parts))
        return info

    async def stat(self, blob_id: str) -> BlobInfo | None:
        entry = self._blobs.get(blob_id)
        return entry[0] if entry else None

    async def open(self, blob_id: str) -> AsyncIterator[bytes]:
        entry = self._blobs.get(blob_id)
        if entry is None:
            raise NotFound("upload data not found")
        data = entry[1]
        for start in range(0, len(data), BLOB_CHUNK):
            yield data[start : start + BLOB_CHUNK]

    async def delete(self, blob_id: str) -> None:
        self._blobs.pop(blob_id, None)


class MemoryCache:
    """Per-user response cache with TTLs and a bounded size (oldest entries go first);
    a :class:`~flickrhub_core.stores.GuardedCache`."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()
        self._max = max_entries
        #: Per user, how many times their reads were invalidated (a ``GuardedCache``).
        self._generations: dict[str, int] = {}

    async def get(self, user_id: str, key: str) -> bytes | None:
        return (await self.read(user_id, key)).value

    async def read(self, user_id: str, key: str) -> CacheRead:
        entry = self._entries.get((user_id, key))
        if entry is not None:
            expires, value = entry
            left = expires - time.monotonic()
            if left > 0:
                return CacheRead(value, seconds_left=left)
            del self._entries[(user_id, key)]
        return CacheRead(None, generation=str(self._generations.get(user_id, 0)))

    async def set(self, user_id: str, key: str, value: bytes, ttl: float) -> None:
        self._entries[(user_id, key)] = (time.monotonic() + ttl, value)
        self._entries.move_to_end((user_id, key))
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def set_if_current(
        self, user_id: str, key: str, value: bytes, ttl: float, generation: str
    ) -> bool:
        if str(self._generations.get(user_id, 0)) != generation:
            return False
        await self.set(user_id, key, value, ttl)
        return True

    async def invalidate_user(self, user_id: str) -> None:
        self._generations[user_id] = self._generations.get(user_id, 0) + 1
        for entry_key in [k for k in self._entries if k[0] == user_id]:
            del self._entries[entry_key]


class MemoryRequestTokenStore:
    """Pending OAuth request tokens; expired ones are dropped when met."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[float, PendingAuth]] = {}

    async def put(self, pending: PendingAuth, ttl: float) -> None:
        now = time.monotonic()
        self._pending = {k: v for k, v in self._pending.items() if v[0] > now}
        self._pending[pending.oauth_token] = (now + ttl, pending)

    async def take(self, oauth_token: str) -> PendingAuth | None:
        entry = self._pending.pop(oauth_token, None)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]


class MemoryRateLimiter:
    """GCRA: ``per_hour`` calls per key, evenly spaced, with a small burst.

    Callers reserve their slot before sleeping, so waiting callers are served in
    order and never fail; ``back_off`` pushes every caller of a key back.
    ``per_hour=0`` means no limit: ``acquire`` then costs nothing unless a back-off
    is pending.
    """

    def __init__(self, per_hour: int, burst: int = 10) -> None:
        self._interval = 3600.0 / per_hour if per_hour > 0 else 0.0
        self._burst = max(1, burst)
        self._tat: dict[str, float] = {}

    async def acquire(self, key: str) -> float:
        if not self._interval and key not in self._tat:
            return 0.0  # no limit and no back-off: nothing to wait for or remember
        now = time.monotonic()
        tat = max(self._tat.get(key, now), now)
        wait = max(0.0, tat - now - (self._burst - 1) * self._interval)
        if self._interval:
            self._tat[key] = tat + self._interval
        elif tat <= now:
            del self._tat[key]  # the back-off is over
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    async def back_off(self, key: str, seconds: float) -> None:
        now = time.monotonic()
        floor = now + seconds + (self._burst - 1) * self._interval
        self._tat[key] = max(self._tat.get(key, now), floor)
