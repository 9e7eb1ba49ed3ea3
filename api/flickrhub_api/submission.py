"""Turning a validated request into a queued job: the owner's user, the
``Idempotency-Key``, the pending-jobs cap, the job record and the 202 answer,
shared by every route that enqueues (REST calls, uploads, replaces)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from quart import Response, request

from flickrhub_api.context import current_owner
from flickrhub_api.envelope import envelope, request_id
from flickrhub_api.limits import ensure_capacity
from flickrhub_api.openapi import header_parameter, link
from flickrhub_core.errors import Conflict, InvalidRequest, NotFound
from flickrhub_core.jobs import Job
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import IdempotencyClaims, StoredToken
from flickrhub_core.webhooks import encrypt_secret

F = TypeVar("F", bound=Callable[..., Any])

IDEMPOTENCY_HEADER = "Idempotency-Key"
_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_KEY = re.compile(_KEY_PATTERN)

#: The OpenAPI description of the header every enqueue route reads.
document_idempotency_key = header_parameter(
    IDEMPOTENCY_HEADER,
    {"type": "string", "pattern": _KEY_PATTERN},
    description="Makes a retry safe: the same key returns the first request's job "
    "(1-255 printable ASCII characters, no spaces)",
)


def document_job_links(func: F) -> F:
    """The links of a 202 that made a job: read it, cancel it."""
    job_id = {"job_id": "$response.body#/data/job_id"}
    func = link(202, "GetJob", "get_job", job_id, description="The job's state and result")(func)
    return link(202, "CancelJob", "cancel_job", job_id, description="Cancel it while queued")(func)


#: What the statuses of an enqueue route mean.
ENQUEUE_NOTES = {
    404: "No such user_id for this caller (ERR_TOKEN_NOT_FOUND): unknown, revoked, or "
    "another API client's",
    409: "This Idempotency-Key was used for a different request (ERR_CONFLICT)",
    503: "This client's pending jobs are at FLICKRHUB_MAX_PENDING_JOBS (ERR_QUEUE_FULL, "
    "with Retry-After), or the queue or a store cannot be reached (ERR_UNAVAILABLE)",
}
JOBS_PATH = "/api/v1/flickr/jobs"

#: One lock per (owner, key) while a request with that key is being handled, so two
#: concurrent retries of one request in this process create one job. Across processes
#: sharing a job store that has :class:`~flickrhub_core.stores.IdempotencyClaims`
#: (Redis), the first to claim the key makes the job and the others answer with it.
_key_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
    weakref.WeakValueDictionary()
)
#: Seconds a claim holds a key before its job is saved (milliseconds, normally); a
#: process that dies in between frees the key after this.
CLAIM_SECONDS = 60.0
#: Seconds a request waits for the job another process is making under its key.
HOLDER_WAIT = 5.0


def token_not_found() -> NotFound:
    return NotFound("token_not_found", code="ERR_TOKEN_NOT_FOUND")


async def require_user(runtime: Runtime, user_id: str) -> None:
    """404 unless ``user_id`` is a connected account of the caller (another owner's
    is "not found" too). Every enqueue asks this: the store answers with the owner
    alone, without reading the token (:meth:`~flickrhub_core.stores.TokenStore.owner`)."""
    if await runtime.tokens.owner(user_id) != current_owner():
        raise token_not_found()


async def require_account(runtime: Runtime, user_id: str) -> StoredToken:
    """The caller's connected account, or 404 as :func:`require_user`."""
    token = await runtime.tokens.get(user_id)
    if token is None or token.owner != current_owner():
        raise token_not_found()
    return token


def idempotency_key() -> str | None:
    value = request.headers.get(IDEMPOTENCY_HEADER)
    if value is None:
        return None
    if not _KEY.match(value):
        raise InvalidRequest(
            "Invalid request",
            details=[{"field": IDEMPOTENCY_HEADER, "message": "1-255 printable ASCII characters"}],
        )
    return value


def same_request(first: Job, job: Job) -> bool:
    """Whether ``job`` asks for what ``first`` asked for (a retry under one
    ``Idempotency-Key``): every field the client sent counts, but the callback secret
    (stored encrypted, so not comparable) and an upload's photo (sent again)."""
    return _request_of(first) == _request_of(job)


def _request_of(job: Job) -> tuple[object, ...]:
    return (
        job.target,
        job.method,
        job.params,
        job.user_id,
        job.callback_url,
        job.meta,
        job.cache_bypass,
    )


