"""Finished jobs on their way to an archive, written by one background task.

An archive is a ``job_event`` listener, which the core awaits before it acknowledges
the job's message. A plugin whose archive write should not sit on that path (a SQLite
transaction per job, a MongoDB that is away) puts the record in an
:class:`ArchiveQueue` and returns: one task, started when there is something to
write, in a context of its own (not the ids of the job that happened to start it),
hands the waiting records to the plugin's ``write`` in batches, oldest first.

Records are kept by job id: a newer record of a job that is still waiting replaces
it in its place, so an older record never overwrites a newer one. The queue is
bounded (``max_pending``): :meth:`ArchiveQueue.put_nowait` says when it is full and
the caller decides (the ``mongo`` plugin drops the record); :meth:`ArchiveQueue.put`
waits for room instead, so jobs slow down to the archive's pace rather than lose
records, counts it in :attr:`ArchiveQueue.waits` and logs ``job_archive_queue_full``
once per spell (until the queue is empty again). A batch whose ``write`` raises is
logged (``job_archive_failed``) and not tried again: a ``write`` that should retry
does so itself. :meth:`ArchiveQueue.close`, from the plugin's ``shutdown``, gives the
waiting records a grace period and logs how many were left (``job_archive_unwritten``).

The trade-off: a job is acknowledged before its record is written, so a process that
dies (rather than stops) loses the records still waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from flickrhub_core.logs import get_logger

__all__ = ["ArchiveQueue"]

T = TypeVar("T")


class ArchiveQueue(Generic[T]):
    """Records waiting for ``write``, which one background task calls in batches of
    at most ``max_batch``."""

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        max_pending: int,
        max_batch: int,
        name: str = "archive-writer",
    ) -> None:
        self.max_pending = max_pending
        self.max_batch = max_batch
        #: How many :meth:`put` calls had to wait for room.
        self.waits = 0
        self._write = write
        self._name = name
        self._log = get_logger(component="archive")
        #: Records not handed to ``write`` yet, by job id, oldest first.
        self._waiting: dict[str, T] = {}
        #: The size of the batch ``write`` has now.
        self._writing = 0
        self._task: asyncio.Task[None] | None = None
        self._room = asyncio.Condition()
        self._full_logged = False

    @property
    def pending(self) -> int:
        """Records not written yet, the batch being written included."""
        return len(self._waiting) + self._writing

    def put_nowait(self, job_id: str, record: T) -> bool:
        """Queue ``record``; False (and nothing queued) when the queue is full."""
        if job_id not in self._waiting and self.pending >= self.max_pending:
            return False
        self._waiting[job_id] = record
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(
                self._drain(), name=self._name, context=contextvars.Context()
            )
        return True

    async def put(self, job_id: str, record: T) -> None:
        """Queue ``record``, waiting for room while the queue is full."""
        if self.put_nowait(job_id, record):
            return
        self.waits += 1
        if not self._full_logged:
            self._full_logged = True
            self._log.warning("job_archive_queue_full", pending=self.pending, waits=self.waits)
        async with self._room:
            # Woken after each batch written; done once the record is queued.
            await self._room.wait_for(lambda: self.put_nowait(job_id, record))

    async def flush(self) -> None:
        """Wait until every record queued so far is written (or its batch failed)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self, grace: float) -> None:
        """Give the waiting records ``grace`` seconds, then stop; log what was left."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), grace)
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.pending:
            self._log.error("job_archive_unwritten", jobs=self.pending)
        self._waiting.clear()
        self._writing = 0

    async def _drain(self) -> None:
        while self._waiting:
            ids = list(itertools.islice(self._waiting, self.max_batch))
            batch = [self._waiting.pop(job_id) for job_id in ids]
            self._writing = len(batch)
            try:
                await self._write(batch)
            except Exception as exc:
                self._log.error("job_archive_failed", jobs=len(batch), error=type(exc).__name__)
            # Not in ``finally``: a batch cancelled by ``close`` counts as unwritten.
            self._writing = 0
            async with self._room:
                self._room.notify_all()
        self._full_logged = False
