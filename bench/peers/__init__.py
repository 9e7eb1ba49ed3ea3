"""The peers: the same job on a bare aio-pika consumer, Celery, Dramatiq and taskiq."""
