"""The worker host: one consumer per enabled target's queue, acks after outcomes.

With a job store that keeps leases (:class:`~flickrhub_core.stores.JobLeases`: the
``redis`` store), a job runs only under this host's lease, renewed while it runs. A
message RabbitMQ redelivers elsewhere because a connection dropped (a broker restart,
a network blip) while this host still runs the job waits for the lease and then
finds the job finished, instead of running it a second time beside the first. A
lease is given up when its job is left unfinished (a retry scheduled, a failure, a
drain), and expires ``FLICKRHUB_JOB_LEASE_SECONDS`` after a host that died renewed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterable

from flickrhub_core.broker import Consumer, Delivery
from flickrhub_core.errors import ConfigError
from flickrhub_core.jobs import Job, queue_name
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import JobLeases
from flickrhub_core.webhooks import WebhookDispatcher
from flickrhub_core.worker.runner import JobRunner, Outcome

#: Seconds to wait before giving back a message whose handling failed unexpectedly.
REQUEUE_PAUSE = 1.0
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
        self._consumers: list[Consumer] = []
        self._in_flight: set[asyncio.Task[object]] = set()
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
            message = json.loads(delivery.body)
            job_id = str(message["job_id"])
        except (ValueError, KeyError, TypeError):
            self.rt.log.error("queue_message_invalid", size=len(delivery.body))
            await delivery.dead_letter("unreadable message")
            return
        try:
            async with self._lease(job_id) as job:
                if job is None:
                    # Its record expired or was never stored: nothing can be run or reported.
                    self.rt.log.warning("job_record_missing", job_id=job_id)
                    await delivery.ack()
                    return
                outcome = await self.runner.run(job)
        except Exception:
            # A store or broker is failing: the job's stored state still says what is
            # left to do, so give the message back, after a pause (no hot loop).
            self.rt.log.exception("job_handling_failed", job_id=job_id)
            await asyncio.sleep(REQUEUE_PAUSE)
            await delivery.requeue()
            return
        self.processed += 1
        if outcome is Outcome.DEAD:
            await delivery.dead_letter(str((job.error or {}).get("message", "exhausted")))
        else:
            await delivery.ack()

    @contextlib.asynccontextmanager
    async def _lease(self, job_id: str) -> AsyncIterator[Job | None]:
        """The job as stored, read once this host holds its lease (see the module
        docstring); a finished or missing job is yielded without one. The lease is
        renewed while the block runs and given up after it unless the job finished
        (a finished job needs none; its lease just expires)."""
        leases = self._leases
        if leases is None:
            yield await self.rt.jobs.get(job_id)
            return
        ttl = self.rt.settings.job_lease_seconds
        waited = False
        while not await leases.take_lease(job_id, self.holder, ttl):
            job = await self.rt.jobs.get(job_id)
            if job is None or job.state.finished:
                yield job
                return
            if not waited:
                waited = True
                self.rt.log.info("job_lease_busy", job_id=job_id, wait_seconds=LEASE_WAIT)
            await asyncio.sleep(LEASE_WAIT)
        renewer = asyncio.create_task(self._renew(leases, job_id, ttl), name=f"lease:{job_id}")
        finished = False
        try:
            job = await self.rt.jobs.get(job_id)
            yield job
            finished = job is None or job.state.finished
        finally:
            renewer.cancel()
            if not finished:
                # Left unfinished (a retry scheduled, a failure, a drain): free it at once.
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(LEASE_WAIT):
                        await leases.drop_lease(job_id, self.holder)

    async def _renew(self, leases: JobLeases, job_id: str, ttl: float) -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                if not await leases.take_lease(job_id, self.holder, ttl):
                    self.rt.log.warning("job_lease_lost", job_id=job_id)
                    return
            except Exception as exc:  # the store is away: try again; the lease may lapse
                self.rt.log.warning(
                    "job_lease_not_renewed", job_id=job_id, error=type(exc).__name__
                )
