"""RabbitBroker against a real RabbitMQ: declarations, confirms, consuming, dead letters,
delays, inspection and reconnection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable

import aio_pika
import pytest
from aio_pika.exceptions import ChannelPreconditionFailed

from flickrhub_core.broker import Delivery
from flickrhub_core.broker.rabbitmq import (
    DLX,
    RabbitBroker,
    delay_bucket_ms,
)
from flickrhub_core.errors import ConfigError, ServiceUnavailable
from flickrhub_core.jobs import DLQ
from tests.rabbitmq.conftest import DroppingProxy, MakeBroker, via_proxy

Connection = aio_pika.abc.AbstractConnection


async def eventually(check: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def redeclare(raw: Connection, name: str, **options: object) -> None:
    """Declare again on a throwaway channel: RabbitMQ refuses it unless every
    property and argument is the same as the existing queue's."""
    channel = await raw.channel()
    try:
        await channel.declare_queue(name, **options)  # type: ignore[arg-type]
    finally:
        with contextlib.suppress(Exception):
            await channel.close()


def queue_args(broker: RabbitBroker, queue_type: str) -> dict[str, object]:
    return {
        "x-queue-type": queue_type,
        "x-dead-letter-exchange": broker.queue_prefix + DLX,
        "x-dead-letter-routing-key": broker.queue_prefix + DLQ,
    }


class Recorder:
    """A handler that records deliveries and settles them as told."""

    def __init__(self, action: str = "ack") -> None:
        self.action = action
        self.seen: list[tuple[bytes, bool]] = []

    async def __call__(self, delivery: Delivery) -> None:
        self.seen.append((delivery.body, delivery.redelivered))
        if self.action == "ack":
            await delivery.ack()


# --- declarations ---------------------------------------------------------------------


async def test_target_queue_is_a_durable_quorum_queue_dead_lettering_to_the_dlq(
    broker: RabbitBroker, raw: Connection, prefix: str
) -> None:
    await broker.publish("flickr_rest", b"{}")
    assert broker.effective_queue_type == "quorum"  # the server here is 3.8 or later
    name = prefix + "flickr_rest"
    await redeclare(raw, name, durable=True, arguments=queue_args(broker, "quorum"))
    with pytest.raises(ChannelPreconditionFailed):
        await redeclare(raw, name, durable=True, arguments=queue_args(broker, "classic"))
    with pytest.raises(ChannelPreconditionFailed):
        await redeclare(raw, name, durable=False, arguments=queue_args(broker, "quorum"))
    # The dead-letter queue exists, is durable, and is bound to the DLX.
    await redeclare(raw, prefix + DLQ, durable=True, arguments={"x-queue-type": "classic"})
    channel = await raw.channel()
    dlx = await channel.get_exchange(prefix + DLX)
    await dlx.publish(aio_pika.Message(b"via dlx"), routing_key=prefix + DLQ)
    assert [body for body, _ in await broker.peek_dead()] == [b"via dlx"]


async def test_classic_queue_type_is_honoured(make_broker: MakeBroker, raw: Connection) -> None:
    broker = await make_broker(queue_type="classic")
    await broker.publish("flickr_rest", b"{}")
    name = broker.queue_prefix + "flickr_rest"
    await redeclare(raw, name, durable=True, arguments=queue_args(broker, "classic"))


async def test_existing_queue_of_another_type_is_a_clear_config_error(
    make_broker: MakeBroker,
) -> None:
    quorum = await make_broker(queue_type="quorum")
    await quorum.publish("flickr_rest", b"{}")
    classic = await make_broker(queue_type="classic")
    with pytest.raises(ConfigError) as caught:
        await classic.publish("flickr_rest", b"{}")
    message = str(caught.value)
    assert "flickr_rest" in message
    assert "FLICKRHUB_QUEUE_TYPE" in message
    assert "x-queue-type" in message
    assert "guest" not in message
    with pytest.raises(ConfigError):
        await classic.consume("flickr_rest", Recorder(), prefetch=1)
    # The broker is still usable for everything else.
    await classic.publish("flickr_upload", b"{}")
    assert await classic.depth("flickr_upload") == 1


