"""The production transport: RabbitMQ through aio-pika.

* One robust connection (``connect_robust``): after a broker restart or a dropped
  socket it reconnects by itself, reopens the publisher channel and re-declares the
  consumers' queues and consumers.
* Queues ``flickr_<target>`` are durable, quorum when the server supports it (or as
  ``FLICKRHUB_QUEUE_TYPE`` says), and dead-letter into the direct exchange
  ``flickr_dlx`` → ``flickr_dlq``. They are declared on first use and remembered.
* Publishing waits for the publisher confirm of a persistent, mandatory message; a
  nack, a return (unroutable) or no answer within ``publish_timeout`` seconds
  (``FLICKRHUB_PUBLISH_TIMEOUT``) raises :class:`ServiceUnavailable`. While the
  connection is down (a broker restart), a publish waits at most
  :data:`RECONNECT_WAIT` for it to come back, then raises: an API client hears 503
  at once instead of waiting past its own timeout (and retrying a request that
  might still go through).
* Each consumer has its own channel with ``prefetch_count`` = the worker's
  concurrency; each message runs in its own task (ours, not aio-pika's, so a lost
  channel does not cancel a running job). A message redelivered after a reconnect
  while this process still runs its first copy waits for that copy to finish.

Dead letters with a reason. RabbitMQ cannot add a header to a message it dead-letters
on ``reject``, so :meth:`RabbitDelivery.dead_letter` publishes a copy to ``flickr_dlq``
(headers ``x-flickrhub-reason`` and ``x-flickrhub-queue``) with a publisher confirm and
only then acks the original. If the copy fails, the original goes back to its queue;
the worker host, finding its job finished and dead-lettered, copies it again then. If
the connection drops between the copy and the ack, the original comes back too and is
copied a second time: a dead letter is copied at least once, and taking a job's dead
letters out (below) takes all its copies. Messages RabbitMQ dead-letters itself
(a quorum queue's delivery limit, an operator's policy) arrive through ``flickr_dlx``
with RabbitMQ's ``x-death`` header, which :meth:`peek_dead` reads as their reason.
``flickr_dlq`` is always a classic queue: peeking gets and requeues, which would count
towards a quorum queue's delivery limit (20 by default since RabbitMQ 4.0) and drop
dead letters.

Taking dead letters out. AMQP cannot delete one message by id, so
:meth:`RabbitBroker.take_dead` (called when jobs are replayed or purged) gets the
queue's messages one by one on a channel of its own, acks those naming the jobs (every
copy: a job may have several, see above) and holds the others unacked until it stops
(the queue's length at the start read, or :data:`DEAD_SCAN_LIMIT` messages), then
requeues them: RabbitMQ puts them back in their places. If anything fails midway,
closing the channel requeues what it held; only the acked messages are gone. A message
another reader holds at that moment (a concurrent peek) is missed and stays: the job
store, not this queue, says what is dead.

Delays. :meth:`RabbitBroker.publish_delayed` parks the message in a classic queue
``flickr_delay_<ms>.<queue>`` whose message TTL is the delay rounded *up* to one of
eight steps per power of two (at most 12.5 % late, never early); on expiry RabbitMQ
dead-letters it through the default exchange into the target queue. A delay queue
disappears ``DELAY_QUEUE_EXPIRES_MS`` after its last declaration, which is renewed
while it is in use.

Errors never show ``RABBIT_URL``: it may carry a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Collection
from typing import Any
from urllib.parse import unquote, urlsplit

import aio_pika
import stamina
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aio_pika.exceptions import (
    AMQPError,
    ChannelInvalidStateError,
    ChannelNotFoundEntity,
    ChannelPreconditionFailed,
    DeliveryError,
    ProbableAuthenticationError,
    PublishError,
)

from flickrhub_core import logs
from flickrhub_core.broker.base import Broker, Consumer, Handler, message_job_id
from flickrhub_core.errors import ConfigError, ServiceUnavailable
from flickrhub_core.jobs import DLQ

DLX = "flickr_dlx"
DELAY_PREFIX = "flickr_delay_"
REASON_HEADER = "x-flickrhub-reason"
QUEUE_HEADER = "x-flickrhub-queue"
#: Seconds one broker operation (a declaration, a cancel, a get) may take.
PUBLISH_TIMEOUT = 10.0
#: Seconds a publish may take in all, by default (``FLICKRHUB_PUBLISH_TIMEOUT``): under
#: the common HTTP client timeouts, so an enqueue is refused before its client gives up.
DEFAULT_PUBLISH_TIMEOUT = 5.0
#: Seconds a publish waits for a lost connection to come back before it gives up.
RECONNECT_WAIT = 1.0
#: Seconds a consumer's start may keep retrying a declaration the broker failed.
CONSUME_RETRY_SECONDS = 30.0
#: Seconds to wait for the TCP + AMQP handshake at start.
CONNECT_TIMEOUT = 10.0
#: An unused delay queue vanishes this long after its TTL (its last declaration).
DELAY_QUEUE_EXPIRES_MS = 15 * 60_000
#: A delay queue in use is declared again this often, renewing its ``x-expires`` lease
#: (publishing alone does not count as use), so it never expires with messages inside.
DELAY_REDECLARE_SECONDS = 60.0
#: Quorum queues exist since RabbitMQ 3.8.
QUORUM_SINCE = (3, 8)
#: :meth:`RabbitBroker.take_dead` reads at most this many dead letters per call.
DEAD_SCAN_LIMIT = 10_000
#: Seconds :meth:`RabbitBroker.take_dead` may take in all.
DEAD_SCAN_TIMEOUT = 120.0

#: What a lost channel or connection raises.
_SETTLE_ERRORS = (AMQPError, ChannelInvalidStateError, ConnectionError, RuntimeError)


@contextlib.asynccontextmanager
async def _unavailable(what: str, limit: float = PUBLISH_TIMEOUT) -> AsyncIterator[None]:
    """Bounds a broker operation to ``limit`` seconds; a lost connection, a closed
    channel or a slow broker becomes a 503 in one line."""
    try:
        async with asyncio.timeout(limit):
            yield
    except (*_SETTLE_ERRORS, TimeoutError) as exc:
        raise ServiceUnavailable(f"RabbitMQ could not {what}: {type(exc).__name__}") from None


def delay_bucket_ms(delay: float) -> int:
    """The delay in ms rounded up to one of 8 steps per power of two (≤ 12.5 % late)."""
    ms = max(1, math.ceil(delay * 1000))
    step = 1 << max(0, ms.bit_length() - 4)
    return -(-ms // step) * step


def _server_version(properties: dict[str, Any]) -> tuple[int, int] | None:
    raw = properties.get("version")
    text = raw.decode() if isinstance(raw, bytes) else str(raw or "")
    match = re.match(r"(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2])) if match else None


def _safe(exc: BaseException, url: str) -> str:
    """The exception's text with the URL and its password blanked out, just in case."""
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    secrets = [url]
    with contextlib.suppress(ValueError):
        password = urlsplit(url).password
        if password:
            secrets += [password, unquote(password)]
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text


