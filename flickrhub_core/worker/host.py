"""The worker host: one consumer per enabled target's queue, acks after outcomes.

With a job store that keeps leases (:class:`~flickrhub_core.stores.JobLeases`: the
``redis`` store), a job runs only under this host's lease, renewed while it runs. A
message RabbitMQ redelivers elsewhere because a connection dropped (a broker restart,
a network blip) while this host still runs the job waits for the lease and then
finds the job finished, instead of running it a second time beside the first. A
lease is given up when its job is left unfinished (a retry scheduled, a failure, a
drain), and expires ``FLICKRHUB_JOB_LEASE_SECONDS`` after a host that died renewed it.
One task per host renews all the leases it holds, every third of that time.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterable

import orjson

from flickrhub_core.broker import Consumer, Delivery
from flickrhub_core.errors import ConfigError
from flickrhub_core.jobs import Job, queue_name
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import CombinedLeases, JobLeases, StartingLeases
from flickrhub_core.webhooks import WebhookDispatcher
from flickrhub_core.worker.runner import JobRunner, Outcome, Start

#: Seconds to wait before giving back a message whose handling failed unexpectedly.
REQUEUE_PAUSE = 1.0
#: First and longest pause (seconds) between two tries of a job while the store is away.
STORE_RETRY_WAIT = (0.5, 10.0)
#: Seconds between two looks at a job whose lease another host holds.
LEASE_WAIT = 1.0


class WorkerHost:
    """Consumes ``flickr_<target>`` for each selected target (all enabled by default)."""

    def __init__(
        self,
        runtime: Runtime,
        targets: Iterable[str] | None = None,
        *,
        concurrency: int | None = None,
    ) -> None:
        self.rt = runtime
        names = list(targets) if targets is not None else sorted(runtime.targets)
        unknown = [n for n in names if n not in runtime.targets]
        if unknown:
            enabled = ", ".join(sorted(runtime.targets)) or "none"
            raise ConfigError(f"unknown target {unknown[0]!r} (enabled targets: {enabled})")
        self.target_names = names
        self.concurrency = concurrency or runtime.settings.worker_concurrency
        self.runner = JobRunner(runtime)
        #: Names this host in job leases.
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        jobs = runtime.jobs
        self._leases: JobLeases | None = jobs if isinstance(jobs, JobLeases) else None
        self._combined: CombinedLeases | None = jobs if isinstance(jobs, CombinedLeases) else None
        self._starting: StartingLeases | None = jobs if isinstance(jobs, StartingLeases) else None
        #: The jobs whose lease this host holds: one task renews them all (:meth:`_renew`).
        self._held: set[str] = set()
        self._renewer: asyncio.Task[None] | None = None
        self._consumers: list[Consumer] = []
        self._in_flight: set[asyncio.Task[object]] = set()
        #: Set by :meth:`stop`: jobs waiting for a store give their messages back.
        self._draining = asyncio.Event()
        self.processed = 0
        #: Sends finished jobs' webhooks off the jobs' path (a ``job_event`` listener).
        self.webhooks: WebhookDispatcher | None = None

    async def start(self) -> None:
        self.webhooks = await WebhookDispatcher.attach(self.rt)
        for name in self.target_names:
            consumer = await self.rt.broker.consume(
                queue_name(name), self.handle, prefetch=self.concurrency
            )
            self._consumers.append(consumer)
        self.rt.log.info("worker_started", targets=self.target_names, concurrency=self.concurrency)

    async def stop(self, grace: float | None = None) -> None:
        """Drain: stop taking messages, let running jobs finish for ``grace`` seconds
        (default ``FLICKRHUB_DRAIN_SECONDS``), then interrupt the rest (their messages
        go back to the queue). Webhooks still being sent get what is left of
        ``grace``, then are given up."""
        started = time.monotonic()
        self._draining.set()
        for consumer in self._consumers:
            await consumer.cancel()
        self._consumers.clear()
        grace = self.rt.settings.drain_seconds if grace is None else grace
        self.rt.log.info("worker_draining", in_flight=len(self._in_flight), grace_seconds=grace)
        if self._in_flight:
            _, pending = await asyncio.wait(set(self._in_flight), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                self.rt.log.warning("worker_drain_timeout", interrupted=len(pending))
                await asyncio.wait(pending)
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        if self.webhooks is not None:
            await self.webhooks.detach(max(0.0, grace - (time.monotonic() - started)))
            self.webhooks = None
        self.rt.log.info("worker_stopped", processed=self.processed)

    async def handle(self, delivery: Delivery) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self._handle(delivery)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _handle(self, delivery: Delivery) -> None:
        try:
            # orjson: the message carries the job's record as an escaped string, which
            # the standard library's decoder reads some ten times slower.
            message = orjson.loads(delivery.body)
            job_id = str(message["job_id"])
        except (ValueError, KeyError, TypeError):
            self.rt.log.error("queue_message_invalid", size=len(delivery.body))
            await delivery.dead_letter("unreadable message")
            return
        # A backend away (a Redis restart): keep the message and try the job again here,
        # for up to FLICKRHUB_STORE_WAIT_SECONDS. Each requeue would count towards a
        # quorum queue's delivery limit, which dead-letters a healthy job. A drain ends
        # the wait at once, and the message goes back.
        unavailable = self.rt.unavailable_errors
        deadline = time.monotonic() + self.rt.settings.store_wait_seconds
        try:
            start: Start | None = None
            for try_number in itertools.count(1):
                try:
                    if try_number == 1:
                        start = await self._prepare(job_id, message.get("record"))
                    async with self._lease(job_id, start) as (job, started):
                        if job is None:
                            # Its record expired or was never stored: nothing can be run
                            # or reported.
                            self.rt.log.warning("job_record_missing", job_id=job_id)
                            await delivery.ack()
                            return
                        ran = job
                        outcome = await self.runner.run(ran, start if started else None)
                    break
                except unavailable as exc:
                    start = None  # the next try reads the job as it is now
                    self.rt.log.warning(
                        "job_store_unavailable",
                        job_id=job_id,
                        try_number=try_number,
                        error=type(exc).__name__,
                    )
                    pause = min(deadline - time.monotonic(), _store_retry_pause(try_number))
                    if pause <= 0 or await self._drain_within(pause):
                        raise
        except Exception:
            # A store away for too long, a drain, or a failure of another kind: the
            # job's stored state still says what is left to do, so give the message
            # back, after a pause (no hot loop) unless the worker is stopping.
            self.rt.log.exception("job_handling_failed", job_id=job_id)
            if not self._draining.is_set():
                await asyncio.sleep(REQUEUE_PAUSE)
            await delivery.requeue()
            return
        self.processed += 1
        if outcome is Outcome.DEAD or (outcome is Outcome.SKIPPED and ran.in_dlq):
            # Also a dead job's message come back because its copy for flickr_dlq failed
            # (the broker was away): copy it again. At least once: a copy that got out
            # before the connection dropped makes two, and a replay or purge takes both.
            await delivery.dead_letter(str((ran.error or {}).get("message", "exhausted")))
        else:
            await delivery.ack()

    async def _drain_within(self, seconds: float) -> bool:
        """Sleep ``seconds``, or less if a drain starts: whether it did."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._draining.wait()
        return self._draining.is_set()

    async def _prepare(self, job_id: str, published: object) -> Start | None:
        """The job of the message's ``record``, ready to be started with its lease
        (:meth:`JobRunner.prepare`), when the store can do that; else None."""
        if self._starting is None or not isinstance(published, str) or job_id in self._held:
            return None
        start = await self.runner.prepare(published)
        return start if start is not None and start.job.id == job_id else None

    @contextlib.asynccontextmanager
    async def _lease(
        self, job_id: str, start: Start | None
    ) -> AsyncIterator[tuple[Job | None, bool]]:
        """The job as stored, read once this host holds its lease (see the module
        docstring), and whether the store started its attempt: with ``start`` and a
        job still stored as published, ``start.job`` is saved with the lease, in the
        same round trip. A finished or missing job is yielded without a lease. The
        lease is renewed while the block runs and given up after it unless the job
        finished (a finished job needs none; its lease just expires)."""
        leases = self._leases
        if leases is None:
            yield await self.rt.jobs.get(job_id), False
            return
        ttl = self.rt.settings.job_lease_seconds
        waited = False
        started = False
        while True:
            if start is not None and self._starting is not None and job_id not in self._held:
                taken, started, job = await self._starting.take_lease_and_start(
                    job_id, self.holder, ttl, start.published, start.job
                )
                job = start.job if started else job
                start = None  # once: a job it did not start is read as it is now
            else:
                taken, job = await self._take(leases, job_id, ttl)
            if taken:
                break
            if job is None or job.state.finished:
                yield job, False
                return
            if not waited:
                waited = True
                self.rt.log.info("job_lease_busy", job_id=job_id, wait_seconds=LEASE_WAIT)
            await asyncio.sleep(LEASE_WAIT)
        self._held.add(job_id)
        if self._renewer is None or self._renewer.done():
            # A context of its own: it outlives this job, whose ids its lines must not carry.
            self._renewer = asyncio.create_task(
                self._renew(leases, ttl), name="job-leases", context=contextvars.Context()
            )
        finished = False
        try:
            yield job, started
            finished = job is None or job.state.finished
        finally:
            self._held.discard(job_id)
            if not finished:
                # Left unfinished (a retry scheduled, a failure, a drain): free it at once.
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(LEASE_WAIT):
                        await leases.drop_lease(job_id, self.holder)

    async def _take(self, leases: JobLeases, job_id: str, ttl: float) -> tuple[bool, Job | None]:
        """Take the job's lease and read the job: one round trip with
        :class:`~flickrhub_core.stores.CombinedLeases`. A copy of a job this host runs
        already (its message redelivered here) waits, as a copy on another host does."""
        if job_id in self._held:
            return False, await self.rt.jobs.get(job_id)
        if self._combined is not None:
            return await self._combined.take_lease_and_get(job_id, self.holder, ttl)
        taken = await leases.take_lease(job_id, self.holder, ttl)
        return taken, await self.rt.jobs.get(job_id)

    async def _renew(self, leases: JobLeases, ttl: float) -> None:
        """Renew every lease this host holds, every ``ttl / 3`` seconds, while it holds
        any: one task for all its jobs, and one round trip with
        :class:`~flickrhub_core.stores.CombinedLeases`. A lease another host took (it
        lapsed) is no longer renewed."""
        while self._held:
            await asyncio.sleep(ttl / 3)
            held = sorted(self._held)
            if not held:
                break
            try:
                if self._combined is not None:
                    lost = await self._combined.renew_leases(held, self.holder, ttl)
                else:
                    kept = [await leases.take_lease(job_id, self.holder, ttl) for job_id in held]
                    lost = [job_id for job_id, ok in zip(held, kept, strict=True) if not ok]
            except Exception as exc:  # the store is away: try again; the leases may lapse
                for job_id in held:
                    self.rt.log.warning(
                        "job_lease_not_renewed", job_id=job_id, error=type(exc).__name__
                    )
                continue
            for job_id in lost:
                if job_id in self._held:  # else it finished meanwhile
                    self._held.discard(job_id)
                    self.rt.log.warning("job_lease_lost", job_id=job_id)


def _store_retry_pause(try_number: int) -> float:
    """Exponential backoff with jitter between tries while a store is away."""
    first, longest = STORE_RETRY_WAIT
    return min(longest, first * 2.0 ** (try_number - 1)) + random.uniform(0, first)
