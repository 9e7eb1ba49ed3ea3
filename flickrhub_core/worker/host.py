"""The worker host: one consumer per enabled target's queue, acks after outcomes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable

from flickrhub_core.broker import Consumer, Delivery
from flickrhub_core.errors import ConfigError
from flickrhub_core.jobs import queue_name
from flickrhub_core.runtime import Runtime
from flickrhub_core.webhooks import WebhookDispatcher
from flickrhub_core.worker.runner import JobRunner, Outcome

#: Seconds to wait before giving back a message whose handling failed unexpectedly.
REQUEUE_PAUSE = 1.0


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
            job = await self.rt.jobs.get(job_id)
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
