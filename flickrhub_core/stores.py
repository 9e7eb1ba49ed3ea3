"""The backend contracts plugins implement, and the records they hold.

Each protocol is what the core needs of one concern; the embedded defaults are
in :mod:`flickrhub_core.memory`, persistent ones come from plugins (``local``,
``redis``, ``mongo``) through the hooks in :mod:`flickrhub_core.hookspecs`.
All methods are async because every real backend does I/O.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast, runtime_checkable

from pydantic import BaseModel, Field

from flickrhub_core.jobs import Job, JobState, utcnow


class StoredToken(BaseModel):
    """A connected Flickr account: the access token and whom it belongs to."""

    user_id: str
    owner: str = "default"
    consumer_key: str
    consumer_secret: str
    token: str
    token_secret: str
    user_nsid: str
    username: str = ""
    fullname: str = ""
    perms: str = "write"
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    def __repr_args__(self):  # type: ignore[no-untyped-def]
        hidden = {"consumer_secret", "token", "token_secret"}
        return [(k, "********" if k in hidden else v) for k, v in super().__repr_args__()]

    def public_view(self) -> dict[str, object]:
        """What an API client may see of a connected account (never a secret)."""
        return {
            "user_id": self.user_id,
            "user_nsid": self.user_nsid,
            "username": self.username,
            "fullname": self.fullname,
            "perms": self.perms,
            "connected_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }


class PendingAuth(BaseModel):
    """An OAuth request token between ``/auth/start`` and ``/auth/complete``."""

    oauth_token: str
    oauth_token_secret: str
    consumer_key: str
    consumer_secret: str
    state: str
    callback: str
    perms: str = "write"
    owner: str = "default"
    created_at: datetime = Field(default_factory=utcnow)

    def __repr_args__(self):  # type: ignore[no-untyped-def]
        hidden = {"consumer_secret", "oauth_token_secret"}
        return [(k, "********" if k in hidden else v) for k, v in super().__repr_args__()]


@dataclass(frozen=True)
class BlobInfo:
    """An upload's bytes at rest; jobs carry only ``id``."""

    id: str
    size: int
    filename: str
    content_type: str | None
    sha256: str


@dataclass(frozen=True)
class JobQuery:
    """Filters for listing jobs; ``owner`` is always applied.

    The order is newest first: ``created_at`` descending, then ``id`` descending
    between jobs created at the same instant. ``since`` (inclusive) and ``until``
    (exclusive) bound ``created_at``. ``before``/``before_id`` is a keyset cursor:
    only jobs after that position in the order, i.e. ``(created_at, id) <
    (before, before_id)``; without ``before_id`` just ``created_at < before``.
    ``in_dlq`` keeps the jobs whose :attr:`Job.in_dlq` is that value (the dead letters
    neither replayed nor purged); a store should index them, as dead jobs are rare
    among many.
    """

    owner: str
    user_id: str | None = None
    state: JobState | None = None
    target: str | None = None
    method: str | None = None
    batch_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: datetime | None = None
    before_id: str | None = None
    in_dlq: bool | None = None
    limit: int = 50

    def matches(self, job: Job) -> bool:
        """Whether ``job`` passes every filter (for stores that filter in Python)."""
        if job.owner != self.owner:
            return False
        for name in ("user_id", "target", "method", "batch_id"):
            wanted = getattr(self, name)
            if wanted is not None and getattr(job, name) != wanted:
                return False
        if self.state is not None and job.state is not self.state:
            return False
        if self.in_dlq is not None and job.in_dlq is not self.in_dlq:
            return False
        if self.since is not None and job.created_at < self.since:
            return False
        if self.until is not None and job.created_at >= self.until:
            return False
        if self.before is not None:
            if self.before_id is None:
                return job.created_at < self.before
            return (job.created_at, job.id) < (self.before, self.before_id)
        return True


@runtime_checkable
class JobStore(Protocol):
    """Hot job state: every read and write of a job's record goes through here."""

    async def save(self, job: Job) -> None:
        """Create or replace the whole record, except that, in one atomic check and
        write that changes nothing when it refuses:

        * a finished job's outcome is final: a save of a stored job that is
          :attr:`~flickrhub_core.jobs.JobState.finished` with another state or another
          ``finished_at`` raises :class:`~flickrhub_core.errors.JobAlreadyFinished`
          (of two workers finishing one job only the first outcome stands). Saving it
          as it finished (a DLQ replay's link, a webhook delivery's record) replaces it;
        * a started job stays started: a save without ``started_at`` of a stored job
          that has one raises :class:`~flickrhub_core.errors.JobAlreadyStarted` (the
          API cancelling a job it read queued, which a worker took meanwhile)."""

    async def get(self, job_id: str) -> Job | None: ...

    async def delete(self, job_id: str) -> None:
        """Forget a job (only used when its message could not be published)."""

    async def find_idempotent(self, owner: str, key: str) -> Job | None:
        """The job created earlier by ``owner`` with ``Idempotency-Key: key``."""

    async def count_pending(self, owner: str) -> int:
        """How many of ``owner``'s jobs are not finished (queued, running, retrying).

        Called on enqueues (the per-client cap; for one job a :class:`CappedCreate`
        store checks the cap in its save instead), so it must not scan jobs."""

    async def list(self, query: JobQuery) -> list[Job]:
        """At most ``query.limit`` jobs matching ``query``, in its order (newest first)."""


