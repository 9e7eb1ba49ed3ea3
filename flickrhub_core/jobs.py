"""The job model: what a client asked for, where it is, and how it ended.

State names are the earlier system's (``queued``, ``retrying``, ``completed``,
``failed``) plus ``running`` and ``cancelled``, so clients that wait for
``completed`` keep working.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

#: Results and errors larger than this (serialised JSON, bytes) are replaced by a marker.
MAX_RESULT_BYTES = 1_000_000
MAX_ERROR_MESSAGE = 2_000


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATES


FINISHED_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})


def utcnow() -> datetime:
    return datetime.now(UTC)


def queue_name(target: str) -> str:
    """The broker queue a target's jobs travel on."""
    return f"flickr_{target}"


DLQ = "flickr_dlq"


class Job(BaseModel):
    """One Flickr call, as stored by the job store and shown (in part) to its owner."""

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    owner: str = "default"
    user_id: str
    target: str
    method: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    state: JobState = JobState.QUEUED
    attempts: int = 0
    max_attempts: int = 3
    #: Attempts Flickr refused with 429 that were not counted in ``attempts``
    #: (at most ``FLICKRHUB_RATE_LIMITED_RETRIES``).
    rate_limited: int = 0
    result: Any = None
    error: dict[str, Any] | None = None
    from_cache: bool = False
    #: Whole seconds the cached answer had left when it was served (caches that tell:
    #: ``GuardedCache``); None unless ``from_cache``.
    cache_ttl_seconds: int | None = None
    dead_lettered: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    idempotency_key: str | None = None
    trace_id: str | None = None
    callback_url: str | None = None
    #: The webhook's HMAC key, Fernet-encrypted (``Keyring.encrypt``); never shown.
    callback_secret: str | None = None
    #: Delivery of the webhook: ``{"url", "state": "pending|delivered|failed",
    #: "attempts", "last_status", "last_error", "delivered_at", "delivery_id"}``.
    webhook: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    #: The batch this job was enqueued in (``POST /batch``), if any.
    batch_id: str | None = None
    #: Reference to an upload blob (upload/replace); photo bytes never travel in the job.
    blob_id: str | None = None
    #: Skip the response cache for this call (read and write).
    cache_bypass: bool = False
    #: Progress of long work while running, e.g. ``{"bytes_sent": n, "bytes_total": m}``.
    progress: dict[str, Any] | None = None
    #: Its owner asked to cancel it while it ran (see :mod:`flickrhub_core.cancel`).
    cancel_requested: bool = False
    #: The dead-lettered job this one replays (``flickrhub dlq replay``).
    replay_of: str | None = None
    #: The job that replays this dead-lettered one; it is then out of the DLQ.
    replayed_by: str | None = None
    #: When this dead-lettered job was purged from the DLQ (its photo dropped).
    purged_at: datetime | None = None

    def __repr_args__(self):  # type: ignore[no-untyped-def]
        return [
            (k, "********" if k == "callback_secret" and v else v)
            for k, v in super().__repr_args__()
        ]

    @property
    def queue(self) -> str:
        return queue_name(self.target)

    @property
    def in_dlq(self) -> bool:
        """Dead-lettered, and neither replayed nor purged yet: what the DLQ lists."""
        return (
            self.dead_lettered
            and self.state is JobState.FAILED
            and self.replayed_by is None
            and self.purged_at is None
        )

    @property
    def duration_ms(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds() * 1000

    def status_view(self) -> dict[str, Any]:
        """What a client sees: the new fields plus the earlier system's
        (``id``, ``state``, ``returnvalue``, ``failedReason``, ``queue``)."""
        view: dict[str, Any] = {
            "job_id": self.id,
            "id": self.id,
            "user_id": self.user_id,
            "target": self.target,
            "method": self.method,
            "queue": self.queue,
            "state": self.state.value,
            "attempts": self.attempts,
            "attempts_made": self.attempts,
            "max_attempts": self.max_attempts,
            "rate_limited": self.rate_limited,
            "result": self.result,
            "error": self.error,
            "from_cache": self.from_cache,
            "dead_lettered": self.dead_lettered,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "duration_ms": self.duration_ms,
            "trace_id": self.trace_id,
            "meta": self.meta,
            "progress": self.progress,
            "batch_id": self.batch_id,
            "callback_url": self.callback_url,
            "webhook": self.webhook,
            "cancel_requested": self.cancel_requested,
            "replay_of": self.replay_of,
            "replayed_by": self.replayed_by,
        }
        if self.state is JobState.COMPLETED:
            # The earlier system's keys, in its order.
            returnvalue: dict[str, Any] = {"from_cache": self.from_cache}
            if self.cache_ttl_seconds is not None:
                returnvalue["cache_ttl_seconds"] = self.cache_ttl_seconds
            returnvalue["flickr"] = self.result
            view["returnvalue"] = returnvalue
        if self.error is not None:
            view["failedReason"] = self.error.get("message")
        return view


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def bounded_error(error: dict[str, Any]) -> dict[str, Any]:
    """Cut an error's message so one bad answer cannot bloat the store."""
    message = str(error.get("message", ""))
    if len(message) > MAX_ERROR_MESSAGE:
        error = {**error, "message": message[:MAX_ERROR_MESSAGE] + "..."}
    return error