class RabbitDelivery:
    """One message from a consumer channel, settled exactly once."""

    def __init__(self, broker: RabbitBroker, queue: str, message: AbstractIncomingMessage) -> None:
        self._broker = broker
        self._queue = queue
        self._message = message
        self.body = message.body
        self.redelivered = bool(message.redelivered)
        self.settled = False

    async def ack(self) -> None:
        await self._settle(self._message.ack(), "ack")

    async def requeue(self) -> None:
        await self._settle(self._message.nack(requeue=True), "requeue")

    async def dead_letter(self, reason: str) -> None:
        # Copy first (confirmed), then ack: if the copy fails the message stays ours
        # and goes back to its queue; it never vanishes.
        headers = dict(self._message.headers or {})
        headers[REASON_HEADER] = reason[:1000]
        headers[QUEUE_HEADER] = self._queue
        await self._broker._publish_raw(self._broker._name(DLQ), self.body, headers)
        await self._settle(self._message.ack(), "dead_letter")

    async def _settle(self, action: Awaitable[None], what: str) -> None:
        self.settled = True
        try:
            await action
        except _SETTLE_ERRORS as exc:
            # The channel is gone: RabbitMQ has already put the message back.
            self._broker._log.warning(
                "broker_settle_failed", queue=self._queue, action=what, error=type(exc).__name__
            )


