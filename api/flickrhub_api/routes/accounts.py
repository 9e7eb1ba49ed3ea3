"""Connected Flickr accounts of the calling API client: list, read, revoke.

An account is visible to the client that connected it only; any other
``user_id`` is the same 404 as an unknown one. Revoking deletes the stored
token first (so no new job can be queued for it), then cancels the user's
queued jobs; a job already running is left to finish or fail. Nothing here
ever shows a token or a secret (:meth:`StoredToken.public_view`).
"""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response, operation_id, tag

from flickrhub_api.context import current_owner, get_runtime
from flickrhub_api.envelope import envelope, request_id
from flickrhub_api.models import AccountView, Envelope, RevokeData
from flickrhub_api.openapi import document_account_links, errors
from flickrhub_api.submission import require_account
from flickrhub_core.jobs import JobState
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import JobQuery, StoredToken

blueprint = Blueprint("accounts", __name__, url_prefix="/api/v1/accounts")

#: Queued jobs read per page while cancelling a revoked user's jobs.
CANCEL_PAGE = 100
#: The 404 of every route that names an account.
ACCOUNT_NOT_FOUND = {
    404: "No such account for this caller (ERR_TOKEN_NOT_FOUND): unknown, revoked, or "
    "another API client's"
}


def _view(token: StoredToken) -> AccountView:
    return AccountView.model_validate(token.public_view())


@blueprint.get("")
@tag(["accounts"])
@operation_id("list_accounts")
@document_response(Envelope[list[AccountView]], 200)
async def list_accounts() -> Response:
    """The caller's connected Flickr accounts, oldest connection first."""
    tokens = await get_runtime().tokens.list(current_owner())
    return envelope([_view(token).model_dump(mode="json") for token in tokens])


@blueprint.get("/<user_id>")
@tag(["accounts"])
@operation_id("get_account")
@document_account_links(200, read=False)
@document_response(Envelope[AccountView], 200)
@errors(404, notes=ACCOUNT_NOT_FOUND)
async def get_account(user_id: str) -> Response:
    """One connected account of the caller."""
    token = await require_account(get_runtime(), user_id)
    return envelope(_view(token))


async def _revoke(user_id: str) -> Response:
    runtime = get_runtime()
    token = await require_account(runtime, user_id)
    await runtime.tokens.delete(token.user_id)
    await runtime.cache.invalidate_user(token.user_id)
    cancelled = await _cancel_queued(runtime, token)
    runtime.log.info(
        "account_revoked",
        request_id=request_id(),
        user_id=token.user_id,
        user_nsid=token.user_nsid,
        cancelled_jobs=cancelled,
    )
    return envelope(RevokeData(user_id=token.user_id, cancelled_jobs=cancelled))


async def _cancel_queued(runtime: Runtime, token: StoredToken) -> int:
    """Cancel every queued job of ``token``'s user, a page at a time; how many."""
    query = JobQuery(
        owner=token.owner, user_id=token.user_id, state=JobState.QUEUED, limit=CANCEL_PAGE
    )
    seen: set[str] = set()
    cancelled = 0
    while True:
        page = await runtime.jobs.list(query)
        fresh = [job for job in page if job.id not in seen]
        if not fresh:
            return cancelled
        for listed in fresh:
            seen.add(listed.id)
            # Read again: a worker may have started it since the page was read.
            job = await runtime.jobs.get(listed.id)
            if job is None or job.state is not JobState.QUEUED:
                continue
            job = await runtime.cancel(job)
            if job.state is JobState.CANCELLED:
                cancelled += 1
                if job.blob_id:
                    await runtime.blobs.delete(job.blob_id)


@blueprint.delete("/<user_id>")
@tag(["accounts"])
@operation_id("revoke_account")
@document_response(Envelope[RevokeData], 200)
@errors(404, notes=ACCOUNT_NOT_FOUND)
async def revoke_account(user_id: str) -> Response:
    """Revoke an account: its token is deleted and its queued jobs cancelled."""
    return await _revoke(user_id)


@blueprint.post("/<user_id>/revoke")
@tag(["accounts"])
@operation_id("revoke_account_post")
@document_response(Envelope[RevokeData], 200)
@errors(404, notes=ACCOUNT_NOT_FOUND)
async def revoke_account_post(user_id: str) -> Response:
    """The same as ``DELETE /accounts/<user_id>``, for clients that cannot send DELETE."""
    return await _revoke(user_id)
