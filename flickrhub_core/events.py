"""Job events: one per state change, broadcast through the ``job_event`` hook."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flickrhub_core.jobs import Job, JobState, utcnow


@dataclass(frozen=True)
class JobEvent:
    """``job`` is the record as stored after the change."""

    name: str  # job_enqueued, job_started, job_retrying, job_completed, job_failed, ...
    job: Job
    previous: JobState | None
    at: datetime = field(default_factory=utcnow)
