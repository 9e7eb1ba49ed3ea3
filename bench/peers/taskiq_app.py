"""taskiq: taskiq-aio-pika broker (persistent messages, publisher confirms, classic
durable queue), taskiq-redis results, ack when the result is saved (taskiq's default).
Worker: ``taskiq worker taskiq_app:broker --workers 2``."""

from __future__ import annotations

from typing import Any

from taskiq_aio_pika import AioPikaBroker
from taskiq_aio_pika.queue import Queue, QueueType
from taskiq_redis import RedisAsyncResultBackend

from benchjob import CONCURRENCY, QUEUE, RABBIT_URL, REDIS_URL, RESULT_TTL, AsyncJob, library_signer

broker = AioPikaBroker(
    url=RABBIT_URL,
    qos=CONCURRENCY,
    task_queues=[Queue(name=f"{QUEUE}_taskiq", type=QueueType.CLASSIC)],
).with_result_backend(
    RedisAsyncResultBackend(REDIS_URL, result_ex_time=RESULT_TTL, prefix_str="taskiq")
)
_job = AsyncJob(library_signer())


@broker.task(task_name="bench.job")
async def job(job_id: str, t_pub: float) -> dict[str, Any]:
    return await _job.run(job_id, t_pub)