async def test_unknown_queue_type_and_url_scheme_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="FLICKRHUB_QUEUE_TYPE"):
        RabbitBroker("amqp://localhost/", queue_type="stream")
    with pytest.raises(ConfigError, match="RABBIT_URL") as caught:
        RabbitBroker("http://user:pa55word@localhost/")
    assert "pa55word" not in str(caught.value)


# --- publishing -----------------------------------------------------------------------


async def test_publish_and_consume_round_trip(broker: RabbitBroker) -> None:
    got = Recorder()
    await broker.consume("flickr_rest", got, prefetch=4)
    bodies = [json.dumps({"job_id": str(i)}).encode() for i in range(5)]
    for body in bodies:
        await broker.publish("flickr_rest", body)
    await eventually(lambda: len(got.seen) == 5)
    assert sorted(got.seen) == sorted((body, False) for body in bodies)
    await asyncio.sleep(0.1)
    assert await broker.depth("flickr_rest") == 0


async def test_messages_are_persistent_json(
    broker: RabbitBroker, raw: Connection, prefix: str
) -> None:
    await broker.publish("flickr_rest", b'{"job_id": "1"}')
    channel = await raw.channel()
    queue = await channel.declare_queue(prefix + "flickr_rest", passive=True)
    message = await queue.get(timeout=5)
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.content_type == "application/json"
    assert message.body == b'{"job_id": "1"}'
    await message.nack(requeue=True)


async def test_a_nacked_publish_raises(
    broker: RabbitBroker, raw: Connection, prefix: str, cleanup: set[str]
) -> None:
    # A queue that refuses every message: RabbitMQ answers the publish with basic.nack.
    name = prefix + "flickr_full"
    cleanup.add(name)
    channel = await raw.channel()
    await channel.declare_queue(
        name, durable=True, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
    )
    broker._declared.add(name)  # pretend the broker declared it itself
    with pytest.raises(ServiceUnavailable, match="refused"):
        await broker.publish("flickr_full", b"{}")


async def test_an_unroutable_publish_raises_then_heals(
    broker: RabbitBroker, raw: Connection, prefix: str
) -> None:
    await broker.publish("flickr_rest", b"{}")
    channel = await raw.channel()
    await channel.queue_delete(prefix + "flickr_rest")  # behind the broker's back
    with pytest.raises(ServiceUnavailable, match="returned"):
        await broker.publish("flickr_rest", b"{}")
    # The next publish declares the queue again.
    await broker.publish("flickr_rest", b"{}")
    assert await broker.depth("flickr_rest") == 1


async def test_publishing_on_a_closed_broker_raises(make_broker: MakeBroker) -> None:
    broker = await make_broker()
    await broker.close()
    with pytest.raises(ServiceUnavailable):
        await broker.publish("flickr_rest", b"{}")


# --- consuming ------------------------------------------------------------------------


async def test_prefetch_limits_handlers_in_flight(broker: RabbitBroker) -> None:
    release = asyncio.Event()
    running = 0
    peak = 0
    done = 0

    async def slow(delivery: Delivery) -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        done += 1
        await delivery.ack()

    for i in range(5):
        await broker.publish("flickr_rest", str(i).encode())
    await broker.consume("flickr_rest", slow, prefetch=2)
    await eventually(lambda: running == 2)
    await asyncio.sleep(0.3)
    assert running == 2
    assert await broker.depth("flickr_rest") == 3
    release.set()
    await eventually(lambda: done == 5)
    assert peak == 2


async def test_dead_letter_lands_in_the_dlq_once_with_its_reason(broker: RabbitBroker) -> None:
    async def reject(delivery: Delivery) -> None:
        await delivery.dead_letter("exhausted: Flickr said 105")

    await broker.consume("flickr_rest", reject, prefetch=2)
    await broker.publish("flickr_rest", b'{"job_id": "dead"}')
    async with asyncio.timeout(5):
        while await broker.depth(DLQ) == 0:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    assert await broker.depth(DLQ) == 1
    assert await broker.depth("flickr_rest") == 0
    assert await broker.peek_dead() == [(b'{"job_id": "dead"}', "exhausted: Flickr said 105")]


