"""Dramatiq: RabbitmqBroker with delivery confirms (messages are persistent, acks
come after processing), results in Redis through the Results middleware.
Worker: ``dramatiq dramatiq_app --processes 2 --threads 8``."""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend

from benchjob import QUEUE, RABBIT_URL, REDIS_URL, RESULT_TTL, run_sync

broker = RabbitmqBroker(url=RABBIT_URL, confirm_delivery=True)
broker.add_middleware(Results(backend=RedisBackend(url=REDIS_URL, use_namespace_prefix_keys=True)))
dramatiq.set_broker(broker)


@dramatiq.actor(
    actor_name="bench_job",
    queue_name=f"{QUEUE}_dramatiq",
    store_results=True,
    result_ttl=RESULT_TTL * 1000,
    max_retries=3,
)
def job(job_id: str, t_pub: float) -> dict[str, Any]:
    return run_sync(job_id, t_pub)
