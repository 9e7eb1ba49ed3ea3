"""Photo jobs: upload bytes streamed from the blob store to Flickr (never held
whole in memory, progress reported as they go) and async tickets followed to
their photo id.

Cancelling (``ctx.cancelled``): a photo not sent yet is not sent; one being sent is
sent to its end (the worker never tears an upload); once Flickr has it, a ticket
is no longer followed and the job completes with Flickr's answer to the upload
(its ``ticketid``, without ``photoid``), since the photo exists either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from flickrhub_core.errors import JobCancelled, JobError
from flickrhub_core.stores import BlobStore
from flickrhub_core.targets import TargetContext

Progress = Callable[[dict[str, Any]], Awaitable[None]]
#: How long an async upload's ticket is followed before the job gives up waiting.
TICKET_TIMEOUT = 600.0


class BlobPhoto:
    """A :class:`~flickrhub_core.flickr.PhotoSource` reading a stored upload."""

    def __init__(
        self,
        blobs: BlobStore,
        blob_id: str,
        *,
        filename: str,
        size: int,
        content_type: str | None,
        progress: Progress | None = None,
    ) -> None:
        self._blobs = blobs
        self._blob_id = blob_id
        self._progress = progress
        self.filename = filename
        self.size: int | None = size
        self.content_type = content_type

    async def chunks(self) -> AsyncIterator[bytes]:
        sent = 0
        async for chunk in self._blobs.open(self._blob_id):
            sent += len(chunk)
            if self._progress is not None:
                await self._progress({"bytes_sent": sent, "bytes_total": self.size})
            yield chunk


async def photo_of(ctx: TargetContext) -> BlobPhoto:
    """The job's stored photo; a job whose bytes are gone cannot be run."""
    ctx.raise_if_cancelled()
    blob_id = ctx.job.blob_id
    info = await ctx.blobs.stat(blob_id) if blob_id else None
    if blob_id is None or info is None:
        raise JobError("the uploaded photo is no longer stored", code="ERR_BLOB_MISSING")
    return BlobPhoto(
        ctx.blobs,
        blob_id,
        filename=info.filename,
        size=info.size,
        content_type=info.content_type,
        progress=ctx.report_progress,
    )


async def follow_ticket(ctx: TargetContext, response: dict[str, Any]) -> dict[str, Any]:
    """After an ``async=1`` upload or replace, poll checkTickets until the photo is
    ready, then return Flickr's answer with the ticket and the ``photoid`` added."""
    ticket_id = str((response.get("ticketid") or {}).get("_content", ""))
    if not ticket_id:
        return response
    delay = 0.5
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TICKET_TIMEOUT
    while True:
        # The photo is already uploaded: no error from here may lead to sending it again.
        if ctx.cancelled:
            return _not_followed(ctx, response, ticket_id)
        try:
            answer = await ctx.flickr.check_tickets([ticket_id])
        except JobCancelled:
            return _not_followed(ctx, response, ticket_id)
        except JobError as exc:
            if not exc.retryable:
                raise JobError(
                    f"uploaded as ticket {ticket_id}, but checking it failed: {exc.message}",
                    code="ERR_TICKET",
                ) from None
            answer = {}
        tickets = (answer.get("uploader") or {}).get("ticket") or []
        ticket = tickets[0] if tickets else {}
        complete = str(ticket.get("complete", ""))
        if str(ticket.get("invalid", "0")) == "1":
            raise JobError(f"Flickr does not know upload ticket {ticket_id}", code="ERR_TICKET")
        if complete == "1":
            return {**response, "ticket": ticket, "photoid": {"_content": str(ticket["photoid"])}}
        if complete == "2":
            raise JobError("Flickr could not process the uploaded photo", code="ERR_TICKET")
        await ctx.report_progress({"ticket": ticket_id, "state": "processing"})
        if loop.time() + delay > deadline:
            raise JobError(
                f"upload ticket {ticket_id} was still processing after {TICKET_TIMEOUT:.0f} s",
                code="ERR_TICKET_TIMEOUT",
            )
        # Wakes at once if the job is cancelled meanwhile.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.cancel_event.wait(), delay)
        delay = min(delay * 2, 10.0)


def _not_followed(ctx: TargetContext, response: dict[str, Any], ticket_id: str) -> dict[str, Any]:
    ctx.log.info("ticket_not_followed", ticket_id=ticket_id, reason="cancelled")
    return response
