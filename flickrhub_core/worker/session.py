"""A user's view of Flickr inside a job: the token is bound, every call is paced."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeGuard, TypeVar

from flickrhub_core import metrics
from flickrhub_core.errors import FlickrHttpError, JobCancelled, JobError
from flickrhub_core.flickr import Credentials, FlickrClient, PhotoSource
from flickrhub_core.stores import RateLimiter

T = TypeVar("T")
#: How long everyone waits after Flickr answers 429 without a Retry-After.
DEFAULT_429_BACKOFF = 60.0


class UserFlickr:
    """What targets use to reach Flickr. Raw credentials stay out of target code."""

    def __init__(
        self,
        client: FlickrClient,
        credentials: Credentials,
        limiter: RateLimiter,
        *,
        cancel: asyncio.Event | None = None,
    ) -> None:
        self._client = client
        self._credentials = credentials
        self._limiter = limiter
        #: Set when the job is cancelled: a call not sent yet is then not sent at all.
        self._cancel = cancel
        # Flickr's limit is per API key: every user of a key shares one budget.
        self._limit_key = credentials.consumer_key
        # Whether a request has started going to Flickr (after the rate limiter).
        self._sent = False
        #: True while the first request waits for its rate-limit slot: a worker that
        #: stops then interrupts an attempt that has sent nothing to Flickr.
        self.awaiting_first_slot = False

    async def call(self, method: str, params: Mapping[str, str]) -> dict[str, Any]:
        return await self._paced(lambda: self._client.call(self._credentials, method, params))

    async def upload(self, photo: PhotoSource, fields: Mapping[str, str]) -> dict[str, Any]:
        return await self._paced(lambda: self._client.upload(self._credentials, photo, fields))

    async def replace(
        self, photo: PhotoSource, photo_id: str, fields: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        return await self._paced(
            lambda: self._client.replace(self._credentials, photo, photo_id, fields)
        )

    async def check_tickets(self, tickets: Sequence[str]) -> dict[str, Any]:
        return await self._paced(lambda: self._client.check_tickets(self._credentials, tickets))

    async def _paced(self, send: Callable[[], Awaitable[T]]) -> T:
        self.awaiting_first_slot = not self._sent
        try:
            waited = await self._limiter.acquire(self._limit_key)
        except Exception as exc:
            # The limiter's store (Redis) is away. Nothing was sent: any target may try
            # again, an upload included.
            raise JobError(
                f"the rate limiter is not available ({type(exc).__name__}); nothing was sent",
                code="ERR_UNAVAILABLE",
                retryable=True,
            ) from None
        self.awaiting_first_slot = False
        if waited:
            metrics.RATE_LIMIT_WAIT.inc(waited)
            metrics.RATE_LIMIT_WAITS.inc()
        if self._cancel is not None and self._cancel.is_set():
            raise JobCancelled("cancelled by request before the call was sent")
        self._sent = True
        try:
            return await send()
        except FlickrHttpError as exc:
            if is_rate_limited(exc):
                metrics.RATE_LIMIT_BACKOFFS.inc()
                # Best effort: the 429 is what the job must hear, not the store's hiccup.
                with contextlib.suppress(Exception):
                    await self._limiter.back_off(self._limit_key, rate_limit_pause(exc))
            raise


def is_rate_limited(exc: BaseException) -> TypeGuard[FlickrHttpError]:
    """Flickr answered 429: it did not run the request (an upload too may be sent
    again) and asks every caller of the key to wait."""
    return isinstance(exc, FlickrHttpError) and exc.status == 429


def rate_limit_pause(exc: FlickrHttpError) -> float:
    """Seconds to wait after a 429: Flickr's ``Retry-After``, or
    :data:`DEFAULT_429_BACKOFF` when it did not say."""
    return DEFAULT_429_BACKOFF if exc.retry_after is None else exc.retry_after
