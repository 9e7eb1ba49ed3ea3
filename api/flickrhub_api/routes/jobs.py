"""Enqueue Flickr calls and follow their jobs.

``POST /rest`` answers 202 at once with the ``job_id``; the outcome is read with
``/jobs/status`` (the earlier system's call) or ``GET /jobs/<id>``, whose
``wait`` holds the request until the job finishes, so a client needs no polling
loop of its own; ``GET /jobs`` lists them. A job is visible only to its owner,
and to the user it was made for when a ``user_id`` is given: anything else is the
same 404 as a missing job.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from datetime import datetime
from typing import Any

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_response, operation_id, tag

from flickrhub_api.context import current_owner, get_runtime
from flickrhub_api.envelope import envelope
from flickrhub_api.models import (
    CancelRequest,
    EnqueueData,
    Envelope,
    JobList,
    JobListQuery,
    JobQuery,
    JobStatusRequest,
    JobView,
    RestRequest,
)
from flickrhub_api.models_admin import CancellingData
from flickrhub_api.openapi import errors
from flickrhub_api.submission import (
    ENQUEUE_NOTES,
    JOBS_PATH,
    accepted,
    document_idempotency_key,
    document_job_links,
    idempotency_key,
    new_job,
    require_user,
    submit,
)
from flickrhub_api.validation import json_body, parse_model
from flickrhub_core.cancel import request_cancel
from flickrhub_core.errors import Conflict, InvalidRequest, NotFound
from flickrhub_core.jobs import Job, JobState
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import JobQuery as StoreQuery
from flickrhub_core.targets import Target
from flickrhub_core.webhooks import check_callback_url

blueprint = Blueprint("jobs", __name__, url_prefix="/api/v1/flickr")

#: Seconds between reads of the job store while long-polling.
POLL_INTERVAL = 0.1


def job_not_found() -> NotFound:
    return NotFound("job_not_found", code="ERR_JOB_NOT_FOUND")


def _target_for(runtime: Runtime, name: str) -> Target:
    target = runtime.targets.get(name)
    if target is None:
        enabled = sorted(n for n, t in runtime.targets.items() if not t.takes_photo)
        raise InvalidRequest(
            "Invalid request",
            details=[
                {
                    "field": "target",
                    # The earlier system's wording ("target must be rest|upload|replace"),
                    # with the targets this server takes.
                    "message": f"target must be {'|'.join(enabled) or 'none'}",
                    "enabled": enabled,
                }
            ],
        )
    if target.takes_photo:
        raise InvalidRequest(
            "Invalid request",
            details=[
                {
                    "field": "target",
                    "message": f"the {name} target takes a photo: send it as multipart/form-data "
                    "to /api/v1/flickr/upload or /api/v1/flickr/replace",
                }
            ],
        )
    return target


@blueprint.post("/rest")
@tag(["jobs"])
@operation_id("enqueue_rest")
@json_body(RestRequest)
@document_idempotency_key
@document_job_links
@document_response(Envelope[EnqueueData], 202)
@errors(400, 404, 409, 503, notes=ENQUEUE_NOTES)
async def enqueue_rest(data: RestRequest) -> Response:
    """Queue one Flickr call for a connected user; answers 202 with the ``job_id``.

    An ``Idempotency-Key`` header returns the first job made with it instead of a
    second one (409 if the request differs).
    """
    runtime = get_runtime()
    key = idempotency_key()
    target = _target_for(runtime, data.target)
    params = target.validate(data.method, data.params or {})
    if data.callback_url is not None:
        await check_callback_url(
            data.callback_url, allow_private=runtime.settings.webhook_allow_private
        )
    await require_user(runtime, data.user_id)
    job = new_job(
        runtime,
        user_id=data.user_id,
        target=target.name,
        method=data.method,
        params=params,
        callback_url=data.callback_url,
        callback_secret=data.callback_secret,
        meta=data.meta,
        cache=data.cache,
        key=key,
    )
    job, replayed = await submit(runtime, job)
    return accepted(job, replayed=replayed)


async def visible_job(runtime: Runtime, job_id: str, user_id: str | None) -> Job:
    """The caller's job (archived ones included), or 404 whether it is missing or
    someone else's."""
    job = await runtime.find_job(job_id)
    if job is None or job.owner != current_owner():
        raise job_not_found()
    if user_id is not None and job.user_id != user_id:
        raise job_not_found()
    return job


#: The 404 of every route that names a job.
JOB_NOT_FOUND = {
    404: "No such job for this caller (ERR_JOB_NOT_FOUND): unknown, another API client's, "
    "or not the given user_id's"
}


@blueprint.post("/jobs/status")
@tag(["jobs"])
@operation_id("job_status")
@json_body(JobStatusRequest)
@document_response(Envelope[JobView], 200)
@errors(404, notes=JOB_NOT_FOUND)
async def job_status(data: JobStatusRequest) -> Response:
    """The earlier system's status call: the job of ``job_id`` for ``user_id``."""
    job = await visible_job(get_runtime(), data.job_id, data.user_id)
    return envelope(job.status_view())


