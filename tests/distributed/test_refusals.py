"""A distributed configuration that cannot work is refused at start with one line, before
anything connects (the service URLs here point at closed ports); narrowing the plugins
with ``FLICKRHUB_PLUGINS`` keeps the distributed backends."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flickrhub_core.broker.rabbitmq import RabbitBroker
from flickrhub_core.cli import cli
from flickrhub_core.crypto import new_key
from flickrhub_core.errors import ConfigError
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import load_settings
from flickrhub_mongo import GridFSBlobStore, MongoTokenStore
from flickrhub_redis import RedisCache, RedisJobStore, RedisRequestTokenStore
from tests.distributed.cluster import INHERITED, free_port

Invoke = Callable[..., Result]


@pytest.fixture
def urls() -> dict[str, str]:
    """Service URLs nobody listens on: a refusal must not need them."""
    return {
        "RABBIT_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "MONGO_URL": f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=500",
    }


@pytest.fixture
def invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    for name in list(os.environ):
        if name.upper().startswith(INHERITED):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("FLICKRHUB_DATA_DIR", str(tmp_path / "data"))

    def run(*args: str, **env: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env)

    return run


def one_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("flickrhub: error: ")
    return lines[0]


def test_worker_with_a_broker_but_no_redis_is_refused(invoke: Invoke, urls: dict[str, str]) -> None:
    line = one_line(invoke("worker", RABBIT_URL=urls["RABBIT_URL"], FLICKRHUB_SECRET_KEY=new_key()))
    assert "'flickrhub worker'" in line
    assert "job store, OAuth request-token store are in memory" in line
    assert "REDIS_URL" in line
    assert "guest:guest" not in line


def test_api_with_the_in_memory_broker_is_refused(invoke: Invoke, urls: dict[str, str]) -> None:
    env = {"REDIS_URL": urls["REDIS_URL"], "MONGO_URL": urls["MONGO_URL"]}
    line = one_line(invoke("api", "--port", "0", **env, FLICKRHUB_SECRET_KEY=new_key()))
    assert "'flickrhub api'" in line
    assert "the broker is in memory" in line
    assert "RABBIT_URL" in line


def test_worker_without_a_shared_secret_key_is_refused(
    invoke: Invoke, urls: dict[str, str]
) -> None:
    line = one_line(invoke("worker", **urls))
    assert "share one key" in line
    assert "FLICKRHUB_SECRET_KEY" in line


def test_worker_for_a_target_that_narrowing_removed_is_refused(
    invoke: Invoke, urls: dict[str, str]
) -> None:
    env = {**urls, "FLICKRHUB_SECRET_KEY": new_key(), "FLICKRHUB_PLUGINS": "rest,redis,mongo"}
    line = one_line(invoke("worker", "--target", "upload", **env))
    assert "unknown target 'upload' (enabled targets: rest)" in line


def test_narrowed_plugins_keep_the_distributed_backends(urls: dict[str, str]) -> None:
    settings = load_settings(
        **urls,
        FLICKRHUB_PLUGINS="rest,redis,mongo",
        FLICKRHUB_SECRET_KEY=new_key(),
    )
    runtime = Runtime.create(settings, role="worker")
    assert sorted(info.name for info in runtime.plugins.infos) == ["mongo", "redis", "rest"]
    assert set(runtime.targets) == {"rest"}
    assert isinstance(runtime.broker, RabbitBroker)
    assert isinstance(runtime.jobs, RedisJobStore)
    assert isinstance(runtime.cache, RedisCache)
    assert isinstance(runtime.request_tokens, RedisRequestTokenStore)
    assert isinstance(runtime.token_store, MongoTokenStore)  # under the worker's token cache
    assert isinstance(runtime.blobs, GridFSBlobStore)


def test_narrowing_away_redis_is_refused(urls: dict[str, str]) -> None:
    settings = load_settings(**urls, FLICKRHUB_PLUGINS="rest,mongo", FLICKRHUB_SECRET_KEY=new_key())
    with pytest.raises(ConfigError, match="job store, OAuth request-token store are in memory"):
        Runtime.create(settings, role="api")
