"""A job the job store let go (its ``JOB_TTL_*``, the embedded mode's restart) is
still read from the archive, as the earlier system's clients polled jobs kept in
MongoDB."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from flickrhub_core import hookimpl
from flickrhub_core.jobs import Job
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import StoredToken
from tests.api.conftest import REST, Client, finish_job

STATUS = "/api/v1/flickr/jobs/status"
CALL = {"method": "flickr.test.echo", "user_id": "user-1"}


class DictArchive:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}

    async def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)


class ArchivePlugin:
    def __init__(self, archive: DictArchive) -> None:
        self.archive = archive

    @hookimpl
    def job_archive(self, runtime: Runtime) -> DictArchive:
        return self.archive


@pytest.fixture
def archive() -> DictArchive:
    return DictArchive()


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime], archive: DictArchive) -> Runtime:
    return make_runtime(("archive", ArchivePlugin(archive)))


async def finished_and_let_go(client: Client, rt: Runtime, archive: DictArchive) -> str:
    """A completed job that only the archive still holds."""
    response = await client.post(REST, json=CALL)
    job = await finish_job(rt, (await response.get_json())["data"]["job_id"], {"stat": "ok"})
    archive.jobs[job.id] = job
    await rt.jobs.delete(job.id)
    return job.id


async def test_status_reads_a_job_the_job_store_let_go_from_the_archive(
    client: Client, rt: Runtime, archive: DictArchive, user: StoredToken
) -> None:
    job_id = await finished_and_let_go(client, rt, archive)

    response = await client.post(STATUS, json={"job_id": job_id, "user_id": "user-1"})

    assert response.status_code == 200
    view = (await response.get_json())["data"]
    assert (view["id"], view["state"]) == (job_id, "completed")
    assert view["returnvalue"]["flickr"] == {"stat": "ok"}


async def test_the_job_route_reads_the_archive_too(
    client: Client, rt: Runtime, archive: DictArchive, user: StoredToken
) -> None:
    job_id = await finished_and_let_go(client, rt, archive)

    response = await client.get(f"/api/v1/flickr/jobs/{job_id}")

    assert response.status_code == 200
    assert (await response.get_json())["data"]["state"] == "completed"


async def test_an_archived_job_is_still_not_found_for_another_user(
    client: Client, rt: Runtime, archive: DictArchive, user: StoredToken
) -> None:
    job_id = await finished_and_let_go(client, rt, archive)

    response = await client.post(STATUS, json={"job_id": job_id, "user_id": "user-2"})

    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "ERR_JOB_NOT_FOUND"
