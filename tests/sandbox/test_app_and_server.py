"""The public API: config, app factory (in-process ASGI), serve_sandbox in a running loop."""

from __future__ import annotations

import asyncio
import re
import stat
from pathlib import Path

import httpx
import pytest
from sandbox_helpers import oauth_dance, rest

from flickrhub_core import sandbox as sandbox_package
from flickrhub_core.sandbox import (
    SandboxConfig,
    create_sandbox_app,
    make_demo_consumer,
    serve_sandbox,
)
from flickrhub_core.sandbox.connection import DROP_HEADER
from flickrhub_core.sandbox.testing import SandboxServer, free_port


def test_public_api_is_explicit() -> None:
    assert sandbox_package.__all__ == [
        "SandboxConfig",
        "create_sandbox_app",
        "make_demo_consumer",
        "serve_sandbox",
    ]


def test_demo_consumer_looks_like_a_flickr_key() -> None:
    key, secret = make_demo_consumer()
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert re.fullmatch(r"[0-9a-f]{16}", secret)
    assert make_demo_consumer() != (key, secret)


def test_default_config_has_one_demo_pair_and_flickr_limits() -> None:
    config = SandboxConfig()
    assert len(config.consumers) == 1
    assert config.rate_limit_per_hour == 3600
    assert (config.latency_ms, config.error_rate_5xx, config.error_rate_105, config.drop_rate) == (
        0,
        0.0,
        0.0,
        0.0,
    )


async def test_app_serves_rest_in_process() -> None:
    config = SandboxConfig(seed=1)
    app = create_sandbox_app(config)
    async with app.test_app():
        client = app.test_client()
        response = await client.get(
            "/services/rest",
            query_string={
                "method": "flickr.test.echo",
                "api_key": config.demo_consumer[0],
                "format": "json",
                "nojsoncallback": "1",
            },
        )
        assert response.status_code == 200
        assert (await response.get_json())["stat"] == "ok"


async def test_drop_is_marked_before_the_connection_layer() -> None:
    config = SandboxConfig(drop_rate=1.0)
    app = create_sandbox_app(config)
    async with app.test_app():
        response = await app.test_client().get(
            "/services/rest/", query_string={"method": "flickr.test.echo"}
        )
    # The in-process client sees the interim response the server turns into a hang-up.
    assert response.status_code == 100
    assert DROP_HEADER not in response.headers


async def test_serve_sandbox_runs_inside_the_current_loop() -> None:
    config = SandboxConfig()
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve_sandbox(config, "127.0.0.1", port, stop.wait))
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(100):
                try:
                    response = await client.get(
                        f"http://127.0.0.1:{port}/services/rest/",
                        params={"method": "flickr.test.echo", "api_key": config.demo_consumer[0]},
                    )
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            assert response.status_code == 200
            assert response.text.startswith('<?xml version="1.0" encoding="utf-8" ?>')
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_state_path_keeps_accounts_and_tokens_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "sandbox-state.json"
    config = SandboxConfig(consumers={"k": "s"}, state_path=state)
    with httpx.Client(timeout=10) as http:
        with SandboxServer(config) as first:
            creds = oauth_dance(http, first.base_url, "k", "s", username="carol")
        assert stat.S_IMODE(state.stat().st_mode) == 0o600
        with SandboxServer(config) as second:
            login = rest(http, creds, second.base_url, "flickr.test.login")
    assert login["user"]["username"] == {"_content": "carol"}


def test_unreadable_state_file_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "sandbox-state.json"
    state.write_text("not json")
    with pytest.raises(ValueError, match="not a readable sandbox state file"):
        create_sandbox_app(SandboxConfig(state_path=state))