async def test_peek_dead_leaves_messages_in_place_oldest_first(broker: RabbitBroker) -> None:
    async def reject(delivery: Delivery) -> None:
        await delivery.dead_letter(f"reason {delivery.body.decode()}")

    consumer = await broker.consume("flickr_rest", reject, prefetch=1)
    for i in range(3):
        await broker.publish("flickr_rest", str(i).encode())
    async with asyncio.timeout(5):
        while await broker.depth(DLQ) < 3:
            await asyncio.sleep(0.05)
    await consumer.cancel()
    expected = [(str(i).encode(), f"reason {i}") for i in range(3)]
    assert await broker.peek_dead() == expected
    assert await broker.peek_dead() == expected
    assert await broker.peek_dead(limit=2) == expected[:2]
    assert await broker.peek_dead(limit=0) == []
    assert await broker.depth(DLQ) == 3


async def test_requeue_redelivers_marked_redelivered(broker: RabbitBroker) -> None:
    seen: list[bool] = []

    async def once_then_ack(delivery: Delivery) -> None:
        seen.append(delivery.redelivered)
        if len(seen) == 1:
            await delivery.requeue()
        else:
            await delivery.ack()

    await broker.consume("flickr_rest", once_then_ack, prefetch=1)
    await broker.publish("flickr_rest", b"x")
    await eventually(lambda: len(seen) == 2)
    assert seen == [False, True]


async def test_failing_or_unsettling_handler_gives_the_message_back(broker: RabbitBroker) -> None:
    seen: list[bool] = []

    async def flaky(delivery: Delivery) -> None:
        seen.append(delivery.redelivered)
        if len(seen) == 1:
            raise RuntimeError("handler bug")
        if len(seen) == 2:
            return  # forgot to settle
        await delivery.ack()

    await broker.consume("flickr_rest", flaky, prefetch=1)
    await broker.publish("flickr_rest", b"x")
    await eventually(lambda: len(seen) == 3)
    assert seen == [False, True, True]
    await asyncio.sleep(0.2)
    assert len(seen) == 3


async def test_message_of_a_dead_consumer_is_redelivered_to_another(
    make_broker: MakeBroker,
) -> None:
    first = await make_broker()
    second = await make_broker()
    started = asyncio.Event()
    release = asyncio.Event()

    async def stuck(delivery: Delivery) -> None:
        started.set()
        await release.wait()
        await delivery.ack()  # too late: its connection is gone

    got = Recorder()
    await first.consume("flickr_rest", stuck, prefetch=1)
    await first.publish("flickr_rest", b"job")
    await asyncio.wait_for(started.wait(), 5)
    await second.consume("flickr_rest", got, prefetch=1)
    await asyncio.sleep(0.2)
    assert got.seen == []  # still owned by the first consumer
    await first.close()  # the worker dies without acking
    await eventually(lambda: got.seen == [(b"job", True)])
    release.set()
    await asyncio.sleep(0.1)


