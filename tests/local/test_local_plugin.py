"""The ``local`` plugin in a runtime: its stores are picked, opened, closed and kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

import flickrhub_local
from flickrhub_core import hookimpl
from flickrhub_core.broker import MemoryBroker
from flickrhub_core.crypto import new_key
from flickrhub_core.errors import ConfigError
from flickrhub_core.jobs import JobState
from flickrhub_core.memory import MemoryTokenStore
from flickrhub_core.plugins import load_plugins
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings
from flickrhub_core.token_cache import CachedTokenStore
from flickrhub_local import DATABASE, FileBlobStore, JobArchive, SqliteTokenStore, archive_of
from tests.local.helpers import make_job, make_token

LOCAL = ("local", flickrhub_local)


def test_the_plugin_loads_and_the_runtime_picks_its_stores(settings: Settings) -> None:
    plugins = load_plugins([], found=[], extra=[LOCAL])

    runtime = Runtime.create(settings, plugins=plugins)

    assert [info.name for info in plugins.infos] == ["local"]
    assert set(plugins.infos[0].hooks) == {
        "blob_store",
        "job_archive",
        "job_event",
        "shutdown",
        "startup",
        "token_store",
    }
    assert isinstance(runtime.tokens, SqliteTokenStore)
    assert isinstance(runtime.blobs, FileBlobStore)
    assert runtime.tokens.db.path == settings.data_dir / DATABASE
    assert runtime.blobs.root == settings.data_dir / "blobs"


async def test_connected_accounts_survive_a_restart(
    make_runtime: Callable[..., Runtime],
) -> None:
    token = make_token("u1")
    first = make_runtime(LOCAL)
    await first.start()
    await first.tokens.put(token)
    await first.close()

    second = make_runtime(LOCAL)
    await second.start()
    try:
        assert await second.tokens.get("u1") == token
        assert await second.tokens.find_account("app", "ck", token.user_nsid) == token
    finally:
        await second.close()


async def test_startup_makes_the_data_dir_and_blob_dir(
    make_runtime: Callable[..., Runtime], settings: Settings
) -> None:
    runtime = make_runtime(LOCAL)
    await runtime.start()
    await runtime.close()

    assert (settings.data_dir / DATABASE).is_file()
    assert (settings.data_dir / "blobs").is_dir()


async def test_finished_jobs_are_archived_through_the_runtime(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime(LOCAL)
    await runtime.start()
    try:
        running, finished = make_job(JobState.RUNNING), make_job(JobState.COMPLETED)
        await runtime.emit("job_started", running, JobState.QUEUED)
        await runtime.emit("job_completed", finished, JobState.RUNNING)

        archive = archive_of(runtime)
        assert archive is not None
        await archive.flush()  # the hook only queues the job
        assert await archive.get(finished.id) == finished
        assert await archive.get(running.id) is None
    finally:
        await runtime.close()


async def test_a_finished_job_is_found_in_the_archive_after_a_restart(
    make_runtime: Callable[..., Runtime],
) -> None:
    first = make_runtime(LOCAL)
    await first.start()
    finished = make_job(JobState.COMPLETED)
    await first.jobs.save(finished)
    await first.emit("job_completed", finished, JobState.RUNNING)
    await first.close()

    second = make_runtime(LOCAL)  # the embedded job store starts empty
    await second.start()
    try:
        assert await second.jobs.get(finished.id) is None
        assert await second.find_job(finished.id) == finished
        assert await second.find_job("no-such-job") is None
    finally:
        await second.close()


async def test_stopping_the_runtime_writes_the_queued_jobs(
    make_runtime: Callable[..., Runtime], settings: Settings
) -> None:
    runtime = make_runtime(LOCAL)
    await runtime.start()
    jobs = [make_job(JobState.COMPLETED) for _ in range(50)]
    for job in jobs:
        await runtime.emit("job_completed", job, JobState.RUNNING)

    await runtime.close()

    archive = JobArchive(settings.data_dir / DATABASE)
    try:
        assert [await archive.get(job.id) for job in jobs] == jobs
    finally:
        await archive.close()


async def test_startup_prunes_the_archive(
    make_runtime: Callable[..., Runtime], settings: Settings
) -> None:
    old = make_job(JobState.COMPLETED, age=settings.job_ttl_complete + 60)
    archive = JobArchive(settings.data_dir / DATABASE)
    await archive.record(old)
    await archive.close()

    runtime = make_runtime(LOCAL)
    await runtime.start()
    try:
        archived = archive_of(runtime)
        assert archived is not None
        assert await archived.get(old.id) is None
    finally:
        await runtime.close()


async def test_nothing_is_archived_after_shutdown(
    make_runtime: Callable[..., Runtime], settings: Settings
) -> None:
    runtime = make_runtime(LOCAL)
    await runtime.start()
    await runtime.close()
    job = make_job(JobState.COMPLETED)

    await runtime.emit("job_completed", job, JobState.RUNNING)

    archive = JobArchive(settings.data_dir / DATABASE)
    try:
        assert await archive.get(job.id) is None
    finally:
        await archive.close()


async def test_an_unusable_data_dir_stops_the_start_with_one_line(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    async def build_and_start() -> None:
        runtime = make_runtime(LOCAL, data_dir=blocker / "data")  # makes the key file
        await runtime.start()

    with pytest.raises(ConfigError) as info:
        await build_and_start()

    assert "FLICKRHUB_DATA_DIR" in str(info.value)
    assert "\n" not in str(info.value)


class SharedBroker(MemoryBroker):
    shared = True


class SharedBackends:
    """Stands in for the shared stores a ``worker`` needs (never used here)."""

    @hookimpl
    def job_store(self, runtime: Runtime) -> object:
        return object()

    @hookimpl
    def request_token_store(self, runtime: Runtime) -> object:
        return object()


async def test_a_workers_token_cache_keeps_the_local_stores_in_use(
    settings: Settings,
) -> None:
    keyed = settings.model_copy(update={"secret_key": SecretStr(new_key())})
    plugins = load_plugins([], found=[], extra=[LOCAL, ("shared", SharedBackends())])
    runtime = Runtime(keyed, plugins, role="worker", broker=SharedBroker())
    await runtime.start()
    try:
        assert isinstance(runtime.tokens, CachedTokenStore)
        assert isinstance(runtime.token_store, SqliteTokenStore)
        job = make_job(JobState.COMPLETED)
        await runtime.emit("job_completed", job, JobState.RUNNING)
        archive = archive_of(runtime)
        assert archive is not None
        await archive.flush()
        assert await archive.get(job.id) == job
    finally:
        await runtime.close()


class OtherTokenStore:
    """A plugin answering ``token_store`` ahead of ``local`` (as ``mongo`` would)."""

    @hookimpl
    def token_store(self, runtime: Runtime) -> MemoryTokenStore:
        return MemoryTokenStore()


async def test_local_stays_idle_when_another_plugin_keeps_the_tokens(
    make_runtime: Callable[..., Runtime], settings: Settings
) -> None:
    runtime = make_runtime(LOCAL, ("other", OtherTokenStore()))
    await runtime.start()
    try:
        assert isinstance(runtime.tokens, MemoryTokenStore)
        await runtime.emit("job_completed", make_job(JobState.COMPLETED), JobState.RUNNING)
    finally:
        await runtime.close()

    assert not (settings.data_dir / DATABASE).exists()
