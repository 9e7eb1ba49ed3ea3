"""The ceiling: a minimal hand-written aio-pika consumer doing the bench job.

Prefetch = ``BENCH_CONCURRENCY``, one task per message, aiohttp for the HTTP call,
one Redis SET for the result (with the publish and done times), then the ack.
Messages are ``{"id": ..., "t": publish time}``, persistent, publisher-confirmed.
"""

from __future__ import annotations

import asyncio
import json
import signal

import aio_pika
from redis.asyncio import Redis

from benchjob import CONCURRENCY, QUEUE, RABBIT_URL, REDIS_URL, RESULT_TTL, AsyncJob, hand_signer

BARE_QUEUE = f"{QUEUE}_bare"


async def main() -> None:
    connection = await aio_pika.connect_robust(RABBIT_URL)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=CONCURRENCY)
    queue = await channel.declare_queue(BARE_QUEUE, durable=True)
    redis = Redis.from_url(REDIS_URL)
    job = AsyncJob(hand_signer())
    tasks: set[asyncio.Task[None]] = set()

    async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            body = json.loads(message.body)
            result = await job.run(body["id"], body["t"])
            await redis.set(f"bench:result:{body['id']}", json.dumps(result), ex=RESULT_TTL)
        except Exception:
            await message.nack(requeue=True)
            raise
        await message.ack()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        task = asyncio.create_task(handle(message))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await queue.consume(on_message)
    print("bare consumer ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await connection.close()
    await job.close()
    await redis.aclose()


async def publish(channel: aio_pika.abc.AbstractChannel, job_id: str, t_pub: float) -> None:
    await channel.default_exchange.publish(
        aio_pika.Message(
            json.dumps({"id": job_id, "t": t_pub}).encode(),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            content_type="application/json",
        ),
        routing_key=BARE_QUEUE,
        mandatory=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
