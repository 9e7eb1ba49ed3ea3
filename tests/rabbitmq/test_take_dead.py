"""``RabbitBroker.take_dead``: the replayed or purged jobs' dead letters leave
``flickr_dlq``, every other message stays, in its place, with its reason."""

from __future__ import annotations

import asyncio
import json

import pytest

from flickrhub_core.broker import Delivery
from flickrhub_core.broker.rabbitmq import RabbitBroker
from flickrhub_core.jobs import DLQ


def message(job_id: str) -> bytes:
    return json.dumps({"job_id": job_id, "target": "rest"}).encode()


async def fill_dlq(broker: RabbitBroker, bodies: list[bytes]) -> None:
    async def reject(delivery: Delivery) -> None:
        await delivery.dead_letter(f"reason {delivery.body.decode()[:20]}")

    consumer = await broker.consume("flickr_rest", reject, prefetch=1)
    for body in bodies:
        await broker.publish("flickr_rest", body)
    async with asyncio.timeout(10):
        while await broker.depth(DLQ) < len(bodies):
            await asyncio.sleep(0.05)
    await consumer.cancel()


async def test_take_dead_removes_only_the_named_jobs(broker: RabbitBroker) -> None:
    bodies = [message(f"job-{n}") for n in range(5)] + [b"not json"]
    await fill_dlq(broker, bodies)
    before = await broker.peek_dead()

    assert await broker.take_dead({"job-1", "job-3", "job-unknown"}) == 2
    kept = [entry for entry in before if entry[0] not in (message("job-1"), message("job-3"))]
    assert await broker.peek_dead() == kept  # same order, same reasons
    assert await broker.depth(DLQ) == 4

    assert await broker.take_dead(set()) == 0
    assert await broker.take_dead({"job-0"}) == 1
    assert await broker.take_dead({"job-0"}) == 0
    assert [body for body, _ in await broker.peek_dead()] == [
        message("job-2"),
        message("job-4"),
        b"not json",
    ]


async def test_take_dead_reads_no_further_than_the_scan_limit(
    broker: RabbitBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fill_dlq(broker, [message(f"job-{n}") for n in range(4)])
    assert await broker.take_dead({"job-0"}) == 1
    assert await broker.depth(DLQ) == 3
    monkeypatch.setattr("flickrhub_core.broker.rabbitmq.DEAD_SCAN_LIMIT", 1)
    assert await broker.take_dead({"job-3"}) == 0  # beyond the scan limit: left for later
    assert await broker.depth(DLQ) == 3
