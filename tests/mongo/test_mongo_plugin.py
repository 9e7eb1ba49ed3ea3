"""The ``mongo`` plugin in a runtime: it answers only with ``MONGO_URL``, wins over
``local``, makes its indexes at start, archives through ``job_event``, and a
failed start says why in one line without the URL."""

from __future__ import annotations

import socket
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from pydantic import SecretStr

import flickrhub_local
import flickrhub_mongo
from flickrhub_core.errors import ConfigError
from flickrhub_core.flickr import Credentials
from flickrhub_core.jobs import JobState
from flickrhub_core.plugins import load_plugins
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings, load_settings
from flickrhub_core.stores import JobQuery
from flickrhub_local import FileBlobStore, SqliteTokenStore
from flickrhub_mongo import GridFSBlobStore, MongoTokenStore, archive_of
from flickrhub_mongo import _connection as connection
from tests.mongo.helpers import MongoServer, index_keys, make_job, make_token, stream

LOCAL = ("local", flickrhub_local)
MONGO = ("mongo", flickrhub_mongo)


@pytest.fixture
def mongo_settings(settings: Settings, mongo_server: MongoServer, suffix: str) -> Settings:
    return settings.model_copy(
        update={
            "mongo_url": SecretStr(mongo_server.url),
            "mongo_db": mongo_server.database,
            "token_collection": f"tokens_{suffix}",
            "job_collection": f"jobs_{suffix}",
        }
    )


def make_runtime(settings: Settings, *plugins: tuple[str, object]) -> Runtime:
    return Runtime.create(
        settings,
        plugins=load_plugins([], found=[], extra=list(plugins)),
        consumer=Credentials("key", "secret"),
    )


def test_the_plugin_is_installed_under_its_entry_point() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="flickrhub")}

    assert found["mongo"] == "flickrhub_mongo"


def test_without_mongo_url_the_plugin_does_not_answer(settings: Settings) -> None:
    plain = settings.model_copy(update={"mongo_url": None})

    runtime = make_runtime(plain, LOCAL, MONGO)

    assert isinstance(runtime.tokens, SqliteTokenStore)
    assert isinstance(runtime.blobs, FileBlobStore)
    assert archive_of(runtime) is None


@pytest.mark.parametrize(
    "order", [(LOCAL, MONGO), (MONGO, LOCAL)], ids=["local-first", "mongo-first"]
)
def test_with_mongo_url_it_wins_over_local_in_either_order(
    mongo_settings: Settings, order: tuple[tuple[str, object], ...]
) -> None:
    plugins = load_plugins([], found=[], extra=list(order))

    runtime = Runtime.create(mongo_settings, plugins=plugins)

    assert isinstance(runtime.tokens, MongoTokenStore)
    assert isinstance(runtime.blobs, GridFSBlobStore)
    assert runtime.tokens.keyring is runtime.keyring
    mongo_info = next(info for info in plugins.infos if info.name == "mongo")
    assert set(mongo_info.hooks) == {
        "blob_store",
        "job_archive",
        "job_event",
        "shutdown",
        "startup",
        "token_store",
    }


async def test_a_runtime_on_mongo_stores_tokens_blobs_and_the_archive(
    mongo_settings: Settings,
) -> None:
    runtime = make_runtime(mongo_settings, LOCAL, MONGO)
    await runtime.start()
    try:
        token = make_token("u1")
        await runtime.tokens.put(token)
        assert await runtime.tokens.get("u1") == token

        info = await runtime.blobs.put(stream([b"photo"]), filename="a.jpg", content_type=None)
        assert [chunk async for chunk in runtime.blobs.open(info.id)] == [b"photo"]

        failed, completed = make_job(JobState.FAILED), make_job(JobState.COMPLETED)
        running = make_job(JobState.RUNNING)
        await runtime.emit("job_started", running, JobState.QUEUED)
        await runtime.emit("job_failed", failed, JobState.RUNNING)
        await runtime.emit("job_completed", completed, JobState.RUNNING)

        archive = archive_of(runtime)
        assert archive is not None
        assert await archive.list(JobQuery(owner="app")) == [failed]
        assert flickrhub_local.archive_of(runtime) is None  # local stayed idle
        # The job store never held them: reads of a job fall back to the archive.
        assert await runtime.find_job(failed.id) == failed
        assert await runtime.find_job(completed.id) is None  # not kept by default
    finally:
        await runtime.close()


