"""Batches: up to 100 calls enqueued by one request, followed by one status route.

``POST /batch`` validates every call before it queues any: one bad call is a
400 whose details name it (``calls.3.params.x``) and nothing is queued; an
unknown (or another client's) ``user_id`` in any call is a 404 for the whole
batch. The jobs then share a ``batch_id``; ``GET /batches/<id>`` counts them by
state and lists them in the order they were sent. If queueing fails part way
(the broker goes away), the jobs already queued are withdrawn where they have
not started, and the request fails: it can be sent again.

An ``Idempotency-Key`` makes a retried batch return the first one's ``batch_id``
and jobs instead of queueing them twice (409 if the calls differ), across API
processes too where the job store claims keys (``first_or_make``): a retry that
meets a batch another process is still queueing waits for it to be whole.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_response, operation_id, tag

from flickrhub_api.context import current_owner, get_runtime
from flickrhub_api.envelope import envelope
from flickrhub_api.limits import ensure_capacity
from flickrhub_api.models import (
    MAX_BATCH,
    BatchCall,
    BatchData,
    BatchQuery,
    BatchRequest,
    BatchStatus,
    Envelope,
)
from flickrhub_api.openapi import errors, link
from flickrhub_api.routes.jobs import POLL_INTERVAL, _target_for
from flickrhub_api.submission import (
    ENQUEUE_NOTES,
    HOLDER_WAIT,
    document_idempotency_key,
    first_or_make,
    idempotency_key,
    new_job,
    require_user,
    same_request,
)
from flickrhub_api.validation import json_body, parse_model
from flickrhub_core.errors import Conflict, InvalidRequest, NotFound
from flickrhub_core.jobs import Job, JobState, utcnow
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import JobQuery
from flickrhub_core.webhooks import check_callback_url

blueprint = Blueprint("batches", __name__, url_prefix="/api/v1/flickr")

BATCHES_PATH = "/api/v1/flickr/batches"
#: Prefix of the idempotency key stored on a batch's first job. Client keys are
#: printable ASCII without spaces, so a batch's key never meets a ``/rest`` key.
BATCH_KEY_PREFIX = "batch "
#: Seconds a batch another API process is queueing may go without a new job before a
#: retry with the same key takes it as whole (its jobs are queued milliseconds apart).
GROWTH_WAIT = 0.5


def batch_not_found() -> NotFound:
    return NotFound("batch_not_found", code="ERR_BATCH_NOT_FOUND")


def _prefixed(exc: InvalidRequest, prefix: str) -> list[dict[str, Any]]:
    """The error's field details, each field under ``prefix``."""
    details = exc.details if isinstance(exc.details, list) else []
    out = [
        {**item, "field": f"{prefix}.{item.get('field', '')}".rstrip(".")}
        for item in details
        if isinstance(item, dict)
    ]
    return out or [{"field": prefix, "message": exc.message}]


async def _refusal(runtime: Runtime, url: str) -> InvalidRequest | None:
    try:
        await check_callback_url(url, allow_private=runtime.settings.webhook_allow_private)
    except InvalidRequest as exc:
        return exc
    return None


async def _validated(runtime: Runtime, calls: Sequence[BatchCall]) -> list[Job]:
    """A job per call, or one 400 naming every bad field of every call."""
    # Each distinct callback URL is checked once, all at the same time (DNS lookups).
    urls = list(dict.fromkeys(call.callback_url for call in calls if call.callback_url))
    refusals = dict(
        zip(urls, await asyncio.gather(*(_refusal(runtime, url) for url in urls)), strict=True)
    )
    problems: list[dict[str, Any]] = []
    jobs: list[Job] = []
    for index, call in enumerate(calls):
        where = f"calls.{index}"
        try:
            target = _target_for(runtime, call.target)
            params = target.validate(call.method, call.params or {})
        except InvalidRequest as exc:
            problems.extend(_prefixed(exc, where))
            params = None
        refused = refusals.get(call.callback_url) if call.callback_url else None
        if refused is not None:
            problems.extend(_prefixed(refused, where))
        if params is None or problems:
            continue
        jobs.append(
            new_job(
                runtime,
                user_id=call.user_id,
                target=target.name,
                method=call.method,
                params=params,
                callback_url=call.callback_url,
                callback_secret=call.callback_secret,
                meta=call.meta,
                cache=call.cache,
            )
        )
    if problems:
        raise InvalidRequest("Invalid request", details=problems)
    return jobs


def _same_calls(first: Sequence[Job], jobs: Sequence[Job]) -> bool:
    return len(first) == len(jobs) and all(
        same_request(a, b) for a, b in zip(first, jobs, strict=True)
    )


async def batch_jobs(runtime: Runtime, owner: str, batch_id: str) -> list[Job]:
    """The batch's jobs in the order they were sent."""
    jobs = await runtime.jobs.list(JobQuery(owner=owner, batch_id=batch_id, limit=MAX_BATCH))
    return sorted(jobs, key=lambda job: (job.created_at, job.id))


async def _enqueue(runtime: Runtime, owner: str, jobs: list[Job], key: str | None) -> str:
    """Queue every job under one new batch id; all or (where possible) none."""
    await ensure_capacity(runtime, owner, len(jobs))
    batch_id = str(uuid.uuid4())
    start = utcnow()
    for index, job in enumerate(jobs):
        job.batch_id = batch_id
        # Strictly increasing, so the batch (and the listing) keeps the calls' order.
        job.created_at = start + timedelta(microseconds=index)
    if key is not None:
        jobs[0].idempotency_key = BATCH_KEY_PREFIX + key
    queued: list[Job] = []
    try:
        for job in jobs:
            queued.append(await runtime.enqueue(job))
    except BaseException:
        await _withdraw(runtime, queued)
        raise
    runtime.log.info("batch_enqueued", batch_id=batch_id, jobs=len(jobs), owner=owner)
    return batch_id


