"""Archive writes that survive MongoDB being away, off the jobs' path.

The ``job_event`` hook is awaited before a job's message is acknowledged, so while
MongoDB answers, a finished job is archived before it is acked (one write,
:meth:`JobArchive.record`). When that write fails or takes longer than
:data:`INLINE_TIMEOUT`, the job is handed to a background task instead, which
retries it with exponential backoff and jitter (stamina) until MongoDB is back,
for up to :data:`RETRY_FOR` seconds per job; the job itself completes at once. While
writes are waiting, new ones queue behind them (in order, so an older record of a job
never overwrites a newer one) without trying inline first, so an outage costs a job
at most one :data:`INLINE_TIMEOUT`.

The trade-off: a job finished during an outage is acked before it is archived. Its
record is in the job store meanwhile (what the API reads), but if this process dies
before MongoDB returns, its archive document is never written. Holding every job
until MongoDB answers would stop all work for the length of the outage instead.
At most :data:`MAX_PENDING` jobs wait (the oldest are kept; a newer one beyond that
is not archived); :meth:`ArchiveWriter.close` gives waiting writes
:data:`CLOSE_GRACE` seconds, and logs how many were still unwritten. The waiting
writes are an :class:`~flickrhub_core.archive_queue.ArchiveQueue` (one job at a time).
"""

from __future__ import annotations

import asyncio

import stamina
from pymongo.errors import ConnectionFailure

from flickrhub_core.archive_queue import ArchiveQueue
from flickrhub_core.jobs import Job
from flickrhub_core.logs import get_logger
from flickrhub_mongo._archive import JobArchive

#: Seconds a write may take inline (on the job's path) before it goes to the background.
INLINE_TIMEOUT = 2.0
#: Seconds a waiting write is retried before it is given up.
RETRY_FOR = 600.0
#: First and longest pause between two tries of a waiting write.
RETRY_WAIT = (0.5, 15.0)
#: Jobs whose archive write may wait at once.
MAX_PENDING = 10_000
#: Seconds :meth:`ArchiveWriter.close` lets waiting writes finish.
CLOSE_GRACE = 5.0

#: MongoDB is away or slow: worth trying again later.
TRANSIENT = (ConnectionFailure, TimeoutError)


class ArchiveWriter:
    """Feeds :class:`JobArchive` from ``job_event``, retrying in the background."""

    def __init__(
        self,
        archive: JobArchive,
        *,
        inline_timeout: float = INLINE_TIMEOUT,
        retry_for: float = RETRY_FOR,
        retry_wait: tuple[float, float] = RETRY_WAIT,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.archive = archive
        self.inline_timeout = inline_timeout
        self.retry_for = retry_for
        self.retry_wait = retry_wait
        self.max_pending = max_pending
        self._log = get_logger(component="archive")
        #: Jobs waiting to be written, oldest first; the newest record of each.
        self._queue: ArchiveQueue[Job] = ArchiveQueue(
            self._write_late, max_pending=max_pending, max_batch=1
        )

    @property
    def pending(self) -> int:
        return self._queue.pending

    async def record(self, job: Job) -> bool:
        """Archive ``job`` (if the policy keeps it); True if it is written now."""
        if not job.state.finished or not self.archive.policy.keeps(job):
            return False
        if not self._queue.pending:
            try:
                async with asyncio.timeout(self.inline_timeout):
                    return await self.archive.record(job)
            except TRANSIENT as exc:
                self._log.warning("job_archive_deferred", job_id=job.id, error=type(exc).__name__)
        self._defer(job)
        return False

    def _defer(self, job: Job) -> None:
        # A snapshot: the runner goes on changing its object only if the job runs again.
        if not self._queue.put_nowait(job.id, job.model_copy(deep=True)):
            self._log.error("job_archive_dropped", job_id=job.id, reason="too many waiting")

    async def _write_late(self, jobs: list[Job]) -> None:
        for job in jobs:
            try:
                await self._write_with_retries(job)
            except Exception as exc:
                self._log.error("job_archive_failed", job_id=job.id, error=type(exc).__name__)
            else:
                self._log.info("job_archived_late", job_id=job.id)

    async def _write_with_retries(self, job: Job) -> None:
        first, longest = self.retry_wait
        async for attempt in stamina.retry_context(
            on=TRANSIENT,
            attempts=None,
            timeout=self.retry_for,
            wait_initial=first,
            wait_max=longest,
        ):
            with attempt:
                await self.archive.record(job)

    async def close(self, grace: float = CLOSE_GRACE) -> None:
        """Give waiting writes ``grace`` seconds, then stop; say what was left."""
        await self._queue.close(grace)
