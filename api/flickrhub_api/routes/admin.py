"""Dead letters of the caller: list, show, replay and purge them.

The jobs that exhausted their retries, as the job store has them (the broker's
``flickr_dlq`` is kept in step): see :mod:`flickrhub_core.dlq` for what replay and
purge do exactly. Like every route, these see only the caller's own jobs: another
API client's job id is the same 404 as a missing one.
"""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_response, operation_id, tag

from flickrhub_api.context import current_owner, get_runtime
from flickrhub_api.envelope import envelope, request_id
from flickrhub_api.limits import ensure_capacity
from flickrhub_api.models import Envelope
from flickrhub_api.models_admin import (
    BulkPurgeData,
    BulkReplayData,
    DeadLetterList,
    DeadLetterQuery,
    DeadLetterSelection,
    DeadLetterView,
    NotDone,
    PurgeData,
    ReplayData,
    Replayed,
)
from flickrhub_api.openapi import errors
from flickrhub_api.routes.jobs import decode_cursor, encode_cursor
from flickrhub_api.submission import JOBS_PATH
from flickrhub_api.validation import json_body, parse_model
from flickrhub_core import dlq

blueprint = Blueprint("admin", __name__, url_prefix="/api/v1/admin")

#: The 404 of every route that names a dead letter.
DEAD_LETTER_NOT_FOUND = {
    404: "No dead-lettered job with this id for this caller (ERR_DEAD_LETTER_NOT_FOUND): "
    "unknown, another API client's, or a job that did not die"
}
REPLAY_NOTES = {
    **DEAD_LETTER_NOT_FOUND,
    409: "It cannot be replayed: replayed already (ERR_ALREADY_REPLAYED, "
    "`details.replayed_by`), purged (ERR_PURGED), its user's account is disconnected "
    "(ERR_TOKEN_NOT_FOUND), its target disabled (ERR_TARGET_DISABLED) or its photo gone "
    "(ERR_BLOB_MISSING)",
    503: "This client's pending jobs are at FLICKRHUB_MAX_PENDING_JOBS (ERR_QUEUE_FULL, "
    "with Retry-After), or the queue cannot be reached (ERR_UNAVAILABLE); nothing changed",
}


@blueprint.get("/dlq")
@tag(["admin"])
@operation_id("list_dead_letters")
@document_querystring(DeadLetterQuery)
@document_response(Envelope[DeadLetterList], 200)
async def list_dead_letters() -> Response:
    """The caller's dead letters (jobs that exhausted their retries, neither replayed
    nor purged), newest first, each with its ``reason``; ``limit`` per page (1-200,
    default 50) and ``next_cursor`` for the next."""
    query = parse_model(DeadLetterQuery, request.args.to_dict())
    before, before_id = decode_cursor(query.cursor) if query.cursor else (None, None)
    jobs, more = await dlq.list_dead(
        get_runtime(), current_owner(), limit=query.limit, before=before, before_id=before_id
    )
    next_cursor = encode_cursor(jobs[-1]) if more and jobs else None
    return envelope({"jobs": [dlq.dead_view(job) for job in jobs], "next_cursor": next_cursor})


@blueprint.get("/dlq/<job_id>")
@tag(["admin"])
@operation_id("get_dead_letter")
@document_response(Envelope[DeadLetterView], 200)
@errors(404, notes=DEAD_LETTER_NOT_FOUND)
async def get_dead_letter(job_id: str) -> Response:
    """One dead-lettered job of the caller, also once replayed (``replayed_by``) or
    purged (``purged_at``)."""
    job = await dlq.get_dead(get_runtime(), current_owner(), job_id)
    return envelope(dlq.dead_view(job))


@blueprint.post("/dlq/<job_id>/replay")
@tag(["admin"])
@operation_id("replay_dead_letter")
@document_response(Envelope[ReplayData], 202)
@errors(404, 409, 503, notes=REPLAY_NOTES)
async def replay_dead_letter(job_id: str) -> Response:
    """Queue a copy of a dead job with a fresh attempt count; 202 with the new
    ``job_id``. The copy's ``replay_of`` and the dead job's ``replayed_by`` link them;
    a second replay of the same job is a 409."""
    runtime = get_runtime()
    owner = current_owner()
    await dlq.get_dead(runtime, owner, job_id)  # a 404 before a 503 for a full queue
    await ensure_capacity(runtime, owner)
    fresh = await dlq.replay(runtime, owner, job_id, trace_id=request_id())
    data = ReplayData(
        job_id=fresh.id,
        replay_of=job_id,
        state=fresh.state.value,
        queue=fresh.queue,
        status_url=f"{JOBS_PATH}/{fresh.id}",
    )
    return envelope(data, 202)


@blueprint.post("/dlq/replay")
@tag(["admin"])
@operation_id("replay_dead_letters")
@json_body(DeadLetterSelection)
@document_response(Envelope[BulkReplayData], 202)
async def replay_dead_letters(data: DeadLetterSelection) -> Response:
    """Replay several dead letters: ``{"job_ids": [...]}`` (at most 500) or
    ``{"all": true}`` (the oldest 500; ``more`` says whether to call again). Each
    one that cannot be replayed is listed in ``errors`` with its reason, the others
    go on; when the caller's pending jobs reach their cap, the rest are listed too."""
    runtime = get_runtime()
    owner = current_owner()
    outcome = await dlq.replay_many(
        runtime,
        owner,
        None if data.all else data.job_ids,
        trace_id=request_id(),
        admit=lambda: ensure_capacity(runtime, owner),
    )
    reply = BulkReplayData(
        replayed=[Replayed(job_id=dead, new_job_id=new or "") for dead, new in outcome.done],
        errors=[NotDone(**error) for error in outcome.errors],
        more=outcome.more,
        messages_removed=outcome.messages_removed,
    )
    return envelope(reply, 202)


@blueprint.delete("/dlq/<job_id>")
@tag(["admin"])
@operation_id("purge_dead_letter")
@document_response(Envelope[PurgeData], 200)
@errors(
    404,
    409,
    notes={
        **DEAD_LETTER_NOT_FOUND,
        409: "It was replayed (ERR_ALREADY_REPLAYED, `details.replayed_by`): it is no "
        "longer in the dead-letter queue",
    },
)
async def purge_dead_letter(job_id: str) -> Response:
    """Take a dead job out of the dead-letter queue for good: it stays a ``failed``
    job, its kept photo is deleted and it can no longer be replayed. Purging twice is
    harmless."""
    job, removed = await dlq.purge(get_runtime(), current_owner(), job_id)
    data = PurgeData(
        job_id=job.id, purged_at=dlq.dead_view(job)["purged_at"], messages_removed=removed
    )
    return envelope(data)


@blueprint.post("/dlq/purge")
@tag(["admin"])
@operation_id("purge_dead_letters")
@json_body(DeadLetterSelection)
@document_response(Envelope[BulkPurgeData], 200)
async def purge_dead_letters(data: DeadLetterSelection) -> Response:
    """Purge several dead letters: ``{"job_ids": [...]}`` (at most 500) or
    ``{"all": true}`` (500 at a time; ``more`` says whether to call again)."""
    outcome = await dlq.purge_many(
        get_runtime(), current_owner(), None if data.all else data.job_ids
    )
    reply = BulkPurgeData(
        purged=[job_id for job_id, _ in outcome.done],
        errors=[NotDone(**error) for error in outcome.errors],
        more=outcome.more,
        messages_removed=outcome.messages_removed,
    )
    return envelope(reply)
