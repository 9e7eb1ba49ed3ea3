"""``/readyz`` of an API runtime on the real services: ready while each dependency
answers, 503 naming the ones that stopped (Redis, then MongoDB, cut off behind a TCP
proxy, the way a network failure would)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import quart.typing
from quart.testing import TestApp as QuartTestApp  # aliased: pytest would collect "Test..."

from flickrhub_api import create_app
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import load_settings
from tests.distributed.cluster import INHERITED, Backends
from tests.rabbitmq.conftest import DroppingProxy

pytestmark = pytest.mark.e2e

#: Aliased: pytest would try to collect a name starting with "Test".
Client = quart.typing.TestClientProtocol

DEPENDENCIES = {"broker", "job_store", "token_store", "blob_store"}
#: Seconds the app's shutdown may take (see the ``client`` fixture).
SHUTDOWN_SECONDS = 30


async def proxy_for(url: str, default_port: int) -> DroppingProxy:
    parts = urlsplit(url)
    proxy = DroppingProxy(parts.hostname or "127.0.0.1", parts.port or default_port)
    await proxy.start()
    return proxy


def via(url: str, port: int) -> str:
    """``url`` (no user info) with its host and port replaced by the proxy's."""
    return urlsplit(url)._replace(netloc=f"127.0.0.1:{port}").geturl()


@pytest.fixture
async def proxies(backends: Backends) -> AsyncIterator[dict[str, DroppingProxy]]:
    made = {
        "redis": await proxy_for(backends.redis_url, 6379),
        "mongo": await proxy_for(backends.mongo_url, 27017),
    }
    yield made
    for proxy in made.values():
        await proxy.stop()


@pytest.fixture
async def client(
    backends: Backends,
    proxies: dict[str, DroppingProxy],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Client]:
    for name in list(os.environ):
        if name.upper().startswith(INHERITED):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    for url in (backends.redis_url, backends.mongo_url):
        if urlsplit(url).username:
            pytest.skip("the proxy URLs here carry no credentials")
    settings = load_settings(
        **{
            **backends.env(),
            "REDIS_URL": via(backends.redis_url, proxies["redis"].port),
            "MONGO_URL": via(backends.mongo_url, proxies["mongo"].port),
        },
        FLICKRHUB_DATA_DIR=tmp_path / "data",
    )
    app = create_app(Runtime.create(settings, role="api"))
    # Quart's test app allows 6 s for the app's shutdown. Here the runtime closes its
    # clients while Redis and MongoDB are cut off, and once in a full CI run (08:19 UTC
    # on 2026-11-29) that took longer, though the test alone closes in about a second;
    # the shutdown is not what this test checks.
    async with QuartTestApp(app, shutdown_timeout=SHUTDOWN_SECONDS):
        yield app.test_client()


async def readyz(client: Client) -> tuple[int, dict[str, Any]]:
    response = await client.get("/readyz")
    return response.status_code, await response.get_json()


async def test_readyz_names_each_dependency_that_stops_answering(
    client: Client, proxies: dict[str, DroppingProxy]
) -> None:
    status, body = await readyz(client)
    assert status == 200, body
    assert set(body["data"]["checks"]) == DEPENDENCIES
    assert all(check["ok"] for check in body["data"]["checks"].values())

    await proxies["redis"].stop()
    status, body = await readyz(client)
    assert status == 503
    failed = {name for name, check in body["data"]["checks"].items() if not check["ok"]}
    assert failed == {"job_store"}
    assert body["error"]["message"] == "not ready: job_store"

    await proxies["mongo"].stop()
    status, body = await readyz(client)
    assert status == 503
    failed = {name for name, check in body["data"]["checks"].items() if not check["ok"]}
    assert failed == {"job_store", "token_store", "blob_store"}
    assert body["error"]["message"] == "not ready: blob_store, job_store, token_store"