class RabbitConsumer:
    """A ``basic.consume`` on its own channel; :meth:`cancel` stops new deliveries."""

    def __init__(self, broker: RabbitBroker, channel: AbstractChannel) -> None:
        self._broker = broker
        self._channel = channel
        self._queue: AbstractQueue | None = None
        self._tag = ""
        self.tasks: set[asyncio.Task[None]] = set()
        #: The newest running task per message id.
        self.running: dict[str, asyncio.Task[None]] = {}
        self.cancelled = False
        self._closer: asyncio.Task[None] | None = None

    async def cancel(self) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        if self._queue is not None and self._tag:
            with contextlib.suppress(*_SETTLE_ERRORS, TimeoutError):
                await self._queue.cancel(self._tag, timeout=PUBLISH_TIMEOUT)
        # Running handlers still settle on this channel: close it once they are done.
        self._closer = asyncio.create_task(self._close_when_idle())

    def track(self, task: asyncio.Task[None], key: str | None) -> None:
        self.tasks.add(task)
        if key:
            self.running[key] = task

        def done(_: asyncio.Task[None]) -> None:
            self.tasks.discard(task)
            if key and self.running.get(key) is task:
                del self.running[key]

        task.add_done_callback(done)

    async def _close_when_idle(self) -> None:
        if self.tasks:
            await asyncio.wait(set(self.tasks))
        with contextlib.suppress(*_SETTLE_ERRORS, TimeoutError):
            await self._channel.close()
        with contextlib.suppress(ValueError):
            self._broker._consumers.remove(self)

    def stop_closer(self) -> None:
        if self._closer is not None:
            self._closer.cancel()


