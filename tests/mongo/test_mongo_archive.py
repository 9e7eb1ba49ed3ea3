"""The Mongo job archive: which finished jobs it keeps, its indexes, reading it back."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import pytest
from pymongo.errors import DuplicateKeyError

from flickrhub_core.jobs import JobState
from flickrhub_core.stores import JobQuery
from flickrhub_mongo import ArchivePolicy, MongoConnection
from flickrhub_mongo._archive import DAY
from tests.mongo.helpers import MakeArchive, index_keys, make_job


async def test_failed_jobs_are_archived_and_completed_ones_are_not_by_default(
    make_archive: MakeArchive,
) -> None:
    archive = await make_archive()
    failed, completed, cancelled = (
        make_job(JobState.FAILED),
        make_job(JobState.COMPLETED),
        make_job(JobState.CANCELLED),
    )

    assert await archive.record(failed) is True
    assert await archive.record(completed) is False
    assert await archive.record(cancelled) is False

    assert await archive.get(failed.id) == failed
    assert await archive.get(completed.id) is None
    assert await archive.get(cancelled.id) is None


async def test_completed_and_cancelled_jobs_are_archived_with_the_flag(
    make_archive: MakeArchive,
) -> None:
    archive = await make_archive(ArchivePolicy(save_completed=True))
    completed, cancelled = make_job(JobState.COMPLETED), make_job(JobState.CANCELLED)

    assert await archive.record(completed) is True
    assert await archive.record(cancelled) is True

    assert await archive.get(completed.id) == completed
    assert await archive.get(cancelled.id) == cancelled
    raw = await archive.collection.find_one({"job_id": cancelled.id})
    assert raw is not None
    assert raw["completed_at"] == cancelled.finished_at
    assert "failed_at" not in raw


async def test_failed_jobs_are_not_archived_when_turned_off(make_archive: MakeArchive) -> None:
    archive = await make_archive(ArchivePolicy(save_failed=False, save_completed=True))
    failed = make_job(JobState.FAILED)

    assert await archive.record(failed) is False
    assert await archive.get(failed.id) is None


async def test_unfinished_jobs_are_never_archived(make_archive: MakeArchive) -> None:
    archive = await make_archive(ArchivePolicy(save_completed=True))

    for state in (JobState.QUEUED, JobState.RUNNING, JobState.RETRYING):
        job = make_job(state)
        assert await archive.record(job) is False
        assert await archive.get(job.id) is None


async def test_the_document_has_queryable_fields_and_dates(make_archive: MakeArchive) -> None:
    archive = await make_archive()
    job = make_job(JobState.FAILED, user_id="u7", method="flickr.photos.delete")

    await archive.record(job)
    raw = await archive.collection.find_one({"job_id": job.id})

    assert raw is not None
    assert raw["job_id"] == job.id
    assert raw["owner"] == "app"
    assert raw["user_id"] == "u7"
    assert raw["method"] == "flickr.photos.delete"
    assert raw["state"] == "failed"
    assert raw["error"] == {"code": "ERR_X", "message": "no"}
    for name in ("created_at", "finished_at", "failed_at"):
        assert isinstance(raw[name], datetime), name
    assert raw["failed_at"] == job.finished_at
    assert "completed_at" not in raw


async def test_a_job_that_finishes_again_replaces_its_document(
    make_archive: MakeArchive,
) -> None:
    archive = await make_archive(ArchivePolicy(save_completed=True))
    job = make_job(JobState.FAILED)
    await archive.record(job)

    job.state = JobState.COMPLETED
    job.error = None
    await archive.record(job)

    assert await archive.collection.count_documents({"job_id": job.id}) == 1
    raw = await archive.collection.find_one({"job_id": job.id})
    assert raw is not None
    assert raw["state"] == "completed"
    assert "failed_at" not in raw  # or its TTL would remove a completed job early
    assert isinstance(raw["completed_at"], datetime)
    assert await archive.get(job.id) == job


async def test_the_job_id_is_unique(make_archive: MakeArchive) -> None:
    archive = await make_archive()
    job = make_job(JobState.FAILED)
    await archive.record(job)

    with pytest.raises(DuplicateKeyError):
        await archive.collection.insert_one({"job_id": job.id})


async def test_list_filters_by_owner_and_fields_newest_first(make_archive: MakeArchive) -> None:
    archive = await make_archive(ArchivePolicy(save_completed=True))
    old = make_job(JobState.FAILED, age=30)
    mid = make_job(JobState.COMPLETED, age=20, method="flickr.photos.search")
    new = make_job(JobState.COMPLETED, age=10, user_id="u2", target="upload", method=None)
    foreign = make_job(JobState.FAILED, owner="other")
    for job in (mid, foreign, new, old):
        await archive.record(job)

    assert await archive.list(JobQuery(owner="app")) == [new, mid, old]
    assert await archive.list(JobQuery(owner="app", limit=2)) == [new, mid]
    assert await archive.list(JobQuery(owner="app", limit=0)) == []
    assert await archive.list(JobQuery(owner="app", state=JobState.FAILED)) == [old]
    assert await archive.list(JobQuery(owner="app", user_id="u2")) == [new]
    assert await archive.list(JobQuery(owner="app", target="upload")) == [new]
    assert await archive.list(JobQuery(owner="app", method="flickr.photos.search")) == [mid]
    assert await archive.list(JobQuery(owner="other")) == [foreign]
    assert await archive.list(JobQuery(owner="nobody")) == []


async def test_list_takes_a_time_range_a_batch_and_a_keyset_cursor(
    make_archive: MakeArchive,
) -> None:
    archive = await make_archive(ArchivePolicy(save_completed=True))
    jobs = [make_job(JobState.COMPLETED, age=age) for age in (40, 30, 20, 10)]
    twin = make_job(JobState.COMPLETED).model_copy(update={"created_at": jobs[1].created_at})
    jobs[2].batch_id = "batch-1"
    for job in (*jobs, twin):
        await archive.record(job)
    oldest, second, third, newest = jobs
    same_instant = sorted([second, twin], key=lambda job: job.id, reverse=True)

    assert await archive.list(JobQuery(owner="app")) == [newest, third, *same_instant, oldest]
    assert await archive.list(JobQuery(owner="app", batch_id="batch-1")) == [third]
    assert await archive.list(
        JobQuery(owner="app", since=second.created_at, until=newest.created_at)
    ) == [third, *same_instant]
    assert await archive.list(JobQuery(owner="app", before=third.created_at)) == [
        *same_instant,
        oldest,
    ]
    first, last = same_instant
    assert await archive.list(
        JobQuery(owner="app", before=first.created_at, before_id=first.id)
    ) == [last, oldest]


async def test_the_indexes_exist_without_ttl_when_retention_is_zero(
    make_archive: MakeArchive, conn: MongoConnection
) -> None:
    archive = await make_archive()
    await archive.ensure_indexes()  # a second time changes nothing

    indexes = await index_keys(conn, archive.collection_name)

    assert indexes[("job_id",)].get("unique") is True
    assert ("owner", "created_at") in indexes
    for field in ("user_id", "state", "method"):
        assert (field,) in indexes, field
    assert ("completed_at",) not in indexes
    assert ("failed_at",) not in indexes


async def test_ttl_indexes_follow_the_retention_in_days(
    make_archive: MakeArchive, conn: MongoConnection
) -> None:
    archive = await make_archive(ArchivePolicy(ttl_complete_days=2, ttl_fail_days=7))

    indexes = await index_keys(conn, archive.collection_name)

    assert indexes[("completed_at",)]["expireAfterSeconds"] == 2 * DAY
    assert indexes[("failed_at",)]["expireAfterSeconds"] == 7 * DAY


@pytest.mark.real_mongo
async def test_a_changed_retention_changes_the_ttl_index_and_zero_drops_it(
    make_archive: MakeArchive, conn: MongoConnection
) -> None:
    archive = await make_archive(ArchivePolicy(ttl_complete_days=2, ttl_fail_days=7))

    await make_archive(ArchivePolicy(ttl_complete_days=3, ttl_fail_days=0))
    indexes = await index_keys(conn, archive.collection_name)

    assert indexes[("completed_at",)]["expireAfterSeconds"] == 3 * DAY
    assert ("failed_at",) not in indexes


@pytest.mark.real_mongo
async def test_the_server_removes_failed_jobs_past_their_retention(
    make_archive: MakeArchive,
) -> None:
    """mongod's TTL monitor runs once a minute: this waits up to two."""
    archive = await make_archive(ArchivePolicy(ttl_fail_days=1))
    expired = make_job(JobState.FAILED, age=2 * DAY)
    kept = make_job(JobState.FAILED)
    await archive.record(expired)
    await archive.record(kept)

    deadline = time.monotonic() + 130
    while await archive.get(expired.id) is not None:
        assert time.monotonic() < deadline, "the TTL index removed nothing"
        await asyncio.sleep(2)

    assert await archive.get(kept.id) == kept


async def test_jobs_are_archived_beside_the_earlier_systems_unique_job_id_index(
    make_archive: MakeArchive,
) -> None:
    archive = await make_archive()
    await archive.collection.create_index("jobId", unique=True)  # as the earlier system made it
    first, second = make_job(JobState.FAILED), make_job(JobState.FAILED)

    assert await archive.record(first) is True
    assert await archive.record(second) is True

    raw = await archive.collection.find_one({"jobId": second.id})
    assert raw is not None and raw["job_id"] == second.id
