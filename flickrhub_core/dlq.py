"""Dead letters: list, replay and purge the jobs that exhausted their retries.

What is dead is what the **job store** says: the owner's jobs that failed after their
last attempt (``state`` ``failed``, ``dead_lettered``) and were neither replayed nor
purged since (:attr:`Job.in_dlq`). The broker's ``flickr_dlq`` holds a copy of each
one's message (with its reason) for operators; it is kept in step on a best-effort
basis, and nothing reads it to decide anything:

* the job store is owner-scoped and indexed (``JobQuery(in_dlq=True)``), the queue is
  neither: one ``flickr_dlq`` for every API client, readable only by taking messages
  out and putting them back;
* a dead job whose copy never reached the queue (the broker failed at that moment)
  is still listed and replayable, and a message whose job record has expired
  (``JOB_TTL_FAIL``) cannot be replayed anyway.

**Replay** makes a *new* job: a copy of the dead one's target, method, params, user,
callback (URL and encrypted secret), meta and photo (the blob a dead photo job keeps,
see ``JobRunner._drop_photo``), with a fresh id, no attempts made and this install's
``JOB_RETRY_ATTEMPTS``; its ``replay_of`` names the dead job, whose ``replayed_by``
names the copy. Not copied: the idempotency key (it stays with the first job), the
batch (a batch's status keeps its own jobs) and anything of the dead job's run. A job
replayed once is out of the DLQ: replaying it again is a 409 naming the copy (if the
copy dies too, replay the copy). The dead job is marked before the copy is queued, so
two replays cannot both pass: in one process a lock orders them, across processes a
job store with ``claim_idempotency`` (Redis) lets only one claim the replay; if
queueing fails, the mark is taken back.

**Purge** takes a dead job out of the DLQ for good: its record stays (a ``failed``
job, until ``JOB_TTL_FAIL``) with ``purged_at`` set, its kept photo is deleted, and it
can no longer be replayed. Purging twice is harmless.

After a replay or purge, the jobs' messages are taken out of ``flickr_dlq``
(:meth:`Broker.take_dead`); if that fails, the leftover messages are only noise.
Each replay or purge is announced (``job_replayed``, ``job_purged``) on the dead job.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flickrhub_core.errors import (
    Conflict,
    FlickrHubError,
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
)
from flickrhub_core.jobs import Job, JobState, utcnow
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import IdempotencyClaims, JobQuery

__all__ = [
    "MAX_BULK",
    "BulkOutcome",
    "dead_view",
    "get_dead",
    "list_dead",
    "purge",
    "purge_many",
    "replay",
    "replay_many",
]

#: Jobs one bulk replay or purge handles at most.
MAX_BULK = 500
#: Seconds a cross-process replay claim holds (the replay marks the dead job long before).
REPLAY_CLAIM_TTL = 60.0
#: The idempotency-key namespace replay claims use.
REPLAY_CLAIM_PREFIX = "flickrhub-dlq-replay:"

#: One lock per (owner, dead job) while it is being replayed or purged in this process.
_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()


def not_found() -> NotFound:
    return NotFound("no dead-lettered job with this id", code="ERR_DEAD_LETTER_NOT_FOUND")


@contextlib.asynccontextmanager
async def _locked(owner: str, job_id: str) -> AsyncIterator[None]:
    lock = _locks.setdefault((owner, job_id), asyncio.Lock())
    async with lock:
        yield


# --- reading ----------------------------------------------------------------------------


async def list_dead(
    runtime: Runtime,
    owner: str,
    *,
    limit: int = 50,
    before: datetime | None = None,
    before_id: str | None = None,
) -> tuple[list[Job], bool]:
    """The owner's jobs in the DLQ, newest first, after the cursor ``(before,
    before_id)``: at most ``limit``, and whether there are more."""
    jobs = await runtime.jobs.list(
        JobQuery(
            owner=owner,
            in_dlq=True,
            before=before,
            before_id=before_id,
            limit=limit + 1,
        )
    )
    # A store that does not know ``in_dlq`` returns every job: keep only the dead.
    jobs = [job for job in jobs if job.owner == owner and job.in_dlq]
    return jobs[:limit], len(jobs) > limit


async def get_dead(runtime: Runtime, owner: str, job_id: str) -> Job:
    """One of the owner's dead-lettered jobs (also once replayed or purged), or 404
    whether it is missing, someone else's or not dead-lettered."""
    job = await runtime.jobs.get(job_id)
    if job is None or job.owner != owner or not job.dead_lettered:
        raise not_found()
    return job


