"""Per-client limits: a request rate (429) and a cap on pending jobs (503).

The rate limit is GCRA over ``FLICKRHUB_CLIENT_RATE_LIMIT_PER_MINUTE``: a client
may send that many requests at once, then one every ``60 / limit`` seconds; one
over the limit is a 429 with ``Retry-After``. It is kept in this process, so with
several API processes each enforces it on its own share of the traffic: a shared
limit belongs to the Redis plugin. (The runtime's ``RateLimiter`` paces Flickr
calls by *waiting*; an API request must be answered at once, hence this one.)
Probes, metrics, docs and the other paths served without a key are not limited.

The pending-jobs cap (``FLICKRHUB_MAX_PENDING_JOBS``) counts a client's queued,
running and retrying jobs in the job store, so it holds across processes and
restarts. Every enqueue route checks it through
:func:`flickrhub_api.submission.submit`, which hands it to
:meth:`~flickrhub_core.runtime.Runtime.enqueue`: a job store with the
:class:`~flickrhub_core.stores.CappedCreate` capability (``redis``, memory) checks it
in the save that creates the job, atomically, so two racing enqueues cannot both
take the last place; with another store it is counted first. Uploads check it also
before the photo is read (:func:`ensure_capacity`), so a full queue stores no bytes;
batches and DLQ replays count first too (a batch needs room for all its jobs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from quart import Quart, current_app, request

from flickrhub_api.clients import is_exempt
from flickrhub_api.context import authenticated_owner
from flickrhub_core.errors import QueueFull, TooManyRequests
from flickrhub_core.runtime import Runtime

__all__ = [
    "QUEUE_FULL_RETRY_AFTER",
    "ClientRateLimiter",
    "ensure_capacity",
    "install_rate_limit",
    "retry_after_seconds",
]

LIMITER_KEY = "flickrhub.client_rate_limiter"
#: Seconds a client is asked to wait when its pending jobs are at the cap.
QUEUE_FULL_RETRY_AFTER = QueueFull.RETRY_AFTER


def retry_after_seconds(wait: float) -> int:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return max(1, math.ceil(wait))


class ClientRateLimiter:
    """GCRA per client name: ``per_minute`` at once, then evenly spaced.

    One float per client; clients are the configured names (or ``default``), so
    the table does not grow with traffic.
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.per_minute = per_minute
        self.interval = 60.0 / per_minute
        self.tolerance = 60.0 - self.interval
        self._clock = clock
        self._tat: dict[str, float] = {}

    def check(self, client: str) -> float:
        """Count one request: 0.0 if allowed, else the seconds until one will be."""
        now = self._clock()
        tat = max(self._tat.get(client, now), now)
        allowed_at = tat - self.tolerance
        if now < allowed_at:
            return allowed_at - now
        self._tat[client] = tat + self.interval
        return 0.0


async def _limit_rate() -> None:
    limiter: ClientRateLimiter | None = current_app.extensions.get(LIMITER_KEY)
    owner = authenticated_owner()
    if limiter is None or owner is None or is_exempt(request.path):
        return
    wait = limiter.check(owner)
    if wait > 0:
        raise TooManyRequests(
            f"more than {limiter.per_minute} requests per minute; try again later",
            retry_after=retry_after_seconds(wait),
            details={"limit_per_minute": limiter.per_minute},
        )


def install_rate_limit(app: Quart, per_minute: int) -> None:
    """Limit each client to ``per_minute`` requests (0: no limit). Install after
    authentication: the limit is per authenticated client."""
    if per_minute > 0:
        app.extensions[LIMITER_KEY] = ClientRateLimiter(per_minute)
        app.before_request(_limit_rate)


async def ensure_capacity(runtime: Runtime, owner: str, incoming: int = 1) -> None:
    """Refuse with 503 (``ERR_QUEUE_FULL``, ``Retry-After``) if ``incoming`` more jobs
    would take ``owner`` past ``FLICKRHUB_MAX_PENDING_JOBS`` (0: no cap)."""
    cap = runtime.settings.max_pending_jobs
    if cap <= 0:
        return
    pending = await runtime.jobs.count_pending(owner)
    if pending + incoming > cap:
        raise QueueFull(pending, cap)
