"""The generic worker host: where a queued job goes next.

``host.WorkerHost`` takes messages off one queue per enabled target and hands
each job to ``runner.JobRunner``, which looks in the cache, paces calls through
the rate limiter (``session.UserFlickr``), runs the target with retries, stores
the outcome, and only then lets the host acknowledge the message.
"""

from flickrhub_core.worker.host import WorkerHost
from flickrhub_core.worker.runner import JobRunner, Outcome
from flickrhub_core.worker.session import UserFlickr

__all__ = ["JobRunner", "Outcome", "UserFlickr", "WorkerHost"]