def new_job(
    runtime: Runtime,
    *,
    user_id: str,
    target: str,
    method: str | None,
    params: dict[str, str],
    callback_url: str | None = None,
    callback_secret: str | None = None,
    meta: dict[str, Any] | None = None,
    cache: bool = True,
    blob_id: str | None = None,
    key: str | None = None,
) -> Job:
    """A job record for this request (not stored yet); ``callback_secret`` is stored
    encrypted."""
    return Job(
        owner=current_owner(),
        user_id=user_id,
        target=target,
        method=method,
        params=params,
        max_attempts=runtime.settings.job_retry_attempts,
        trace_id=request_id(),
        callback_url=callback_url,
        callback_secret=encrypt_secret(runtime, callback_secret),
        meta=meta,
        idempotency_key=key,
        cache_bypass=not cache,
        blob_id=blob_id,
    )


async def admit(runtime: Runtime, key: str | None) -> None:
    """Refuse (503, ``ERR_QUEUE_FULL``) before any work if the caller's pending jobs
    are at the cap; for routes that must check before reading the body (uploads).
    A retry of a request already accepted under ``key`` is let through."""
    owner = current_owner()
    if key is not None and await runtime.jobs.find_idempotent(owner, key) is not None:
        return
    await ensure_capacity(runtime, owner)


async def submit(runtime: Runtime, job: Job) -> tuple[Job, bool]:
    """Enqueue ``job``, or return the first job made with its idempotency key.

    Returns ``(job, replayed)``. The same key with a different request is a 409.
    A new job past the owner's pending-jobs cap is a 503 (a replay is not refused),
    checked by the job store's save where it can (atomic, no extra round trip).
    """
    key = job.idempotency_key
    cap = runtime.settings.max_pending_jobs
    if key is None:
        return await runtime.enqueue(job, max_pending=cap), False
    first = await first_or_make(
        runtime, job.owner, key, job.id, lambda: runtime.enqueue(job, max_pending=cap)
    )
    if first is None:
        return job, False
    if not same_request(first, job):
        raise Conflict(
            "this Idempotency-Key was used for a different request",
            details={"job_id": first.id},
        )
    return first, True


async def first_or_make(
    runtime: Runtime,
    owner: str,
    key: str,
    job_id: str,
    make: Callable[[], Awaitable[object]],
) -> Job | None:
    """The first job stored under the idempotency ``key``, or None once ``make`` has
    made it here (its job, ``job_id``, stored under ``key``).

    One request per key at a time in this process; across API processes sharing a
    job store with :class:`~flickrhub_core.stores.IdempotencyClaims`, the first to
    claim the key makes the job and the others wait for it (:func:`_made_elsewhere`).
    A claim whose ``make`` failed is released, so a retry can make the job.
    """
    lock = _key_locks.setdefault((owner, key), asyncio.Lock())
    async with lock:
        first = await runtime.jobs.find_idempotent(owner, key)
        if first is not None:
            return first
        store = runtime.jobs
        claims = store if isinstance(store, IdempotencyClaims) else None
        holder = None
        if claims is not None:
            holder = await claims.claim_idempotency(owner, key, job_id, ttl=CLAIM_SECONDS)
        if holder is None:
            try:
                await make()
            except BaseException:
                if claims is not None:
                    with contextlib.suppress(Exception):
                        await claims.release_idempotency(owner, key, job_id)
                raise
            return None
    return await _made_elsewhere(runtime, holder)


async def _made_elsewhere(runtime: Runtime, job_id: str) -> Job:
    """The job another API process is making under the same key, once it is stored
    (a 409 to retry if that takes over :data:`HOLDER_WAIT`: its enqueue failed, say)."""
    deadline = time.monotonic() + HOLDER_WAIT
    while (job := await runtime.jobs.get(job_id)) is None:
        if time.monotonic() >= deadline:
            raise Conflict(
                "a request with this Idempotency-Key is being handled; retry it",
                details={"job_id": job_id},
            )
        await asyncio.sleep(0.02)
    return job


def accepted(job: Job, *, replayed: bool) -> Response:
    """The 202 answer of every enqueue route (replays included, for old clients).

    The fields of :class:`~flickrhub_api.models.EnqueueData` (what the OpenAPI document
    shows) as a plain dict: they come from a job we hold, so validating them again
    buys nothing.
    """
    data = {
        "job_id": job.id,
        "state": job.state.value,
        "queue": job.queue,
        "status_url": f"{JOBS_PATH}/{job.id}",
        "idempotent_replay": replayed,
    }
    return envelope(data, 202)
