"""The job archive: finished jobs in SQLite, listed newest first, pruned by age."""

from __future__ import annotations

from flickrhub_core.jobs import JobState
from flickrhub_core.stores import JobQuery
from flickrhub_local import JobArchive
from tests.local.helpers import make_job


async def test_a_finished_job_is_archived_whole(archive: JobArchive) -> None:
    job = make_job(JobState.COMPLETED)

    assert await archive.record(job) is True

    assert await archive.get(job.id) == job


async def test_failed_and_cancelled_jobs_are_archived(archive: JobArchive) -> None:
    failed, cancelled = make_job(JobState.FAILED), make_job(JobState.CANCELLED)

    await archive.record(failed)
    await archive.record(cancelled)

    assert await archive.get(failed.id) == failed
    assert await archive.get(cancelled.id) == cancelled


async def test_unfinished_jobs_are_not_archived(archive: JobArchive) -> None:
    for state in (JobState.QUEUED, JobState.RUNNING, JobState.RETRYING):
        job = make_job(state)
        assert await archive.record(job) is False
        assert await archive.get(job.id) is None


async def test_a_job_that_finishes_again_replaces_its_row(archive: JobArchive) -> None:
    job = make_job(JobState.FAILED)
    await archive.record(job)
    replayed = job.model_copy(update={"state": JobState.COMPLETED, "result": {"ok": 1}})

    await archive.record(replayed)

    assert await archive.get(job.id) == replayed
    assert len(await archive.list(JobQuery(owner="app"))) == 1


async def test_list_shows_one_owners_jobs_newest_first(archive: JobArchive) -> None:
    old, new = make_job(age=60), make_job(age=0)
    for job in (new, old, make_job(owner="someone-else")):
        await archive.record(job)

    assert [j.id for j in await archive.list(JobQuery(owner="app"))] == [new.id, old.id]


async def test_list_applies_every_filter_and_the_limit(archive: JobArchive) -> None:
    wanted = make_job(JobState.FAILED, user_id="u2", target="upload", method=None)
    await archive.record(wanted)
    await archive.record(make_job(JobState.COMPLETED, user_id="u2", target="upload", method=None))
    await archive.record(make_job(JobState.FAILED, user_id="u1", target="upload", method=None))
    await archive.record(make_job(JobState.FAILED, user_id="u2", target="rest"))

    query = JobQuery(owner="app", user_id="u2", state=JobState.FAILED, target="upload")
    assert [j.id for j in await archive.list(query)] == [wanted.id]
    by_method = JobQuery(owner="app", method="flickr.test.echo")
    assert len(await archive.list(by_method)) == 1
    assert len(await archive.list(JobQuery(owner="app", limit=2))) == 2


async def test_prune_removes_jobs_past_their_retention(archive: JobArchive) -> None:
    day = 86_400
    kept = [make_job(JobState.COMPLETED, age=day - 60), make_job(JobState.FAILED, age=2 * day)]
    gone = [
        make_job(JobState.COMPLETED, age=day + 60),
        make_job(JobState.CANCELLED, age=day + 60),
        make_job(JobState.FAILED, age=8 * day),
    ]
    for job in kept + gone:
        await archive.record(job)

    assert await archive.prune(ttl_complete=day, ttl_fail=7 * day) == len(gone)

    remaining = {j.id for j in await archive.list(JobQuery(owner="app"))}
    assert remaining == {j.id for j in kept}


async def test_a_zero_ttl_keeps_jobs_forever(archive: JobArchive) -> None:
    await archive.record(make_job(JobState.COMPLETED, age=10 * 365 * 86_400))

    assert await archive.prune(ttl_complete=0, ttl_fail=0) == 0
