"""Publish the bench job N times for one system, as fast as possible or at a steady
rate, and write what it measured (per-publish latency, its own CPU) as JSON.

    python publisher.py --system flickrhub --n 10000 [--rate 150] --out pub.json
    python publisher.py --setup-token          # FlickrHub: store the bench user's token

Latency is taken from each message's *scheduled* send time (open loop at ``--rate``),
so a publisher that falls behind shows it. ``--rate 0`` sends back to back
(async systems keep ``--concurrency`` publishes in flight).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

BENCH_USER = "bench-user"
BENCH_OWNER = "default"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- async publishing (bare, taskiq, flickrhub) ----------------------------------------


async def _drive_async(
    send: Callable[[str, float], Awaitable[None]], n: int, rate: float, concurrency: int
) -> list[float]:
    latencies: list[float] = []
    start = time.time()
    if rate <= 0:
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                t0 = time.time()
                await send(f"j{i:07d}-{uuid.uuid4().hex[:8]}", t0)
                latencies.append(time.time() - t0)

        await asyncio.gather(*(one(i) for i in range(n)))
        return latencies

    tasks: list[asyncio.Task[None]] = []

    async def timed(job_id: str, scheduled: float) -> None:
        await send(job_id, scheduled)
        latencies.append(time.time() - scheduled)

    for i in range(n):
        scheduled = start + i / rate
        delay = scheduled - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(timed(f"j{i:07d}-{uuid.uuid4().hex[:8]}", scheduled)))
    await asyncio.gather(*tasks)
    return latencies


async def _bare(n: int, rate: float, concurrency: int) -> list[float]:
    import aio_pika

    from benchjob import RABBIT_URL
    from peers.bare import BARE_QUEUE, publish

    connection = await aio_pika.connect_robust(RABBIT_URL)
    channel = await connection.channel(publisher_confirms=True)
    await channel.declare_queue(BARE_QUEUE, durable=True)
    try:
        return await _drive_async(lambda j, t: publish(channel, j, t), n, rate, concurrency)
    finally:
        await connection.close()


async def _taskiq(n: int, rate: float, concurrency: int) -> list[float]:
    from peers.taskiq_app import broker, job

    await broker.startup()
    try:

        async def send(job_id: str, t_pub: float) -> None:
            await job.kicker().with_task_id(job_id).kiq(job_id, t_pub)

        return await _drive_async(send, n, rate, concurrency)
    finally:
        await broker.shutdown()


async def _flickrhub_runtime() -> Any:
    from flickrhub_core.cli.app import setup_logging
    from flickrhub_core.runtime import Runtime
    from flickrhub_core.settings import load_settings

    settings = load_settings()
    setup_logging(settings)
    runtime = Runtime.create(settings, role="api")
    await runtime.start()
    return runtime


async def _flickrhub(n: int, rate: float, concurrency: int) -> list[float]:
    """Exactly what the API does after validation: a Job record, then Runtime.enqueue
    (job store save + persistent, confirmed publish + the job_enqueued event)."""
    from flickrhub_core.jobs import Job

    runtime = await _flickrhub_runtime()
    try:

        async def send(job_id: str, _t_pub: float) -> None:
            job = Job(
                owner=BENCH_OWNER,
                user_id=BENCH_USER,
                target="rest",
                method="flickr.test.echo",
                params={"name": job_id},
                max_attempts=runtime.settings.job_retry_attempts,
                trace_id=uuid.uuid4().hex,
                cache_bypass=True,
            )
            await runtime.enqueue(job)

        return await _drive_async(send, n, rate, concurrency)
    finally:
        await runtime.close()


async def setup_token() -> None:
    from flickrhub_core.stores import StoredToken

    runtime = await _flickrhub_runtime()
    try:
        await runtime.tokens.put(
            StoredToken(
                user_id=BENCH_USER,
                owner=BENCH_OWNER,
                consumer_key="benchconsumerkey0000000000000000",
                consumer_secret="benchconsumersecret0000",
                token="72157720000000000-0000000000000000",
                token_secret="benchtokensecret0000",
                user_nsid="12345678@N00",
                username="bench",
            )
        )
    finally:
        await runtime.close()


# --- sync publishing (celery, dramatiq) ------------------------------------------------


def _drive_sync(send: Callable[[str, float], None], n: int, rate: float) -> list[float]:
    latencies: list[float] = []
    start = time.time()
    for i in range(n):
        job_id = f"j{i:07d}-{uuid.uuid4().hex[:8]}"
        if rate > 0:
            scheduled = start + i / rate
            delay = scheduled - time.time()
            if delay > 0:
                time.sleep(delay)
        else:
            scheduled = time.time()
        send(job_id, scheduled)
        latencies.append(time.time() - scheduled)
    return latencies


def _celery(n: int, rate: float) -> list[float]:
    from peers.celery_app import job

    return _drive_sync(lambda j, t: job.apply_async((j, t), task_id=j) and None, n, rate)


def _dramatiq(n: int, rate: float) -> list[float]:
    from peers.dramatiq_app import broker, job

    try:
        return _drive_sync(lambda j, t: job.send(j, t) and None, n, rate)
    finally:
        broker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--system", choices=["bare", "flickrhub", "celery", "dramatiq", "taskiq"])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--setup-token", action="store_true")
    args = parser.parse_args()
    if args.setup_token:
        asyncio.run(setup_token())
        return
    started = time.time()
    if args.system == "celery":
        latencies = _celery(args.n, args.rate)
    elif args.system == "dramatiq":
        latencies = _dramatiq(args.n, args.rate)
    else:
        runner = {"bare": _bare, "taskiq": _taskiq, "flickrhub": _flickrhub}[args.system]
        latencies = asyncio.run(runner(args.n, args.rate, args.concurrency))
    report = {
        "system": args.system,
        "n": args.n,
        "rate": args.rate,
        "seconds": time.time() - started,
        "cpu_seconds": _cpu(),
        "latencies": latencies,
    }
    if args.out:
        args.out.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
