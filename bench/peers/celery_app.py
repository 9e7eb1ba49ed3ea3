"""Celery: RabbitMQ broker (py-amqp), persistent messages with publisher confirms,
``acks_late``, results in Redis. Worker: ``celery -A celery_app worker --pool prefork``."""

from __future__ import annotations

from typing import Any

from celery import Celery

from benchjob import QUEUE, RABBIT_URL, REDIS_URL, RESULT_TTL, run_sync

app = Celery("bench", broker=RABBIT_URL.replace("amqp://", "pyamqp://", 1), backend=REDIS_URL)
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_default_delivery_mode="persistent",
    task_default_queue=f"{QUEUE}_celery",
    broker_transport_options={"confirm_publish": True},
    broker_connection_retry_on_startup=True,
    result_expires=RESULT_TTL,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
    task_send_sent_event=False,
)


@app.task(name="bench.job")
def job(job_id: str, t_pub: float) -> dict[str, Any]:
    return run_sync(job_id, t_pub)
