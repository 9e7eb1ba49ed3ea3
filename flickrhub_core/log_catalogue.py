"""Every log event FlickrHub emits: its name, level, when it happens and its fields.

This is the machine-readable twin of ``docs/logging.md``: a test fails when the
code logs an event name that is not listed here, and when the page's table differs
from :func:`markdown_table` (regenerate it with
``python -m flickrhub_core.log_catalogue docs/logging.md``).

Fields every event carries are not repeated per event: ``event``, ``level``,
``timestamp``, ``service``, ``environment`` (:data:`COMMON_FIELDS`), and ``role``
(``embedded``, ``api`` or ``worker``) on events of a runtime. Events marked ``job``
are logged while a job runs or about one job, and carry :data:`JOB_FIELDS`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "COMMON_FIELDS",
    "EVENTS",
    "JOB_FIELDS",
    "LogEvent",
    "markdown_table",
]

Level = Literal["debug", "info", "warning", "error"]

COMMON_FIELDS = ("event", "level", "timestamp", "service", "environment")
#: Carried by every line logged while a job runs (context variables bound by the runner).
JOB_FIELDS = ("job_id", "user_id", "target", "attempt", "trace_id")
#: An exception's class and frames, never its message (which may hold a secret).
ERROR_FIELDS = ("error_type", "traceback")
#: What the runtime logs with every job event (``Runtime.emit``).
JOB_EVENT_FIELDS = ("flickr_method", "state")


@dataclass(frozen=True)
class LogEvent:
    level: Level
    area: str
    when: str
    fields: tuple[str, ...] = ()
    #: Carries :data:`JOB_FIELDS`.
    job: bool = False


def _job_event(when: str, level: Level = "info", *extra: str) -> LogEvent:
    return LogEvent(level, "jobs", when, (*JOB_EVENT_FIELDS, *extra), job=True)


EVENTS: dict[str, LogEvent] = {
    # --- processes -----------------------------------------------------------------
    "flickrhub_ready": LogEvent(
        "info", "process", "`flickrhub run` accepts work", ("api", "sandbox")
    ),
    "flickrhub_stopping": LogEvent(
        "info", "process", "`flickrhub run` got SIGINT/SIGTERM and shuts down"
    ),
    "api_ready": LogEvent("info", "process", "`flickrhub api` accepts requests", ("api",)),
    "gc_frozen": LogEvent(
        "info",
        "process",
        "a long-running command serves: its start-up objects leave full collections",
        ("objects", "duration_ms"),
    ),
    "api_unauthenticated": LogEvent(
        "warning",
        "process",
        "the API starts without FLICKRHUB_API_KEYS (loopback only)",
        ("detail",),
    ),
    "metrics_server_started": LogEvent(
        "info",
        "process",
        "a worker serves /metrics on FLICKRHUB_WORKER_METRICS_PORT",
        ("url",),
    ),
    # --- the API -------------------------------------------------------------------
    "api_request": LogEvent(
        "info",
        "api",
        "every request, when answered (debug for successful probes and /metrics)",
        (
            "method",
            "path",
            "route",
            "status",
            "duration_ms",
            "request_id",
            "client_request_id",
            "client",
        ),
    ),
    "api_unhandled_error": LogEvent(
        "error",
        "api",
        "a request failed with an unexpected exception (answered 500)",
        ("request_id", "method", "path", "error_type", "frames"),
    ),
    "api_backend_unavailable": LogEvent(
        "warning",
        "api",
        "a request failed because a backend (broker, store) is unavailable (answered 503)",
        ("request_id", "method", "path", "error_type"),
    ),
    "batch_enqueued": LogEvent(
        "info", "api", "a batch of jobs was accepted", ("batch_id", "jobs", "owner")
    ),
    "batch_withdraw_failed": LogEvent(
        "error",
        "api",
        "a refused batch could not take back one of its queued jobs",
        ("job_id", "error"),
    ),
    "upload_blob_discard_failed": LogEvent(
        "error",
        "api",
        "the stored photo of a refused upload could not be deleted",
        ("blob_id", "error"),
    ),
    "account_revoked": LogEvent(
        "info",
        "api",
        "a connected Flickr account was disconnected",
        ("request_id", "user_id", "user_nsid", "cancelled_jobs"),
    ),
    "ui_signed_in": LogEvent(
        "info", "api", "someone signed in to the web UI", ("request_id", "client")
    ),
    # --- OAuth ---------------------------------------------------------------------
    "auth_start_success": LogEvent(
        "info",
        "auth",
        "an OAuth authorisation was started (request token obtained)",
        ("request_id", "mode", "perms", "own_consumer"),
    ),
    "auth_complete_success": LogEvent(
        "info",
        "auth",
        "an OAuth authorisation finished: the account is connected",
        ("request_id", "via", "user_id", "user_nsid", "reauthorised"),
    ),
    "auth_complete_failure": LogEvent(
        "info",
        "auth",
        "an OAuth authorisation could not be finished",
        ("request_id", "via", "reason"),
    ),
    # --- job lifecycle (Runtime.emit; also sent to plugins' job_event) -----------------
    "job_enqueued": _job_event("a job was stored and published to its queue"),
    "job_started": _job_event("an attempt of a job starts", "debug"),
    "job_retrying": _job_event("an attempt failed with a retryable error; another follows"),
    "job_completed": _job_event("a job succeeded (from Flickr or the cache)"),
    "job_failed": _job_event("a job failed for good (not retryable)"),
    "job_dead": _job_event("a job failed after its last attempt and went to the dead-letter queue"),
    "job_cancelled": _job_event("a job was cancelled by its owner"),
    "job_replayed": _job_event(
        "a dead-lettered job was replayed as a new job", "info", "replayed_by", "owner"
    ),
    "job_purged": _job_event("a dead-lettered job was purged from the DLQ", "info", "owner"),
    "job_event_listener_failed": LogEvent(
        "error",
        "jobs",
        "a plugin's job_event listener raised (the job is not affected)",
        ("error",),
        job=True,
    ),
    "queue_publish_error": LogEvent(
        "error",
        "jobs",
        "the broker did not take a new job (the request is answered 503)",
        ("error",),
        job=True,
    ),
    # --- the worker ----------------------------------------------------------------
    "worker_started": LogEvent(
        "info", "worker", "a worker host consumes its queues", ("targets", "concurrency")
    ),
    "worker_draining": LogEvent(
        "info",
        "worker",
        "a worker stops taking jobs and lets running ones finish (FLICKRHUB_DRAIN_SECONDS)",
        ("in_flight", "grace_seconds"),
    ),
    "worker_drain_timeout": LogEvent(
        "warning",
        "worker",
        "jobs still running after the drain time were interrupted; their messages go back",
        ("interrupted",),
    ),
    "worker_stopped": LogEvent("info", "worker", "a worker host stopped", ("processed",)),
    "queue_message_invalid": LogEvent(
        "error", "worker", "a queue message was unreadable; it goes to the DLQ", ("size",)
    ),
    "job_record_missing": LogEvent(
        "warning",
        "worker",
        "a message names a job whose record is gone (expired); it is dropped",
        ("job_id",),
    ),
    "job_handling_failed": LogEvent(
        "error",
        "worker",
        "a store or the broker failed while handling a job; the message is requeued",
        ("job_id", *ERROR_FIELDS),
        job=True,
    ),
    "job_store_unavailable": LogEvent(
        "warning",
        "worker",
        "a backend (the job store) was away while handling a job: the worker keeps the "
        "message and tries the job again with backoff, for up to "
        "FLICKRHUB_STORE_WAIT_SECONDS, before it requeues it",
        ("job_id", "try_number", "error"),
    ),
    "job_lease_busy": LogEvent(
        "info",
        "worker",
        "a job's message came while another worker has the job's lease (it still runs "
        "the job): this one waits, then finds it finished",
        ("job_id", "wait_seconds"),
    ),
    "job_lease_lost": LogEvent(
        "warning",
        "worker",
        "a running job's lease lapsed and another worker took it (FLICKRHUB_JOB_LEASE_SECONDS)",
        ("job_id",),
    ),
    "job_lease_not_renewed": LogEvent(
        "warning",
        "worker",
        "a running job's lease could not be renewed (the job store is away); tried again",
        ("job_id", "error"),
    ),
    "job_already_finished": LogEvent(
        "warning",
        "worker",
        "a job's outcome was not stored: another worker (its lease had lapsed) or the API "
        "finished the job first, and that outcome stands; nothing is announced again",
        ("state", "stored_state"),
        job=True,
    ),
    "target_backend_unavailable": LogEvent(
        "warning",
        "worker",
        "a backend the target uses (a store) went away during an attempt: retried, or "
        "for an upload or replace ended outcome unknown",
        ("error",),
        job=True,
    ),
    "target_crashed": LogEvent(
        "error",
        "worker",
        "a target raised an unexpected exception (the attempt fails with ERR_TARGET)",
        ERROR_FIELDS,
        job=True,
    ),
    "ticket_not_followed": LogEvent(
        "info",
        "worker",
        "an async upload's ticket is not followed up because the job was cancelled",
        ("ticket_id", "reason"),
        job=True,
    ),
    "job_store_retry": LogEvent(
        "warning",
        "worker",
        "saving a job's state failed; it is tried again",
        ("state", "try_number", "error"),
        job=True,
    ),
    "job_progress_not_saved": LogEvent(
        "warning",
        "worker",
        "a target's progress report could not be saved (the job goes on)",
        ("error",),
        job=True,
    ),
    "photo_blob_not_deleted": LogEvent(
        "warning",
        "worker",
        "a finished photo job's stored bytes could not be deleted",
        ("blob_id", "error"),
        job=True,
    ),
    "cache_hit": LogEvent(
        "info",
        "cache",
        "a job was answered from the response cache",
        ("flickr_method",),
        job=True,
    ),
    "cache_miss": LogEvent(
        "debug", "cache", "a cacheable job was not in the cache", ("flickr_method",), job=True
    ),
    "cache_store_failed": LogEvent(
        "warning",
        "cache",
        "a result could not be written to the cache (the job still completes)",
        ("error",),
        job=True,
    ),
    # --- Flickr ----------------------------------------------------------------------
    "flickr_api_call": LogEvent(
        "debug",
        "flickr",
        "one HTTP exchange with Flickr ended (never params, tokens or bodies)",
        ("kind", "flickr_method", "status", "outcome", "flickr_code", "duration_ms"),
        job=True,
    ),
    "flickr_on_call_failed": LogEvent(
        "error",
        "flickr",
        "the Flickr client's call hook (metrics, logging) raised; the call is not affected",
        ("logger", *ERROR_FIELDS),
    ),
    # --- webhooks --------------------------------------------------------------------
    "webhook_delivered": LogEvent(
        "info",
        "webhooks",
        "a receiver answered 2xx",
        ("delivery_id", "attempts", "status"),
        job=True,
    ),
    "webhook_retrying": LogEvent(
        "info",
        "webhooks",
        "a delivery attempt failed; another follows",
        ("delivery_id", "status", "reason"),
        job=True,
    ),
    "webhook_failed": LogEvent(
        "warning",
        "webhooks",
        "a delivery was given up (attempts exhausted or not retryable)",
        ("delivery_id", "attempts", "status", "reason"),
        job=True,
    ),
    "webhook_dropped": LogEvent(
        "warning",
        "webhooks",
        "too many deliveries pending in this worker: this one is not sent",
        ("pending",),
        job=True,
    ),
    "webhook_record_failed": LogEvent(
        "error",
        "webhooks",
        "a delivery's progress could not be saved on its job",
        ("error",),
        job=True,
    ),
    # --- dead letters ----------------------------------------------------------------
    "dlq_replayed": LogEvent(
        "info",
        "dlq",
        "the web UI replayed dead letters",
        ("request_id", "owner", "found", "jobs"),
    ),
    "dlq_messages_not_removed": LogEvent(
        "warning",
        "dlq",
        "replayed or purged jobs' copies could not be taken out of flickr_dlq (noise only)",
        ("jobs", "error"),
    ),
    # --- broker and stores -----------------------------------------------------------
    "broker_settle_failed": LogEvent(
        "warning",
        "broker",
        "a message could not be acked/requeued/dead-lettered (the connection dropped); "
        "RabbitMQ delivers it again",
        ("component", "queue", "action", "error"),
    ),
    "rabbit_reconnected": LogEvent(
        "info", "broker", "the RabbitMQ connection came back", ("component",)
    ),
    "rabbit_quorum_unavailable": LogEvent(
        "warning",
        "broker",
        "the RabbitMQ server has no quorum queues; classic queues are used",
        ("component", "server_version", "using"),
    ),
    "rabbit_queue_mismatch": LogEvent(
        "error",
        "broker",
        "a queue exists with other arguments than FlickrHub declares (start refused)",
        ("component", "queue", "error"),
    ),
    "redis_connected": LogEvent("info", "stores", "the Redis plugin connected", ("prefix",)),
    "mongo_connected": LogEvent(
        "info",
        "stores",
        "the MongoDB plugin connected; which stores it serves",
        ("database", "tokens", "blobs", "archive_failed", "archive_completed"),
    ),
    "job_archive_deferred": LogEvent(
        "warning",
        "stores",
        "the MongoDB archive did not take a finished job in time; it is written later, "
        "in the background",
        ("error",),
        job=True,
    ),
    "job_archive_dropped": LogEvent(
        "error",
        "stores",
        "too many archive writes are waiting: this finished job is not archived",
        ("reason",),
        job=True,
    ),
    "job_archived_late": LogEvent(
        "info", "stores", "a deferred archive write succeeded", ("job_id",)
    ),
    "job_archive_failed": LogEvent(
        "error",
        "stores",
        "a deferred archive write failed for good: one job's (MongoDB, `job_id`) or a "
        "batch of `jobs` (SQLite)",
        ("job_id", "jobs", "error"),
    ),
    "job_archive_queue_full": LogEvent(
        "warning",
        "stores",
        "the local archive's queue is full (SQLite is not keeping up): finished jobs wait "
        "for room before they are acked; logged once until it empties again (`waits`: "
        "the jobs that waited so far)",
        ("pending", "waits"),
    ),
    "job_archive_unwritten": LogEvent(
        "error",
        "stores",
        "archive writes still waiting when the process stopped are lost",
        ("jobs",),
    ),
    "local_store_opened": LogEvent(
        "info",
        "stores",
        "the embedded mode's SQLite store opened",
        ("path", "archive_pruned"),
    ),
}


def markdown_table() -> str:
    """The catalogue as the Markdown table ``docs/logging.md`` shows."""
    rows = [
        "| event | level | area | when | fields |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, spec in EVENTS.items():
        fields = [*(["*job ids*"] if spec.job else []), *(f"`{f}`" for f in spec.fields)]
        rows.append(
            f"| `{name}` | {spec.level} | {spec.area} | {spec.when} | {', '.join(fields) or '-'} |"
        )
    return "\n".join(rows)


START = "<!-- catalogue:start -->"
END = "<!-- catalogue:end -->"


def rewrite(path: Path) -> None:
    """Put :func:`markdown_table` between the page's catalogue markers."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    replacement = f"{START}\n{markdown_table()}\n{END}"
    path.write_text(pattern.sub(lambda _m: replacement, text), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    rewrite(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/logging.md"))