async def test_startup_makes_the_indexes(mongo_settings: Settings) -> None:
    runtime = make_runtime(mongo_settings, LOCAL, MONGO)
    await runtime.start()
    try:
        assert isinstance(runtime.tokens, MongoTokenStore)
        conn = runtime.tokens.conn
        tokens = await index_keys(conn, mongo_settings.token_collection)
        jobs = await index_keys(conn, mongo_settings.job_collection)
    finally:
        await runtime.close()

    assert tokens[("user_id",)].get("unique") is True
    assert jobs[("job_id",)].get("unique") is True
    assert runtime.tokens.conn._client is None  # shutdown closed the client


async def test_completed_jobs_are_archived_with_save_completed_to_mongo(
    mongo_settings: Settings,
) -> None:
    runtime = make_runtime(
        mongo_settings.model_copy(update={"save_completed_to_mongo": True}), LOCAL, MONGO
    )
    await runtime.start()
    try:
        completed = make_job(JobState.COMPLETED)
        await runtime.emit("job_completed", completed, JobState.RUNNING)
        archive = archive_of(runtime)
        assert archive is not None
        assert await archive.get(completed.id) == completed
    finally:
        await runtime.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mongodb://flickr:{password}@127.0.0.1:{port}/?authSource=admin", "no server answered"),
        ("mongodb://flickr:{password}:extra@127.0.0.1:{port}/", "not a valid"),
        ("mongodb://flickr:{password}@127.0.0.1:99999{port}/", "not a valid"),
        ("mongo://flickr:{password}@127.0.0.1:{port}/", "not a valid"),
    ],
    ids=["unreachable", "bad-userinfo", "bad-port", "bad-scheme"],
)
async def test_a_failed_start_says_why_in_one_line_without_the_url(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    monkeypatch.setattr(connection, "SERVER_SELECTION_TIMEOUT_MS", 300)
    password = "s3cret-Pa55word"
    full = url.format(password=password, port=closed_port())
    runtime = make_runtime(settings.model_copy(update={"mongo_url": SecretStr(full)}), MONGO)

    with pytest.raises(ConfigError) as failure:
        await runtime.start()

    message = str(failure.value)
    assert "MONGO_URL" in message
    assert says in message
    assert password not in message
    assert full not in message
    assert "\n" not in message
    await runtime.close()  # nothing to close: start failed


def test_the_archive_settings_use_the_earlier_systems_names(tmp_path: Path) -> None:
    defaults = load_settings(FLICKRHUB_DATA_DIR=tmp_path)
    assert defaults.save_completed_to_mongo is False
    assert defaults.save_failed_to_mongo is True
    assert defaults.job_ttl_complete_days == defaults.job_ttl_fail_days == 0
    assert (defaults.token_collection, defaults.job_collection) == ("tokens", "jobs")

    changed = load_settings(
        SAVE_COMPLETED_TO_MONGO="true",
        SAVE_FAILED_TO_MONGO="false",
        JOB_TTL_COMPLETE_DAYS="3",
        JOB_TTL_FAIL_DAYS="30",
        TOKEN_COLLECTION="flickr_tokens",
        JOB_COLLECTION="flickr_jobs",
    )
    assert changed.save_completed_to_mongo is True
    assert changed.save_failed_to_mongo is False
    assert (changed.job_ttl_complete_days, changed.job_ttl_fail_days) == (3, 30)
    assert (changed.token_collection, changed.job_collection) == ("flickr_tokens", "flickr_jobs")

    with pytest.raises(ConfigError, match="JOB_TTL_FAIL_DAYS"):
        load_settings(JOB_TTL_FAIL_DAYS="-1")