@runtime_checkable
class CappedCreate(Protocol):
    """Optional :class:`JobStore` capability: the pending-jobs cap checked by the save
    that creates a job, in one atomic check and write.

    Without it :meth:`~flickrhub_core.runtime.Runtime.enqueue` counts the owner's
    pending jobs (:meth:`JobStore.count_pending`) and then saves: one more round trip,
    and two enqueues racing may both pass the count and take the owner one job past
    the cap.
    """

    async def create(self, job: Job, max_pending: int) -> None:
        """:meth:`JobStore.save` of a new job, unless ``job.owner`` already has
        ``max_pending`` or more pending jobs: then nothing is written and
        :class:`~flickrhub_core.errors.QueueFull` is raised with that count. A job
        stored already is saved as :meth:`JobStore.save` does, without the check."""


@runtime_checkable
class CancelRequests(Protocol):
    """Optional :class:`JobStore` capability: cancel requests kept apart from the records.

    A running job's record is rewritten by its worker (progress, retries, the outcome),
    so a flag the API wrote into it could be overwritten, and the API's own write could
    overwrite the outcome. A store with this capability keeps the request on the side
    and sets ``cancel_requested`` on every job :meth:`JobStore.get` returns for it.
    Stores without it get the best-effort fallback of :mod:`flickrhub_core.cancel`.
    """

    async def request_cancel(self, job_id: str) -> None:
        """Record that the job's owner wants it cancelled (idempotent)."""

    async def cancel_requested(self, job_id: str) -> bool:
        """Whether :meth:`request_cancel` was called for the job (cheap: polled)."""


@runtime_checkable
class IdempotencyClaims(Protocol):
    """Optional job-store capability: reserve an ``Idempotency-Key`` atomically, so two
    API processes that get the first request with one key at the same instant make
    one job (the API's enqueue uses it; without it, a lock per process orders them)."""

    async def claim_idempotency(
        self, owner: str, key: str, job_id: str, *, ttl: float | None = ...
    ) -> str | None:
        """Reserve ``key`` for ``job_id`` until the job's ``save`` (or ``ttl`` seconds):
        None when the claim is ours, else the id of the job holding the key."""

    async def release_idempotency(self, owner: str, key: str, job_id: str) -> None:
        """Free ``key`` if ``job_id`` still holds it (its job was not made after all)."""


@runtime_checkable
class JobLeases(Protocol):
    """Optional :class:`JobStore` capability: which worker is running a job right now.

    A broker redelivers a message whose connection dropped, even while its first worker
    still runs the job (the worker cannot tell: its ack went nowhere). A worker takes
    the job's lease before it runs a job and keeps renewing it while it runs; a copy
    delivered to another worker meanwhile waits for the lease (and then finds the job
    finished) instead of running it a second time. The lease of a worker that died
    expires after its ``ttl``. Stores without it: such a copy runs at once.
    """

    async def take_lease(self, job_id: str, holder: str, ttl: float) -> bool:
        """Take the job's lease for ``ttl`` seconds, or renew it if ``holder`` has it;
        False while another holder has it."""

    async def drop_lease(self, job_id: str, holder: str) -> None:
        """Give the lease up, if ``holder`` has it."""


@runtime_checkable
class CombinedLeases(JobLeases, Protocol):
    """Optional :class:`JobLeases` extension: fewer round trips for the worker host.

    A store with it takes a lease and reads the job in one round trip, and renews
    all the leases one host holds in one; the host uses it when it is there and
    :meth:`JobLeases.take_lease` with :meth:`JobStore.get` otherwise.
    """

    async def take_lease_and_get(
        self, job_id: str, holder: str, ttl: float
    ) -> tuple[bool, Job | None]:
        """:meth:`JobLeases.take_lease`, and the job as :meth:`JobStore.get` returns it
        (whether or not the lease was taken)."""

    async def renew_leases(self, job_ids: Sequence[str], holder: str, ttl: float) -> list[str]:
        """:meth:`JobLeases.take_lease` for each job; the ids another holder has now."""


@runtime_checkable
class StartingLeases(CombinedLeases, Protocol):
    """Optional :class:`CombinedLeases` extension: take the lease and start the job's
    attempt in one round trip.

    The broker's message carries the job's record as it was stored when the message
    was published (``Runtime.enqueue``, a scheduled retry). When the record is still
    exactly that one, the worker knows the job before reading it, so it makes the
    ``running`` record first and the store writes it with the lease, instead of the
    worker saving it in a round trip of its own once it has read the job.
    """

    async def take_lease_and_start(
        self, job_id: str, holder: str, ttl: float, published: str, started: Job
    ) -> tuple[bool, bool, Job | None]:
        """:meth:`CombinedLeases.take_lease_and_get`, and when the lease was taken, the
        stored record is exactly ``published`` and no cancel is requested, ``started``
        saved in its place as :meth:`JobStore.save` would. Returns ``(taken, started,
        job)``: ``job`` is the stored job when it was not started, else None."""