async def _withdraw(runtime: Runtime, jobs: list[Job]) -> None:
    """Cancel and forget the jobs of a batch that could not be queued whole; a job
    a worker has already started is left to finish."""
    for job in jobs:
        try:
            current = await runtime.jobs.get(job.id)
            if current is None or current.state is not JobState.QUEUED:
                continue
            if (await runtime.cancel(current)).state is JobState.CANCELLED:
                await runtime.jobs.delete(job.id)
        except Exception as exc:
            runtime.log.error("batch_withdraw_failed", job_id=job.id, error=type(exc).__name__)


def _accepted(batch_id: str, jobs: Sequence[Job], *, replayed: bool) -> Response:
    data = BatchData(
        batch_id=batch_id,
        job_ids=[job.id for job in jobs],
        status_url=f"{BATCHES_PATH}/{batch_id}",
        idempotent_replay=replayed,
    )
    return envelope(data, 202)


@blueprint.post("/batch")
@tag(["jobs"])
@operation_id("enqueue_batch")
@json_body(BatchRequest)
@document_idempotency_key
@link(
    202,
    "GetBatch",
    "get_batch",
    {"batch_id": "$response.body#/data/batch_id"},
    description="The batch's jobs, counted by state",
)
@document_response(Envelope[BatchData], 202)
@errors(
    400,
    404,
    409,
    503,
    notes={
        **ENQUEUE_NOTES,
        400: "A call is invalid (ERR_INVALID_REQUEST; `details` and `fields` name it, e.g. "
        "calls.3.params.x); nothing was queued",
        404: "A call's user_id is not this caller's (ERR_TOKEN_NOT_FOUND); nothing was queued",
    },
)
async def enqueue_batch(data: BatchRequest) -> Response:
    """Queue 1-100 calls (each with the fields of ``/rest``) at once; 202 with the
    ``batch_id``, the ``job_ids`` in order and the batch's ``status_url``."""
    runtime = get_runtime()
    key = idempotency_key()
    owner = current_owner()
    jobs = await _validated(runtime, data.calls)
    for user_id in dict.fromkeys(job.user_id for job in jobs):
        await require_user(runtime, user_id)
    if key is None:
        batch_id = await _enqueue(runtime, owner, jobs, None)
        return _accepted(batch_id, jobs, replayed=False)
    made: list[str] = []

    async def make() -> None:
        made.append(await _enqueue(runtime, owner, jobs, key))

    first = await first_or_make(runtime, owner, BATCH_KEY_PREFIX + key, jobs[0].id, make)
    if first is None:
        return _accepted(made[0], jobs, replayed=False)
    earlier = [] if first.batch_id is None else await _whole(runtime, owner, first.batch_id, jobs)
    if first.batch_id is None or not _same_calls(earlier, jobs):
        raise Conflict(
            "this Idempotency-Key was used for a different request",
            details={"batch_id": first.batch_id},
        )
    return _accepted(first.batch_id, earlier, replayed=True)


async def _whole(runtime: Runtime, owner: str, batch_id: str, jobs: Sequence[Job]) -> list[Job]:
    """The first batch made with the key, waited for while another API process may
    still be queueing it: while it has fewer jobs than ``jobs``, each the same call as
    ours so far, and it grew in the last :data:`GROWTH_WAIT` seconds (at most
    ``HOLDER_WAIT`` in all)."""
    started = time.monotonic()
    count, grew = -1, started
    while True:
        earlier = await batch_jobs(runtime, owner, batch_id)
        now = time.monotonic()
        if len(earlier) != count:
            count, grew = len(earlier), now
        if (
            len(earlier) >= len(jobs)
            or not _same_calls(earlier, jobs[: len(earlier)])
            or now - grew >= GROWTH_WAIT
            or now - started >= HOLDER_WAIT
        ):
            return earlier
        await asyncio.sleep(0.02)


def batch_status(batch_id: str, jobs: Sequence[Job]) -> dict[str, Any]:
    counts = {state.value: 0 for state in JobState}
    for job in jobs:
        counts[job.state.value] += 1
    return {
        "batch_id": batch_id,
        "total": len(jobs),
        "counts": counts,
        "done": all(job.state.finished for job in jobs),
        "jobs": [job.status_view() for job in jobs],
    }


@blueprint.get("/batches/<batch_id>")
@tag(["jobs"])
@operation_id("get_batch")
@document_querystring(BatchQuery)
@document_response(Envelope[BatchStatus], 200)
@errors(
    404,
    notes={404: "No such batch for this caller (ERR_BATCH_NOT_FOUND): unknown or another's"},
)
async def get_batch(batch_id: str) -> Response:
    """A batch's jobs in order, counted by state; ``done`` once all have finished.
    ``wait=<s>`` answers as soon as the batch is done."""
    query = parse_model(BatchQuery, request.args.to_dict())
    runtime = get_runtime()
    owner = current_owner()
    jobs = await batch_jobs(runtime, owner, batch_id)
    if not jobs:
        raise batch_not_found()
    deadline = time.monotonic() + query.wait
    while not all(job.state.finished for job in jobs):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        await asyncio.sleep(min(POLL_INTERVAL, left))
        jobs = await batch_jobs(runtime, owner, batch_id) or jobs
    return envelope(batch_status(batch_id, jobs))
