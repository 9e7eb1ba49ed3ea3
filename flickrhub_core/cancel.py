"""Cancelling a job that has started: a request the API records, the worker honours.

A queued job is cancelled at once (:meth:`Runtime.cancel`). A running or retrying one
cannot be: its worker owns the record. ``POST /jobs/<id>/cancel`` then records a
*cancel request* (:func:`request_cancel`), answers 202 ``cancelling``, and the worker
ends the job ``cancelled`` (never retried, no webhook, its message acked):

* before each attempt: on every delivery (the job store's ``get`` carries the request)
  and before a retry within one delivery, so a job waiting between retries, in the
  worker or in the broker's delay queue, is cancelled when it comes back;
* during an attempt: a job that has run for :data:`WATCH_AFTER` seconds has its
  request polled every :data:`WATCH_INTERVAL` seconds (:class:`CancelWatch`; short
  jobs cost nothing). The target sees ``ctx.cancelled`` at once; an idempotent
  target's task is also cancelled (``asyncio`` cancellation), so a slow call stops.
  A non-idempotent one (upload, replace) is never torn mid-request, which could leave
  a photo in an unknown state: its attempt runs to its end, and the job is
  ``completed`` if it succeeded (the request came too late), else ``cancelled``.
  Long targets check ``ctx.cancelled`` between steps (an async upload's ticket
  polling stops and returns what Flickr answered to the upload).

The request is kept beside the record by stores with the
:class:`~flickrhub_core.stores.CancelRequests` capability (the in-memory and Redis
stores), so neither the worker's writes nor the API's can overwrite the other's. A
store without it gets a best-effort fallback: the flag is written into the record,
where a worker's next save of the running job may overwrite it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from flickrhub_core.errors import JobCancelled
from flickrhub_core.jobs import Job
from flickrhub_core.stores import CancelRequests, JobStore

T = TypeVar("T")

#: An attempt is watched for cancel requests once it has run this long (seconds).
WATCH_AFTER = 1.0
#: Seconds between two reads of a watched job's cancel request.
WATCH_INTERVAL = 0.5


async def request_cancel(store: JobStore, job: Job) -> None:
    """Record that ``job``'s owner wants it cancelled (idempotent)."""
    if isinstance(store, CancelRequests):
        await store.request_cancel(job.id)
        return
    current = await store.get(job.id)
    if current is not None and not current.state.finished and not current.cancel_requested:
        current.cancel_requested = True
        await store.save(current)


async def cancel_requested(store: JobStore, job_id: str) -> bool:
    """Whether a cancel request was recorded for the job."""
    if isinstance(store, CancelRequests):
        return await store.cancel_requested(job_id)
    job = await store.get(job_id)
    return job is not None and job.cancel_requested


class CancelWatch:
    """Runs one job's attempts, watching for a cancel request while they take long.

    :meth:`run` returns what the work returned or raises what it raised; when a
    request stopped the work it raises :class:`JobCancelled`. A cancellation of the
    caller itself (worker shutdown) is passed on, never turned into a cancelled job.

    The work runs in the caller's task (no task per job: the worker's hot path stays
    as it was); a request cancels that task and the cancellation is taken back
    (``Task.uncancel``) when it reaches :meth:`run`, as ``asyncio.timeout`` does.
    Nothing is polled before ``after`` seconds.
    """

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        *,
        hard: bool,
        after: float | None = None,
        interval: float | None = None,
    ) -> None:
        self._store = store
        self._job_id = job_id
        #: Whether a request cancels the work (idempotent targets) or only sets
        #: :attr:`event` (non-idempotent ones finish their attempt).
        self.hard = hard
        self._after = WATCH_AFTER if after is None else after
        self._interval = WATCH_INTERVAL if interval is None else interval
        #: Set once a cancel request is seen; targets read it as ``ctx.cancelled``.
        self.event = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stopped_it = False

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def notice(self) -> None:
        """A request was seen: tell the target, and stop a work that may be stopped.

        Only called from the watcher's task, so the work's task is suspended inside
        the work (the watcher exists only while it runs)."""
        self.event.set()
        if self.hard and self._task is not None and not self._stopped_it:
            self._stopped_it = True
            self._task.cancel()

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always run in a task
            raise RuntimeError("CancelWatch.run needs a task")
        self._task = task
        timer = asyncio.get_running_loop().call_later(self._after, self._start_watching)
        try:
            result = await work()
        except asyncio.CancelledError:
            if self._stopped_it and task.uncancel() == 0:
                raise JobCancelled("cancelled by request while running") from None
            raise  # the worker itself is stopping (or both): pass it on
        else:
            if self._stopped_it:  # the work swallowed our cancellation: take it back
                task.uncancel()
            return result
        finally:
            self._task = None
            timer.cancel()
            if self._watcher is not None:
                self._watcher.cancel()  # before it can run again: it never notices now
                self._watcher = None

    def _start_watching(self) -> None:
        if self._task is not None:
            self._watcher = asyncio.create_task(self._watch(), name=f"cancel-watch:{self._job_id}")

    async def _watch(self) -> None:
        while not self.requested:
            try:
                if await cancel_requested(self._store, self._job_id):
                    self.notice()
                    return
            except Exception:  # noqa: S110 - a store hiccup must not fail the job; try again
                pass
            await asyncio.sleep(self._interval)