@runtime_checkable
class JobArchive(Protocol):
    """Finished jobs kept after the job store lets them go (its ``JOB_TTL_*``, or the
    embedded mode's restart), so a client polling late still reads the outcome."""

    async def get(self, job_id: str) -> Job | None:
        """The archived job, or None when the archive does not keep it."""


@runtime_checkable
class TokenStore(Protocol):
    """Connected accounts; must survive a restart."""

    async def get(self, user_id: str) -> StoredToken | None: ...

    async def owner(self, user_id: str) -> str | None:
        """The owner of ``user_id``'s token (who may use it), or None when there is no
        token. The API asks this on every enqueue: answer it without reading the
        secrets (a store that encrypts them must not decrypt here)."""

    async def find_account(
        self, owner: str, consumer_key: str, user_nsid: str
    ) -> StoredToken | None:
        """The token of one Flickr account, so re-authorising keeps its ``user_id``."""

    async def put(self, token: StoredToken) -> None:
        """Insert or replace by ``user_id``."""

    async def delete(self, user_id: str) -> bool: ...

    async def list(self, owner: str) -> list[StoredToken]: ...


@runtime_checkable
class BlobStore(Protocol):
    """Upload bytes between the API and the worker, streamed both ways."""

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        filename: str,
        content_type: str | None,
        max_bytes: int | None = None,
    ) -> BlobInfo:
        """Store a stream; raise :class:`~flickrhub_core.errors.InvalidRequest` past ``max_bytes``
        (nothing is left behind)."""

    async def stat(self, blob_id: str) -> BlobInfo | None: ...

    def open(self, blob_id: str) -> AsyncIterator[bytes]:
        """Stream a blob's bytes in chunks (raises NotFound if it is gone)."""

    async def delete(self, blob_id: str) -> None: ...


@runtime_checkable
class Cache(Protocol):
    """Flickr read responses per user. Keys are opaque hashes made by the core."""

    async def get(self, user_id: str, key: str) -> bytes | None: ...

    async def set(self, user_id: str, key: str, value: bytes, ttl: float) -> None: ...

    async def invalidate_user(self, user_id: str) -> None:
        """Forget every cached read of one user (after that user's write)."""


@dataclass(frozen=True)
class CacheRead:
    """What a read of the cache found: on a hit the value and the seconds it has left
    (None from a cache that does not tell); on a miss the user's cache generation
    (None from a cache without generations), to store the answer with."""

    value: bytes | None
    seconds_left: float | None = None
    generation: str | None = None


@runtime_checkable
class GuardedCache(Protocol):
    """A :class:`Cache` whose reads say how long a hit has left (shown as
    ``returnvalue.cache_ttl_seconds``, as the earlier system did) and whose writes are
    dropped when the user's reads were invalidated since the miss: a read that was
    answered before a write of the same user finished must not be cached after it."""

    async def read(self, user_id: str, key: str) -> CacheRead:
        """Like ``get``, counted the same way."""

    async def set_if_current(
        self, user_id: str, key: str, value: bytes, ttl: float, generation: str
    ) -> bool:
        """``set``, unless the user's generation is no longer ``generation``; whether set."""


@functools.cache
def _guarded(kind: type) -> bool:
    """Whether caches of this class are guarded (:class:`GuardedCache`), worked out once per
    class: a protocol's ``isinstance`` looks up each of its methods, some 5 µs, and
    every cacheable job reads the cache."""
    return issubclass(kind, GuardedCache)


async def cache_read(cache: Cache, user_id: str, key: str) -> CacheRead:
    """Read ``cache`` the richest way it can."""
    if _guarded(type(cache)):
        return await cast(GuardedCache, cache).read(user_id, key)
    return CacheRead(await cache.get(user_id, key))


async def cache_store(
    cache: Cache, user_id: str, key: str, value: bytes, ttl: float, missed: CacheRead
) -> None:
    """Store an answer fetched after the miss ``missed``: only if the user's cached
    reads were not invalidated since, where the cache can tell (a miss carries a
    generation only from a :class:`GuardedCache`)."""
    if missed.generation is not None:
        await cast(GuardedCache, cache).set_if_current(user_id, key, value, ttl, missed.generation)
    else:
        await cache.set(user_id, key, value, ttl)


@runtime_checkable
class RequestTokenStore(Protocol):
    """OAuth request tokens waiting for the user's approval (short-lived)."""

    async def put(self, pending: PendingAuth, ttl: float) -> None: ...

    async def take(self, oauth_token: str) -> PendingAuth | None:
        """Remove and return: a request token is used once."""


@runtime_checkable
class RateLimiter(Protocol):
    """Keeps all workers together under Flickr's per-key hourly limit."""

    async def acquire(self, key: str) -> float:
        """Wait until one call may be made; return the seconds waited."""

    async def back_off(self, key: str, seconds: float) -> None:
        """Flickr answered 429: make every caller of ``key`` wait ``seconds`` more."""