async def test_cancel_stops_new_deliveries_and_lets_running_handlers_finish(
    broker: RabbitBroker,
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    acked: list[bytes] = []

    async def slow(delivery: Delivery) -> None:
        started.set()
        await release.wait()
        await delivery.ack()
        acked.append(delivery.body)

    consumer = await broker.consume("flickr_rest", slow, prefetch=1)
    await broker.publish("flickr_rest", b"first")
    await asyncio.wait_for(started.wait(), 5)
    await consumer.cancel()
    await broker.publish("flickr_rest", b"second")
    release.set()
    await eventually(lambda: acked == [b"first"])
    await asyncio.sleep(0.3)
    assert acked == [b"first"]
    assert await broker.depth("flickr_rest") == 1


# --- delays ---------------------------------------------------------------------------


def test_delay_buckets_round_up_by_at_most_an_eighth() -> None:
    for delay in (0.001, 0.05, 0.3, 0.5, 0.77, 1.0, 2.5, 9.99, 30.0, 600.0):
        ms = delay_bucket_ms(delay)
        assert delay * 1000 <= ms <= delay * 1000 * 1.125 + 1
    # 0.5 s to 30 s of backoff uses a few dozen queues, not thousands.
    buckets = {delay_bucket_ms(i / 1000) for i in range(500, 30_001)}
    assert len(buckets) <= 8 * 7


async def test_publish_delayed_arrives_after_the_delay_not_before(
    broker: RabbitBroker, raw: Connection, prefix: str
) -> None:
    arrived: list[float] = []

    async def record(delivery: Delivery) -> None:
        arrived.append(time.monotonic())
        await delivery.ack()

    await broker.consume("flickr_rest", record, prefetch=1)
    start = time.monotonic()
    await broker.publish_delayed("flickr_rest", b"later", 0.5)
    await broker.publish("flickr_rest", b"now")
    await eventually(lambda: len(arrived) == 2)
    waited = arrived[1] - start
    assert 0.5 <= waited < 0.5 * 1.125 + 1.0
    assert arrived[0] - start < 0.5
    # The delay queue: classic, TTL = bucket, dead-letters into the target, expires.
    ms = delay_bucket_ms(0.5)
    name = f"{prefix}flickr_delay_{ms}.flickr_rest"
    assert name in broker.declared_queues
    arguments = {
        "x-queue-type": "classic",
        "x-message-ttl": ms,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": prefix + "flickr_rest",
        "x-expires": ms + 15 * 60_000,
    }
    await redeclare(raw, name, durable=True, arguments=arguments)


async def test_publish_delayed_without_delay_publishes_at_once(broker: RabbitBroker) -> None:
    assert broker.supports_delay
    await broker.publish_delayed("flickr_rest", b"x", 0)
    assert await broker.depth("flickr_rest") == 1


# --- inspection -----------------------------------------------------------------------


async def test_depth_counts_waiting_messages(broker: RabbitBroker) -> None:
    assert await broker.depth("flickr_never_declared") == 0
    for _ in range(3):
        await broker.publish("flickr_rest", b"{}")
    assert await broker.depth("flickr_rest") == 3
    assert await broker.peek_dead() == []


# --- reconnection ---------------------------------------------------------------------


def fast_reconnect(url: str) -> str:
    """aio-pika waits ``reconnect_interval`` (5 s) after connecting before it would
    reconnect; a URL parameter shortens it."""
    return f"{url}{'&' if '?' in url else '?'}reconnect_interval=0.5"


async def _check_publish_and_consume_survive(
    broker: RabbitBroker, got: Recorder, cut: Callable[[], object]
) -> None:
    await broker.publish("flickr_rest", b"before")
    await eventually(lambda: got.seen == [(b"before", False)])
    await cut()  # type: ignore[misc]
    # Publishing waits for the robust connection to come back.
    async with asyncio.timeout(20):
        while True:
            try:
                await broker.publish("flickr_rest", b"after")
                break
            except ServiceUnavailable:
                await asyncio.sleep(0.2)
    # The consumer was restored on the new connection.
    await eventually(lambda: (b"after", False) in got.seen, timeout=20)


async def test_reconnects_after_the_network_drops(
    make_broker: MakeBroker, proxy: DroppingProxy, rabbit_url: str
) -> None:
    broker = await make_broker(fast_reconnect(via_proxy(rabbit_url, proxy.port)))
    got = Recorder()
    await broker.consume("flickr_rest", got, prefetch=2)

    async def cut() -> None:
        assert proxy.drop() >= 2

    await _check_publish_and_consume_survive(broker, got, cut)


async def test_a_consumer_start_survives_the_connection_closing_during_declaration(
    make_broker: MakeBroker, proxy: DroppingProxy, rabbit_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As RabbitMQ < 4.1 does (541 INTERNAL_ERROR) when two workers declare one new queue
    # at the same moment: the start waits for the reconnect and declares again.
    broker = await make_broker(fast_reconnect(via_proxy(rabbit_url, proxy.port)))
    real_ensure = broker._ensure_queue
    drops: list[int] = []

    async def ensure_after_a_drop(name: str) -> None:
        if not drops:
            drops.append(proxy.drop())
        await real_ensure(name)

    monkeypatch.setattr(broker, "_ensure_queue", ensure_after_a_drop)
    got = Recorder()
    async with asyncio.timeout(30):
        await broker.consume("flickr_rest", got, prefetch=2)
    assert drops and drops[0] >= 1
    await broker.publish("flickr_rest", b"after")
    await eventually(lambda: got.seen == [(b"after", False)], timeout=10)


async def test_workers_starting_together_on_new_queues_all_consume(
    make_broker: MakeBroker,
) -> None:
    brokers = [await make_broker() for _ in range(4)]
    got = Recorder()
    queues = ("flickr_rest", "flickr_upload", "flickr_replace")
    async with asyncio.timeout(60):
        await asyncio.gather(*(b.consume(q, got, prefetch=1) for b in brokers for q in queues))
    for queue in queues:
        await brokers[0].publish(queue, queue.encode())
    await eventually(
        lambda: sorted(body for body, _ in got.seen) == sorted(q.encode() for q in queues)
    )


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=30, check=False
    )


async def test_reconnects_after_the_server_closes_the_connection(
    make_broker: MakeBroker, prefix: str, rabbit_url: str
) -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed here (the network-drop test still runs)")
    listing = await asyncio.to_thread(_rabbitmqctl, "list_connections", "pid")
    if listing.returncode != 0:
        pytest.skip("rabbitmqctl cannot reach the node from this user")
    broker = await make_broker(fast_reconnect(rabbit_url))
    got = Recorder()
    await broker.consume("flickr_rest", got, prefetch=2)

    async def cut() -> None:
        listing = await asyncio.to_thread(
            _rabbitmqctl, "list_connections", "pid", "client_properties"
        )
        ours = f'{{"connection_name","flickrhub {prefix}"}}'
        pids = [line.split("\t")[0] for line in listing.stdout.splitlines() if ours in line]
        assert len(pids) == 1
        closed = await asyncio.to_thread(_rabbitmqctl, "close_connection", pids[0], "test")
        assert closed.returncode == 0, closed.stderr

    await _check_publish_and_consume_survive(broker, got, cut)


async def test_a_job_running_when_the_network_drops_is_redelivered_after_it_not_beside_it(
    make_broker: MakeBroker, proxy: DroppingProxy, rabbit_url: str
) -> None:
    broker = await make_broker(fast_reconnect(via_proxy(rabbit_url, proxy.port)))
    release = asyncio.Event()
    events: list[str] = []

    async def handler(delivery: Delivery) -> None:
        n = len([e for e in events if e.startswith("start")])
        events.append(f"start {n} redelivered={delivery.redelivered}")
        if n == 0:
            await release.wait()
        await delivery.ack()  # the first ack goes nowhere: its channel is gone
        events.append(f"end {n}")

    await broker.consume("flickr_rest", handler, prefetch=2)
    await broker.publish("flickr_rest", b"job")
    await eventually(lambda: events == ["start 0 redelivered=False"])
    proxy.drop()
    # RabbitMQ gives the unacked message back; the restored consumer receives it but
    # holds it while the first copy still runs in this process.
    await asyncio.sleep(1.5)
    assert events == ["start 0 redelivered=False"]
    release.set()
    await eventually(lambda: len(events) == 4, timeout=10)
    assert events == ["start 0 redelivered=False", "end 0", "start 1 redelivered=True", "end 1"]
    await asyncio.sleep(0.2)
    assert await broker.depth("flickr_rest") == 0


async def test_a_delayed_message_can_be_dead_lettered_with_its_history(
    broker: RabbitBroker,
) -> None:
    async def reject(delivery: Delivery) -> None:
        await delivery.dead_letter("gave up")

    await broker.consume("flickr_rest", reject, prefetch=1)
    await broker.publish_delayed("flickr_rest", b"retried", 0.05)
    async with asyncio.timeout(5):
        while not (dead := await broker.peek_dead()):
            await asyncio.sleep(0.05)
    assert dead == [(b"retried", "gave up")]
