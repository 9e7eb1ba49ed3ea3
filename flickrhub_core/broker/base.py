"""The transport contract. A message is a JSON body naming a job, with its record as
published (``Runtime.encode_message``); the job's state lives in the job store, so a
message can be redelivered safely."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection
from typing import Protocol


class Delivery(Protocol):
    """One received message. Exactly one of ``ack``/``dead_letter``/``requeue`` is called."""

    body: bytes
    redelivered: bool

    async def ack(self) -> None: ...

    async def dead_letter(self, reason: str) -> None:
        """Move the message to ``flickr_dlq`` (exhausted or unreadable)."""

    async def requeue(self) -> None:
        """Give the message back for another consumer (shutdown mid-job)."""


Handler = Callable[[Delivery], Awaitable[None]]


def message_job_id(body: bytes) -> str | None:
    """The job a message names (``{"job_id", "target", "record"}``), or None if it is
    unreadable."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    job_id = message.get("job_id") if isinstance(message, dict) else None
    return job_id if isinstance(job_id, str) else None


class Consumer(Protocol):
    async def cancel(self) -> None:
        """Stop taking new messages; in-flight handlers are left to finish."""


class Broker(ABC):
    """Durable queues per target plus the dead-letter queue."""

    #: Whether API and workers in separate processes can share it.
    shared: bool = False
    #: Whether :meth:`publish_delayed` works (the message waits in the broker).
    supports_delay: bool = False

    async def connect(self) -> None:  # noqa: B027 - optional
        """Open connections; called once at start."""

    async def close(self) -> None:  # noqa: B027 - optional
        """Close connections; unacked messages go back to their queue."""

    @abstractmethod
    async def publish(self, queue: str, body: bytes) -> None:
        """Send a persistent message; returns only once the broker has it."""

    async def publish_delayed(self, queue: str, body: bytes, delay: float) -> None:
        """Like :meth:`publish`, but the message reaches ``queue`` only after ``delay``
        seconds (possibly a little later, never earlier); it waits in the broker, not
        in a worker. Brokers that can do it set :attr:`supports_delay`."""
        raise NotImplementedError(f"{type(self).__name__} cannot delay messages")

    @abstractmethod
    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> Consumer:
        """Run ``handler`` for each message, at most ``prefetch`` at once."""

    @abstractmethod
    async def depth(self, queue: str) -> int:
        """Messages waiting (not in flight)."""

    @abstractmethod
    async def peek_dead(self, limit: int = 100) -> list[tuple[bytes, str]]:
        """Bodies and reasons in the dead-letter queue, oldest first, left in place."""

    async def take_dead(self, job_ids: Collection[str]) -> int:
        """Remove the dead letters naming one of ``job_ids`` (replayed or purged jobs)
        and return how many went; the others stay, in their order.

        Best effort: the job store, not this queue, says what is dead. A broker that
        cannot select messages keeps them all (this default), which is harmless:
        nothing consumes ``flickr_dlq``.
        """
        return 0