def encode_cursor(job: Job) -> str:
    """The position after ``job`` in the listing's order, opaque to clients."""
    raw = json.dumps([job.created_at.isoformat(), job.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, job_id = json.loads(raw)
        at = datetime.fromisoformat(created)
        if at.tzinfo is None or not isinstance(job_id, str):
            raise ValueError
    except (binascii.Error, ValueError, TypeError):
        raise InvalidRequest(
            "Invalid request",
            details=[{"field": "cursor", "message": "not a cursor from a previous page"}],
        ) from None
    return at, job_id


@blueprint.get("/jobs")
@tag(["jobs"])
@operation_id("list_jobs")
@document_querystring(JobListQuery)
@document_response(Envelope[JobList], 200)
async def list_jobs() -> Response:
    """The caller's jobs, newest first, filtered by ``user_id``, ``state``, ``target``,
    ``method``, ``batch_id`` and creation time (``since`` inclusive, ``until``
    exclusive); ``limit`` per page (1-200, default 50) and ``next_cursor`` for the next."""
    query = parse_model(JobListQuery, request.args.to_dict())
    if query.since is not None and query.until is not None and query.since >= query.until:
        raise InvalidRequest(
            "Invalid request", details=[{"field": "until", "message": "must be after since"}]
        )
    before, before_id = decode_cursor(query.cursor) if query.cursor else (None, None)
    jobs = await get_runtime().jobs.list(
        StoreQuery(
            owner=current_owner(),
            user_id=query.user_id,
            state=query.state,
            target=query.target,
            method=query.method,
            batch_id=query.batch_id,
            since=query.since,
            until=query.until,
            before=before,
            before_id=before_id,
            limit=query.limit + 1,  # one more tells whether there is a next page
        )
    )
    page = jobs[: query.limit]
    next_cursor = encode_cursor(page[-1]) if len(jobs) > query.limit else None
    return envelope({"jobs": [job.status_view() for job in page], "next_cursor": next_cursor})


@blueprint.get("/jobs/<job_id>")
@tag(["jobs"])
@operation_id("get_job")
@document_querystring(JobQuery)
@document_response(Envelope[JobView], 200)
@errors(404, notes=JOB_NOT_FOUND)
async def get_job(job_id: str) -> Response:
    """A job's state and result; ``wait=<s>`` answers as soon as it finishes."""
    query = parse_model(JobQuery, request.args.to_dict())
    runtime = get_runtime()
    job = await visible_job(runtime, job_id, query.user_id)
    deadline = time.monotonic() + query.wait
    while not job.state.finished:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        await asyncio.sleep(min(POLL_INTERVAL, left))
        job = await visible_job(runtime, job_id, query.user_id)
    return envelope(job.status_view())


async def _cancel_user_id(data: CancelRequest) -> str | None:
    if data.user_id is not None:
        return data.user_id
    query = parse_model(CancelRequest, request.args.to_dict())
    return query.user_id


@blueprint.post("/jobs/<job_id>/cancel")
@tag(["jobs"])
@operation_id("cancel_job")
@json_body(CancelRequest)
@document_response(Envelope[JobView], 200)
@document_response(Envelope[CancellingData], 202)
@errors(
    404,
    409,
    notes={
        **JOB_NOT_FOUND,
        202: "The job is running or retrying: it is asked to stop, and ends cancelled "
        "once its worker sees the request (or completed, if it got there first)",
        409: "The job has finished (ERR_CONFLICT; `details.state`)",
    },
)
async def cancel_job(job_id: str, data: CancelRequest) -> Response:
    """Cancel a job. A queued one is cancelled at once (200; its photo, if any, is
    dropped); a running or retrying one is asked to stop (202, ``cancelling``) and
    ends ``cancelled``, never retried. A finished job is a 409 naming its state;
    cancelling twice is harmless."""
    runtime = get_runtime()
    job = await visible_job(runtime, job_id, await _cancel_user_id(data))
    if job.state is JobState.QUEUED:
        job = await runtime.cancel(job)
        if job.state is JobState.CANCELLED and job.blob_id:
            await runtime.blobs.delete(job.blob_id)
    if job.state in (JobState.RUNNING, JobState.RETRYING):
        await request_cancel(runtime.jobs, job)
        cancelling = CancellingData(job_id=job.id, status_url=f"{JOBS_PATH}/{job.id}")
        return envelope(cancelling, 202)
    if job.state is not JobState.CANCELLED:
        details: dict[str, Any] = {"state": job.state.value}
        raise Conflict(
            f"job is {job.state.value}: a finished job cannot be cancelled", details=details
        )
    return envelope(job.status_view())
