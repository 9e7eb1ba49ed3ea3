"""The in-process broker of the embedded mode: asyncio queues with acks.

It behaves like the real transport where it matters: a message stays owned by
its consumer until acked, a cancelled or failed handler puts it back marked
redelivered, and dead letters go to ``flickr_dlq``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field

from flickrhub_core.broker.base import Broker, Consumer, Handler, message_job_id
from flickrhub_core.jobs import DLQ


@dataclass
class _Message:
    body: bytes
    redelivered: bool = False
    reason: str = ""


@dataclass
class _Queue:
    messages: deque[_Message] = field(default_factory=deque)
    ready: asyncio.Condition = field(default_factory=asyncio.Condition)


class MemoryDelivery:
    def __init__(self, broker: MemoryBroker, queue: str, message: _Message) -> None:
        self._broker = broker
        self._queue = queue
        self._message = message
        self.body = message.body
        self.redelivered = message.redelivered
        self.settled = False

    async def ack(self) -> None:
        self.settled = True

    async def dead_letter(self, reason: str) -> None:
        self.settled = True
        await self._broker._put(DLQ, _Message(self.body, reason=reason))

    async def requeue(self) -> None:
        self.settled = True
        await self._broker._put(self._queue, _Message(self.body, redelivered=True), front=True)


class MemoryConsumer:
    def __init__(self, task: asyncio.Task[None]) -> None:
        self._task = task

    async def cancel(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class MemoryBroker(Broker):
    shared = False

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}

    def _queue(self, name: str) -> _Queue:
        if name not in self._queues:
            self._queues[name] = _Queue()
        return self._queues[name]

    async def _put(self, name: str, message: _Message, *, front: bool = False) -> None:
        queue = self._queue(name)
        async with queue.ready:
            if front:
                queue.messages.appendleft(message)
            else:
                queue.messages.append(message)
            queue.ready.notify()

    async def publish(self, queue: str, body: bytes) -> None:
        await self._put(queue, _Message(body))

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> Consumer:
        slots = asyncio.Semaphore(prefetch)
        in_flight: set[asyncio.Task[None]] = set()
        q = self._queue(queue)

        async def run(delivery: MemoryDelivery) -> None:
            # A handler that returns or fails without settling gives the message back,
            # as a broker does when a consumer's channel closes mid-message.
            try:
                await handler(delivery)
            except Exception:  # noqa: S110 - the handler logs its own failures
                pass
            finally:
                slots.release()
                if not delivery.settled:
                    await delivery.requeue()

        async def loop() -> None:
            while True:
                await slots.acquire()
                async with q.ready:
                    await q.ready.wait_for(lambda: bool(q.messages))
                    message = q.messages.popleft()
                task = asyncio.create_task(run(MemoryDelivery(self, queue, message)))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)

        return MemoryConsumer(asyncio.create_task(loop(), name=f"consume:{queue}"))

    async def depth(self, queue: str) -> int:
        return len(self._queue(queue).messages)

    async def peek_dead(self, limit: int = 100) -> list[tuple[bytes, str]]:
        return [(m.body, m.reason) for m in list(self._queue(DLQ).messages)[:limit]]

    async def take_dead(self, job_ids: Collection[str]) -> int:
        wanted = set(job_ids)
        queue = self._queue(DLQ)
        kept = [m for m in queue.messages if message_job_id(m.body) not in wanted]
        removed = len(queue.messages) - len(kept)
        queue.messages.clear()
        queue.messages.extend(kept)
        return removed
