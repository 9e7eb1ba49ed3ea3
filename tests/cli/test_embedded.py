"""`run_embedded` in-process: the sandbox, API and worker of `flickrhub run` working
together on free loopback ports, then stopping in order."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from flickrhub_core.cli.client import ApiClient, wait_for_job
from flickrhub_core.cli.client_cmds import approve_in_sandbox
from flickrhub_core.serve import (
    SANDBOX_CONSUMER_FILE,
    SANDBOX_STATE_FILE,
    Urls,
    run_embedded,
    sandbox_consumer,
)
from flickrhub_core.settings import Settings, load_settings


@pytest.fixture
def settings(clean_env: Path) -> Settings:
    return load_settings(
        PORT=0,
        FLICKRHUB_SANDBOX_PORT=0,
        FLICKRHUB_LOG_LEVEL="warning",
        FLICKRHUB_RETRY_WAIT_INITIAL=0.01,
        FLICKRHUB_RETRY_WAIT_MAX=0.05,
        FLICKRHUB_SHUTDOWN_GRACE=2,
    )


@asynccontextmanager
async def embedded(settings: Settings) -> AsyncIterator[Urls]:
    """Start ``run_embedded``, yield its URLs, stop it and check it stopped by itself."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[Urls] = loop.create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(run_embedded(settings, ready=ready.set_result, stop=stop))
    both: set[asyncio.Future[Any]] = {task, ready}
    done, _ = await asyncio.wait(both, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises why it did not start
    assert ready in done, "run_embedded did not become ready"
    try:
        yield ready.result()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


async def connect_account(api: ApiClient, **sandbox: Any) -> dict[str, Any]:
    started = await api.auth_start({"perms": "write"})
    verifier = await approve_in_sandbox(
        api, started["authorize_url"], started["oauth_token"], "write", sandbox.get("username")
    )
    return await api.auth_complete(
        {
            "oauth_token": started["oauth_token"],
            "oauth_verifier": verifier,
            "state": started["state"],
        }
    )


async def run_call(api: ApiClient, user_id: str, method: str, **params: str) -> dict[str, Any]:
    queued = await api.enqueue({"method": method, "params": params, "user_id": user_id})
    return await wait_for_job(api, queued["job_id"], user_id=user_id, wait_timeout=30)


pytestmark = pytest.mark.e2e


async def test_auth_then_call_completes_through_the_embedded_sandbox(settings: Settings) -> None:
    async with embedded(settings) as urls, ApiClient(str(urls.api)) as api:
        assert urls.sandbox is not None and urls.sandbox.startswith("http://127.0.0.1:")
        assert urls.docs == f"{urls.api}/docs"
        assert urls.data_dir == settings.data_dir.resolve()
        health = await api.http.get("/healthz")
        assert health.status_code == 200

        account = await connect_account(api)
        job = await run_call(api, account["user_id"], "flickr.test.login")
        assert job["state"] == "completed", job
        assert job["result"]["user"]["id"] == account["user_nsid"]

        seen: list[str] = []
        echo = await api.enqueue(
            {"method": "flickr.test.echo", "params": {"foo": "bar"}, "user_id": account["user_id"]}
        )
        finished = await wait_for_job(
            api,
            echo["job_id"],
            user_id=account["user_id"],
            wait_timeout=30,
            on_change=lambda j: seen.append(j["state"]),
        )
        assert finished["result"]["foo"]["_content"] == "bar"
        assert seen[-1] == "completed"


async def test_the_sandbox_consumer_pair_is_kept_private_and_reused(settings: Settings) -> None:
    async with embedded(settings) as urls:
        path = settings.data_dir / SANDBOX_CONSUMER_FILE
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        key, _secret = sandbox_consumer(settings.data_dir)
        assert urls.sandbox_consumer_key == key
    async with embedded(settings) as again:
        assert again.sandbox_consumer_key == key


async def test_a_restart_keeps_connected_accounts_usable(settings: Settings) -> None:
    async with embedded(settings) as urls, ApiClient(str(urls.api)) as api:
        account = await connect_account(api)
    async with embedded(settings) as urls, ApiClient(str(urls.api)) as api:
        job = await run_call(api, account["user_id"], "flickr.test.login")
        assert job["state"] == "completed", job
    assert (settings.data_dir / SANDBOX_STATE_FILE).exists()


async def test_with_a_flickr_key_no_sandbox_starts(settings: Settings) -> None:
    real = settings.model_copy(update={"flickr_api_key": "k", "flickr_api_secret": SecretStr("s")})
    async with embedded(real) as urls:
        assert urls.sandbox is None
        assert urls.sandbox_consumer_key is None
        assert not (settings.data_dir / SANDBOX_CONSUMER_FILE).exists()
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{urls.api}/healthz")).status_code == 200


def test_sandbox_consumer_file_that_is_not_json_is_a_config_error(tmp_path: Path) -> None:
    from flickrhub_core.errors import ConfigError

    (tmp_path / SANDBOX_CONSUMER_FILE).write_text("nope")
    with pytest.raises(ConfigError, match="delete it"):
        sandbox_consumer(tmp_path)