def dead_view(job: Job) -> dict[str, Any]:
    """A dead job as the admin routes show it: its status view, what it called
    (``params``), why it died and where it stands."""
    return {
        **job.status_view(),
        "params": job.params,
        "reason": str((job.error or {}).get("message") or "exhausted"),
        "dead_at": _iso(job.finished_at),
        "in_dlq": job.in_dlq,
        "purged_at": _iso(job.purged_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


# --- replay -----------------------------------------------------------------------------


async def replay(runtime: Runtime, owner: str, job_id: str, *, trace_id: str | None = None) -> Job:
    """Queue a copy of the owner's dead job ``job_id``; return the copy.

    404 if it is not the owner's dead job; 409 if it was replayed or purged already,
    or cannot run any more (its target disabled, its user's account disconnected,
    its photo gone). 503 if the queue does not take it (nothing changes then).
    """
    fresh = await _replay(runtime, owner, job_id, trace_id)
    await _take_messages(runtime, [job_id])
    return fresh


async def _replay(runtime: Runtime, owner: str, job_id: str, trace_id: str | None) -> Job:
    async with _locked(owner, job_id):
        dead = await get_dead(runtime, owner, job_id)
        await _check_replayable(runtime, dead)
        fresh = copy_of(runtime, dead, trace_id=trace_id)
        await _claim(runtime, dead, fresh)
        # Read again just before writing: others write the record too (the webhook
        # dispatcher records its deliveries), so keep the window between the two short.
        dead = await get_dead(runtime, owner, job_id)
        await _check_replayable(runtime, dead, quick=True)
        dead.replayed_by = fresh.id
        await runtime.jobs.save(dead)
        try:
            await runtime.enqueue(fresh)
        except BaseException:
            dead.replayed_by = None
            await runtime.jobs.save(dead)
            raise
    await runtime.emit("job_replayed", dead, dead.state)
    return fresh


def copy_of(runtime: Runtime, dead: Job, *, trace_id: str | None = None) -> Job:
    """The new job a replay of ``dead`` queues (not stored yet)."""
    return Job(
        owner=dead.owner,
        user_id=dead.user_id,
        target=dead.target,
        method=dead.method,
        params=dict(dead.params),
        max_attempts=runtime.settings.job_retry_attempts,
        trace_id=trace_id or dead.trace_id,
        callback_url=dead.callback_url,
        callback_secret=dead.callback_secret,
        meta=copy.deepcopy(dead.meta),
        blob_id=dead.blob_id,
        cache_bypass=dead.cache_bypass,
        replay_of=dead.id,
    )


async def _check_replayable(runtime: Runtime, dead: Job, *, quick: bool = False) -> None:
    """Refuse a job that cannot be replayed; ``quick`` checks only the record."""
    if dead.replayed_by is not None:
        raise Conflict(
            f"job {dead.id} was replayed already, as job {dead.replayed_by}; "
            "replay that job if it died too",
            code="ERR_ALREADY_REPLAYED",
            details={"job_id": dead.id, "replayed_by": dead.replayed_by},
        )
    if dead.purged_at is not None:
        raise Conflict(
            f"job {dead.id} was purged from the dead-letter queue; it cannot be replayed",
            code="ERR_PURGED",
            details={"job_id": dead.id},
        )
    if not dead.in_dlq:  # dead_lettered but not failed: not expected, never replayed
        raise not_found()
    if quick:
        return
    target = runtime.targets.get(dead.target)
    if target is None:
        raise Conflict(
            f"the {dead.target} target is not enabled here, so its job cannot run",
            code="ERR_TARGET_DISABLED",
            details={"job_id": dead.id, "target": dead.target},
        )
    token = await runtime.tokens.get(dead.user_id)
    if token is None or token.owner != dead.owner:
        raise Conflict(
            f"user_id {dead.user_id} has no connected Flickr account any more; "
            "connect it again, then replay",
            code="ERR_TOKEN_NOT_FOUND",
            details={"job_id": dead.id, "user_id": dead.user_id},
        )
    if target.takes_photo or dead.blob_id is not None:
        info = await runtime.blobs.stat(dead.blob_id) if dead.blob_id else None
        if info is None:
            raise Conflict(
                f"the photo of job {dead.id} is no longer stored; upload it again",
                code="ERR_BLOB_MISSING",
                details={"job_id": dead.id},
            )


async def _claim(runtime: Runtime, dead: Job, fresh: Job) -> None:
    """Across API processes, let one replay of ``dead`` through (stores that can)."""
    store = runtime.jobs
    if not isinstance(store, IdempotencyClaims):
        return
    holder = await store.claim_idempotency(
        dead.owner, REPLAY_CLAIM_PREFIX + dead.id, fresh.id, ttl=REPLAY_CLAIM_TTL
    )
    if holder is not None:
        raise Conflict(
            f"job {dead.id} is being replayed already, as job {holder}",
            code="ERR_ALREADY_REPLAYED",
            details={"job_id": dead.id, "replayed_by": holder},
        )


# --- purge ------------------------------------------------------------------------------


async def purge(runtime: Runtime, owner: str, job_id: str) -> tuple[Job, int]:
    """Take the owner's dead job out of the DLQ for good (its photo deleted); return
    it and how many of its messages left ``flickr_dlq``.

    404 if it is not the owner's dead job, 409 if it was replayed (the copy is the
    one to purge, should it die). Purging a purged job again returns it unchanged.
    """
    job, changed = await _purge(runtime, owner, job_id)
    removed = await _take_messages(runtime, [job_id]) if changed else 0
    return job, removed


async def _purge(runtime: Runtime, owner: str, job_id: str) -> tuple[Job, bool]:
    async with _locked(owner, job_id):
        dead = await get_dead(runtime, owner, job_id)
        if dead.purged_at is not None:
            return dead, False
        if dead.replayed_by is not None:
            raise Conflict(
                f"job {dead.id} was replayed as job {dead.replayed_by}; it is no longer "
                "in the dead-letter queue",
                code="ERR_ALREADY_REPLAYED",
                details={"job_id": dead.id, "replayed_by": dead.replayed_by},
            )
        if not dead.in_dlq:
            raise not_found()
        dead.purged_at = utcnow()
        await runtime.jobs.save(dead)
        if dead.blob_id:
            await runtime.blobs.delete(dead.blob_id)
    await runtime.emit("job_purged", dead, JobState.FAILED)
    return dead, True


# --- many at once -----------------------------------------------------------------------


@dataclass
class BulkOutcome:
    """What a bulk replay or purge did, job by job."""

    #: ``(dead job id, new job id)`` per replay; ``(job id, None)`` per purge.
    done: list[tuple[str, str | None]] = field(default_factory=list)
    #: ``{"job_id", "code", "message"}`` for each job left as it was.
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: With ``all``: whether more dead jobs than one call takes are left.
    more: bool = False
    #: Dead letters taken out of the broker's ``flickr_dlq``.
    messages_removed: int = 0


async def _selection(
    runtime: Runtime, owner: str, job_ids: Sequence[str] | None
) -> tuple[list[str], bool]:
    """The ids to work on, oldest first for ``all`` (``job_ids`` None), and whether
    more are left; duplicates dropped, at most :data:`MAX_BULK`."""
    if job_ids is None:
        jobs, more = await list_dead(runtime, owner, limit=MAX_BULK)
        return [job.id for job in reversed(jobs)], more
    unique = list(dict.fromkeys(job_ids))
    if len(unique) > MAX_BULK:
        raise InvalidRequest(
            "Invalid request",
            details=[{"field": "job_ids", "message": f"at most {MAX_BULK} job ids at once"}],
        )
    return unique, False


async def replay_many(
    runtime: Runtime,
    owner: str,
    job_ids: Sequence[str] | None,
    *,
    trace_id: str | None = None,
    admit: Callable[[], Awaitable[None]] | None = None,
) -> BulkOutcome:
    """Replay each of ``job_ids`` (None: the whole DLQ, :data:`MAX_BULK` at a time).

    A job that cannot be replayed is reported in ``errors`` and the rest go on.
    ``admit`` is awaited before each replay (the API's pending-jobs cap); when it,
    or the queue, refuses with a 503, the remaining jobs are reported with it.
    """
    ids, more = await _selection(runtime, owner, job_ids)
    outcome = BulkOutcome(more=more)
    for index, job_id in enumerate(ids):
        try:
            if admit is not None:
                await admit()
            fresh = await _replay(runtime, owner, job_id, trace_id)
        except ServiceUnavailable as exc:
            outcome.errors.extend(_error(left, exc) for left in ids[index:])
            break
        except FlickrHubError as exc:
            outcome.errors.append(_error(job_id, exc))
            continue
        outcome.done.append((job_id, fresh.id))
    outcome.messages_removed = await _take_messages(runtime, [dead for dead, _ in outcome.done])
    return outcome


async def purge_many(runtime: Runtime, owner: str, job_ids: Sequence[str] | None) -> BulkOutcome:
    """Purge each of ``job_ids`` (None: the whole DLQ, :data:`MAX_BULK` at a time)."""
    ids, more = await _selection(runtime, owner, job_ids)
    outcome = BulkOutcome(more=more)
    changed: list[str] = []
    for job_id in ids:
        try:
            _, did = await _purge(runtime, owner, job_id)
        except FlickrHubError as exc:
            outcome.errors.append(_error(job_id, exc))
            continue
        outcome.done.append((job_id, None))
        if did:
            changed.append(job_id)
    outcome.messages_removed = await _take_messages(runtime, changed)
    return outcome


def _error(job_id: str, exc: FlickrHubError) -> dict[str, Any]:
    return {"job_id": job_id, "code": exc.code, "message": exc.message}


async def _take_messages(runtime: Runtime, job_ids: Collection[str]) -> int:
    """Take the jobs' copies out of ``flickr_dlq``; a failure is logged, not raised."""
    if not job_ids:
        return 0
    try:
        return await runtime.broker.take_dead(job_ids)
    except Exception as exc:
        runtime.log.warning("dlq_messages_not_removed", jobs=len(job_ids), error=type(exc).__name__)
        return 0