class RabbitBroker(Broker):
    """Durable queues on RabbitMQ. ``queue_prefix`` only isolates tests from each other."""

    shared = True
    supports_delay = True

    def __init__(
        self,
        url: str,
        *,
        queue_type: str = "auto",
        queue_prefix: str = "",
        publish_timeout: float = DEFAULT_PUBLISH_TIMEOUT,
    ) -> None:
        if not url.startswith(("amqp://", "amqps://")):
            raise ConfigError("RABBIT_URL must be an amqp:// or amqps:// URL")
        if queue_type not in ("auto", "quorum", "classic"):
            raise ConfigError("FLICKRHUB_QUEUE_TYPE must be auto, quorum or classic")
        if publish_timeout <= 0:
            raise ConfigError("FLICKRHUB_PUBLISH_TIMEOUT must be more than 0 seconds")
        self._url = url
        self.publish_timeout = publish_timeout
        self.queue_type = queue_type
        self.queue_prefix = queue_prefix
        #: The type queues are declared with; fixed by :meth:`connect`.
        self.effective_queue_type = "classic" if queue_type == "classic" else "quorum"
        self._log = logs.get_logger(component="rabbitmq")
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractRobustChannel | None = None
        self._declared: set[str] = set()
        self._delay_declared: dict[str, float] = {}
        self._declare_lock = asyncio.Lock()
        self._consumers: list[RabbitConsumer] = []
        #: Every queue name this broker declared (tests delete them afterwards).
        self.declared_queues: set[str] = set()

    def _name(self, queue: str) -> str:
        return f"{self.queue_prefix}{queue}"

    # --- lifecycle ---------------------------------------------------------------------

    async def connect(self) -> None:
        if self._connection is not None:
            return
        try:
            connection = await aio_pika.connect_robust(
                self._url,
                timeout=CONNECT_TIMEOUT,
                client_properties={"connection_name": f"flickrhub {self.queue_prefix}".strip()},
            )
        except ProbableAuthenticationError as exc:
            raise ConfigError(
                f"RabbitMQ (RABBIT_URL) refused the login: {_safe(exc, self._url)}"
            ) from None
        except (AMQPError, OSError, TimeoutError) as exc:
            raise ServiceUnavailable(
                f"RabbitMQ (RABBIT_URL) is not reachable: {_safe(exc, self._url)}"
            ) from None
        try:
            self._choose_queue_type(connection)
            self._publisher = await connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
        except BaseException:
            await connection.close()
            raise
        self._connection = connection
        connection.reconnect_callbacks.add(self._on_reconnect)
        try:
            await self._ensure_dead_letter()
        except BaseException:
            await self.close()
            raise

    def _choose_queue_type(self, connection: AbstractRobustConnection) -> None:
        transport = connection.transport
        properties = dict(transport.connection.server_properties) if transport else {}
        version = _server_version(properties)
        supported = version is not None and version >= QUORUM_SINCE
        shown = ".".join(map(str, version)) if version else "unknown"
        if self.queue_type == "quorum" and not supported:
            raise ConfigError(
                f"FLICKRHUB_QUEUE_TYPE=quorum needs RabbitMQ 3.8 or later (server: {shown})"
            )
        if self.queue_type == "auto" and not supported:
            self._log.warning("rabbit_quorum_unavailable", server_version=shown, using="classic")
        quorum = self.queue_type != "classic" and supported
        self.effective_queue_type = "quorum" if quorum else "classic"

    def _on_reconnect(self, *_: Any) -> None:
        # The server may have lost its definitions (a new node): declare again on use.
        self._declared.clear()
        self._delay_declared.clear()
        self._log.info("rabbit_reconnected")

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        for consumer in self._consumers:
            consumer.stop_closer()
        self._consumers.clear()
        self._publisher = None
        if connection is not None:
            with contextlib.suppress(*_SETTLE_ERRORS, TimeoutError):
                await connection.close()

    def _require(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise ServiceUnavailable("the RabbitMQ broker is not connected")
        return self._connection

    # --- declarations -----------------------------------------------------------------

    def _queue_arguments(self) -> dict[str, Any]:
        return {
            "x-queue-type": self.effective_queue_type,
            "x-dead-letter-exchange": self._name(DLX),
            "x-dead-letter-routing-key": self._name(DLQ),
        }

    async def _declare(self, name: str, arguments: dict[str, Any], *, hint: str) -> None:
        """Declare a durable queue on a short-lived channel (a refused declaration closes
        its channel). A queue that exists with other arguments is a ConfigError."""
        async with self._declare_lock, _unavailable(f"declare queue {name!r}"):
            channel = await self._require().channel(publisher_confirms=False)
            try:
                await channel.declare_queue(name, durable=True, arguments=arguments, robust=False)
            except ChannelPreconditionFailed as exc:
                detail = str(exc).split(" for queue ")[0].removeprefix("PRECONDITION_FAILED - ")
                error = ConfigError(
                    f"RabbitMQ queue {name!r} already exists with other arguments "
                    f"({detail}): {hint}"
                )
                self._log.error("rabbit_queue_mismatch", queue=name, error=str(error))
                raise error from None
            finally:
                with contextlib.suppress(*_SETTLE_ERRORS, TimeoutError):
                    await channel.close()
            self.declared_queues.add(name)

    async def _ensure_dead_letter(self) -> None:
        if DLX in self._declared:
            return
        dlq = self._name(DLQ)
        # Always classic: peek_dead's get-and-requeue would count towards a quorum
        # queue's delivery limit and could drop dead letters.
        await self._declare(
            dlq, {"x-queue-type": "classic"}, hint="flickr_dlq must be a classic queue"
        )
        async with _unavailable("declare the dead-letter exchange"):
            channel = await self._require().channel(publisher_confirms=False)
            try:
                exchange = await channel.declare_exchange(
                    self._name(DLX), aio_pika.ExchangeType.DIRECT, durable=True, robust=False
                )
                queue = await channel.declare_queue(dlq, passive=True, robust=False)
                await queue.bind(exchange, routing_key=dlq, robust=False)
            finally:
                with contextlib.suppress(*_SETTLE_ERRORS, TimeoutError):
                    await channel.close()
        self._declared.add(DLX)

    async def _ensure_queue(self, name: str) -> None:
        if name in self._declared:
            return
        await self._ensure_dead_letter()
        hint = (
            f"set FLICKRHUB_QUEUE_TYPE to its type (now {self.queue_type!r}, declaring "
            f"{self.effective_queue_type}), or delete the queue"
        )
        await self._declare(name, self._queue_arguments(), hint=hint)
        self._declared.add(name)

    async def _ensure_delay_queue(self, ms: int, target: str) -> str:
        """``flickr_delay_<ms>.<target>``: expired messages go to the target queue."""
        name = self._name(f"{DELAY_PREFIX}{ms}.{target}")
        now = time.monotonic()
        if now - self._delay_declared.get(name, -math.inf) < DELAY_REDECLARE_SECONDS:
            return name
        arguments = {
            "x-queue-type": "classic",
            "x-message-ttl": ms,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self._name(target),
            "x-expires": ms + DELAY_QUEUE_EXPIRES_MS,
        }
        await self._declare(name, arguments, hint="delete this delay queue")
        self._delay_declared[name] = now
        return name

    # --- publishing -------------------------------------------------------------------

    async def publish(self, queue: str, body: bytes) -> None:
        name = self._name(queue)
        await self._await_connection()
        await self._ensure_queue(name)
        await self._publish_raw(name, body)

    async def publish_delayed(self, queue: str, body: bytes, delay: float) -> None:
        """Deliver ``body`` to ``queue`` after ``delay`` seconds (rounded up a little);
        the message waits in RabbitMQ, not in this process."""
        if delay <= 0:
            await self.publish(queue, body)
            return
        await self._await_connection()
        await self._ensure_queue(self._name(queue))
        name = await self._ensure_delay_queue(delay_bucket_ms(delay), queue)
        await self._publish_raw(name, body)

    async def _await_connection(self) -> None:
        """While the connection is down, wait :data:`RECONNECT_WAIT` for it (a blip
        passes unnoticed), then raise: nothing has been sent, so a caller may retry."""
        connection = self._require()
        if connection.connected.is_set():
            return
        try:
            async with asyncio.timeout(min(RECONNECT_WAIT, self.publish_timeout)):
                await connection.connected.wait()
        except TimeoutError:
            raise ServiceUnavailable("RabbitMQ is not connected (reconnecting)") from None

    async def _publish_raw(
        self, name: str, body: bytes, headers: dict[str, Any] | None = None
    ) -> None:
        if self._publisher is None:
            raise ServiceUnavailable("the RabbitMQ broker is not connected")
        message = aio_pika.Message(
            body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            content_type="application/json",
            headers=headers,
        )
        publisher = self._publisher
        try:
            async with asyncio.timeout(self.publish_timeout):
                if publisher.is_closed:
                    # Reconnecting: wait a moment for the channel rather than fail at once.
                    # Nothing has been sent yet, so this cannot duplicate a message.
                    try:
                        async with asyncio.timeout(RECONNECT_WAIT):
                            await publisher.ready()
                    except TimeoutError:
                        raise ServiceUnavailable(
                            "RabbitMQ is not connected (reconnecting)"
                        ) from None
                await publisher.default_exchange.publish(message, routing_key=name, mandatory=True)
        except PublishError:
            # Unroutable: the queue vanished behind our back. Declare it again next time.
            self._declared.discard(name)
            self._delay_declared.pop(name, None)
            raise ServiceUnavailable(f"RabbitMQ returned the message for {name!r}") from None
        except DeliveryError:
            raise ServiceUnavailable(f"RabbitMQ refused the message for {name!r}") from None
        except TimeoutError:
            raise ServiceUnavailable(f"RabbitMQ did not confirm the message for {name!r}") from None
        except (AMQPError, ChannelInvalidStateError, ConnectionError) as exc:
            raise ServiceUnavailable(
                f"RabbitMQ lost the message for {name!r}: {type(exc).__name__}"
            ) from None

    # --- consuming --------------------------------------------------------------------

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> Consumer:
        """Start consuming ``queue``. RabbitMQ before 4.1 may close the whole connection
        (541 INTERNAL_ERROR) when two clients declare the same new queue at once
        (rabbitmq-server#13727), as workers starting together do; the robust connection
        comes back and declaring is idempotent, so the start is tried again."""
        async for attempt in stamina.retry_context(
            on=ServiceUnavailable,
            timeout=CONSUME_RETRY_SECONDS,
            attempts=None,
            wait_initial=0.2,
            wait_max=2.0,
        ):
            with attempt:
                return await self._consume_once(queue, handler, prefetch=prefetch)
        raise AssertionError("unreachable: stamina raises once it gives up")

    async def _consume_once(self, queue: str, handler: Handler, *, prefetch: int) -> Consumer:
        name = self._name(queue)
        await self._await_connection()
        self._declared.discard(name)  # a retry follows a failure: declare for real
        await self._ensure_queue(name)
        async with _unavailable(f"open a channel for {name!r}"):
            channel = await self._require().channel(publisher_confirms=False)
        consumer = RabbitConsumer(self, channel)

        async def run(delivery: RabbitDelivery, earlier: asyncio.Task[None] | None) -> None:
            # A handler that returns or fails without settling gives the message back.
            try:
                if earlier is not None:
                    # Redelivered after a reconnect while this process still runs the
                    # first copy: run it after that one, which will have stored the
                    # outcome, so the same job never runs twice at once here.
                    await asyncio.wait({earlier})
                await handler(delivery)
            except Exception:  # noqa: S110 - the handler logs its own failures
                pass
            finally:
                if not delivery.settled:
                    await delivery.requeue()

        async def on_message(message: AbstractIncomingMessage) -> None:
            delivery = RabbitDelivery(self, queue, message)
            if consumer.cancelled:
                # Arrived between basic.cancel and cancel-ok: not ours to run.
                await delivery.requeue()
                return
            # Our own task, not aio-pika's: a lost channel must not cancel a running job.
            key = message.message_id
            earlier = consumer.running.get(key) if key else None
            task = asyncio.create_task(run(delivery, earlier), name=f"consume:{queue}")
            consumer.track(task, key)

        try:
            async with _unavailable(f"consume {name!r}"):
                await channel.set_qos(prefetch_count=prefetch)
                # Declared (robustly) on this channel too, so a reconnect restores the
                # queue, then the consumer.
                amqp_queue = await channel.declare_queue(
                    name, durable=True, arguments=self._queue_arguments()
                )
                consumer._tag = await amqp_queue.consume(on_message)
        except BaseException:
            with contextlib.suppress(*_SETTLE_ERRORS, TimeoutError):
                await channel.close()
            raise
        consumer._queue = amqp_queue
        self._consumers.append(consumer)
        return consumer

    # --- inspection -------------------------------------------------------------------

    async def depth(self, queue: str) -> int:
        name = self._name(queue)
        async with _unavailable(f"count the messages in {name!r}"):
            channel = await self._require().channel(publisher_confirms=False)
            try:
                declared = await channel.declare_queue(name, passive=True, robust=False)
                return int(declared.declaration_result.message_count or 0)
            except ChannelNotFoundEntity:
                return 0
            finally:
                with contextlib.suppress(*_SETTLE_ERRORS, TimeoutError):
                    await channel.close()

    async def peek_dead(self, limit: int = 100) -> list[tuple[bytes, str]]:
        """Read up to ``limit`` dead letters without removing them: ``basic.get`` each,
        then ``nack(requeue=True)`` them all. RabbitMQ puts them back in their place
        but marks them redelivered."""
        if limit <= 0:
            return []
        await self._ensure_dead_letter()
        async with _unavailable("read the dead-letter queue"):
            channel = await self._require().channel(publisher_confirms=False)
            try:
                dlq = await channel.declare_queue(self._name(DLQ), passive=True, robust=False)
                messages: list[AbstractIncomingMessage] = []
                while len(messages) < limit:
                    message = await dlq.get(no_ack=False, fail=False, timeout=PUBLISH_TIMEOUT)
                    if message is None:
                        break
                    messages.append(message)
                if messages:
                    await messages[-1].nack(multiple=True, requeue=True)
                return [(m.body, _dead_reason(m)) for m in messages]
            finally:
                # Closing the channel requeues them too, should the nack not get out.
                with contextlib.suppress(*_SETTLE_ERRORS, TimeoutError):
                    await channel.close()

    async def take_dead(self, job_ids: Collection[str]) -> int:
        """Remove the dead letters naming ``job_ids`` (see the module docstring)."""
        wanted = set(job_ids)
        if not wanted:
            return 0
        await self._ensure_dead_letter()
        async with _unavailable("take messages from the dead-letter queue", DEAD_SCAN_TIMEOUT):
            channel = await self._require().channel(publisher_confirms=False)
            try:
                dlq = await channel.declare_queue(self._name(DLQ), passive=True, robust=False)
                waiting = int(dlq.declaration_result.message_count or 0)
                held: list[AbstractIncomingMessage] = []
                removed = 0
                for _ in range(min(waiting, DEAD_SCAN_LIMIT)):
                    message = await dlq.get(no_ack=False, fail=False, timeout=PUBLISH_TIMEOUT)
                    if message is None:
                        break
                    job_id = message_job_id(message.body)
                    if job_id is not None and job_id in wanted:
                        # Read on past the first copy: a job may have several.
                        await message.ack()
                        removed += 1
                    else:
                        held.append(message)
                if held:
                    await held[-1].nack(multiple=True, requeue=True)
                return removed
            finally:
                # Closing the channel requeues what it still holds, should the nack fail.
                with contextlib.suppress(*_SETTLE_ERRORS, TimeoutError):
                    await channel.close()


def _dead_reason(message: AbstractIncomingMessage) -> str:
    headers = message.headers or {}
    reason = headers.get(REASON_HEADER)
    if isinstance(reason, bytes):
        return reason.decode(errors="replace")
    if isinstance(reason, str):
        return reason
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        why = deaths[0].get("reason")
        where = deaths[0].get("queue")
        why = why.decode() if isinstance(why, bytes) else str(why or "dead-lettered")
        where = where.decode() if isinstance(where, bytes) else str(where or "")
        return f"{why} ({where})" if where else why
    return ""
