"""The job archive in MongoDB: the ``JOB_COLLECTION`` (``jobs``), one document per
finished job, fed by the ``job_event`` hook.

Which jobs it keeps follows the earlier system's settings: failed jobs unless
``SAVE_FAILED_TO_MONGO`` is false, completed (and cancelled) jobs only when
``SAVE_COMPLETED_TO_MONGO`` is true. A job is upserted by ``job_id`` whenever it
reaches a finished state (a replayed job that finishes again replaces it).

Document: the queryable fields at the top level (``job_id`` and, as the earlier
system named it, ``jobId``; ``owner``,
``user_id``, ``target``, ``method``, ``state``, ``attempts``, ``error``,
``trace_id``, ``batch_id``, BSON dates ``created_at`` / ``finished_at``, and
``completed_at`` or ``failed_at``) and the whole job as JSON in ``record``, which is what
:meth:`JobArchive.get` and :meth:`JobArchive.list` return. JSON keeps a client's
``meta`` keys (which may start with ``$`` or hold dots) out of field names.

Indexes, made at start: ``job_id`` (unique), ``(owner, created_at)``,
``user_id``, ``state``, ``method``; TTL indexes on ``completed_at``
(``JOB_TTL_COMPLETE_DAYS`` days) and ``failed_at`` (``JOB_TTL_FAIL_DAYS``), each
only when the value is > 0. A changed retention is applied to the existing TTL
index; a retention set back to 0 drops it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from flickrhub_core.jobs import Job, JobState, utcnow
from flickrhub_core.settings import Settings
from flickrhub_core.stores import JobQuery
from flickrhub_mongo._connection import Document, MongoConnection

DAY = 86_400
#: ``JobQuery`` fields that are plain equality filters on a top-level field.
_FILTERS = ("user_id", "state", "target", "method", "batch_id")
_RECORD_ONLY = {"_id": False, "record": True}


@dataclass(frozen=True)
class ArchivePolicy:
    """Which finished jobs are archived, and for how many days (0 = forever)."""

    save_completed: bool = False
    save_failed: bool = True
    ttl_complete_days: int = 0
    ttl_fail_days: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchivePolicy:
        return cls(
            save_completed=settings.save_completed_to_mongo,
            save_failed=settings.save_failed_to_mongo,
            ttl_complete_days=settings.job_ttl_complete_days,
            ttl_fail_days=settings.job_ttl_fail_days,
        )

    def keeps(self, job: Job) -> bool:
        if job.state is JobState.FAILED:
            return self.save_failed
        if job.state in (JobState.COMPLETED, JobState.CANCELLED):
            return self.save_completed
        return False


class JobArchive:
    """Finished jobs in MongoDB, kept until their TTL index removes them."""

    def __init__(self, conn: MongoConnection, collection: str, policy: ArchivePolicy) -> None:
        self.conn = conn
        self.collection_name = collection
        self.policy = policy

    @property
    def collection(self) -> AsyncCollection[Document]:
        return self.conn.collection(self.collection_name)

    async def ensure_indexes(self) -> None:
        col = self.collection
        await col.create_index([("job_id", ASCENDING)], unique=True)
        await col.create_index([("owner", ASCENDING), ("created_at", DESCENDING)])
        for field in ("user_id", "state", "method"):
            await col.create_index([(field, ASCENDING)])
        await self._sync_ttl("completed_at", self.policy.ttl_complete_days * DAY)
        await self._sync_ttl("failed_at", self.policy.ttl_fail_days * DAY)

    async def record(self, job: Job) -> bool:
        """Archive ``job`` if it finished and the policy keeps it; return whether stored."""
        if not job.state.finished or not self.policy.keeps(job):
            return False
        finished_at = job.finished_at or utcnow()
        ttl_field, other = (
            ("failed_at", "completed_at")
            if job.state is JobState.FAILED
            else ("completed_at", "failed_at")
        )
        fields: dict[str, Any] = {
            # The earlier system's name: its unique ``jobId`` index, if the collection
            # still has it, stays satisfied, and its tools find the job by it.
            "jobId": job.id,
            "owner": job.owner,
            "user_id": job.user_id,
            "target": job.target,
            "method": job.method,
            "queue": job.queue,
            "state": job.state.value,
            "attempts": job.attempts,
            "max_attempts": job.max_attempts,
            "error": job.error,
            "trace_id": job.trace_id,
            "batch_id": job.batch_id,
            "created_at": job.created_at,
            "finished_at": finished_at,
            ttl_field: finished_at,
            "record": job.model_dump_json(),
        }
        await self.collection.update_one(
            {"job_id": job.id}, {"$set": fields, "$unset": {other: ""}}, upsert=True
        )
        return True

    async def get(self, job_id: str) -> Job | None:
        doc = await self.collection.find_one({"job_id": job_id}, _RECORD_ONLY)
        return None if doc is None else Job.model_validate_json(doc["record"])

    async def list(self, query: JobQuery) -> list[Job]:
        """At most ``query.limit`` jobs matching ``query``, newest first (``created_at``,
        then ``job_id``, both descending), ``query.owner`` always applied."""
        if query.limit <= 0:  # a Mongo limit of 0 would mean "no limit"
            return []
        cursor = (
            self.collection.find(_where(query), _RECORD_ONLY)
            .sort([("created_at", DESCENDING), ("job_id", DESCENDING)])
            .limit(query.limit)
        )
        return [Job.model_validate_json(doc["record"]) async for doc in cursor]

    async def _sync_ttl(self, field: str, seconds: int) -> None:
        """Make the TTL index on ``field`` expire after ``seconds`` (none when 0).

        Indexes are found by their key, never by name (servers name them differently).
        """
        col = self.collection
        existing: dict[str, Any] | None = None
        async for index in await col.list_indexes():
            if dict(index["key"]) == {field: 1}:
                existing = dict(index)
        if seconds > 0:
            if existing is None:
                await col.create_index([(field, ASCENDING)], expireAfterSeconds=seconds)
            elif existing.get("expireAfterSeconds") != seconds:
                await self.conn.db.command(
                    "collMod",
                    self.collection_name,
                    index={"keyPattern": {field: 1}, "expireAfterSeconds": seconds},
                )
        elif existing is not None and "expireAfterSeconds" in existing:
            await col.drop_index(existing["name"])


def _where(query: JobQuery) -> dict[str, Any]:
    """The Mongo filter of ``query``: its fields, its time range and its keyset cursor."""
    clauses: list[dict[str, Any]] = [{"owner": query.owner}]
    for name in _FILTERS:
        value = getattr(query, name)
        if value is not None:
            clauses.append({name: value.value if isinstance(value, JobState) else value})
    if query.since is not None:
        clauses.append({"created_at": {"$gte": query.since}})
    if query.until is not None:
        clauses.append({"created_at": {"$lt": query.until}})
    if query.before is not None:
        if query.before_id is None:
            clauses.append({"created_at": {"$lt": query.before}})
        else:
            clauses.append(
                {
                    "$or": [
                        {"created_at": {"$lt": query.before}},
                        {"created_at": query.before, "job_id": {"$lt": query.before_id}},
                    ]
                }
            )
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
