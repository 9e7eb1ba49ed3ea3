"""`flickrhub sandbox`: the simulator alone, with the operator's consumer pair or a
made-up one it prints, ready for FlickrHub's FLICKR_* settings."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flickrhub_core.errors import FlickrOAuthError
from flickrhub_core.flickr import Credentials, Endpoints, FlickrClient

pytestmark = pytest.mark.e2e


def start_sandbox(
    env_extra: dict[str, str], cwd: Path
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start it on a free port; the NAME=value lines it prints, once it is ready."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **env_extra}
    process = subprocess.Popen(
        [sys.executable, "-m", "flickrhub_core.cli", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=cwd,
    )
    assert process.stdout is not None
    printed: dict[str, str] = {}
    for line in process.stdout:
        if line.startswith("Press Ctrl-C"):
            break
        name, sep, value = line.strip().partition("=")
        if sep:
            printed[name] = value
    return process, printed


def request_token(printed: dict[str, str], key: str, secret: str) -> str:
    endpoints = Endpoints(
        rest_url=printed["FLICKR_REST_URL"],
        upload_url=printed["FLICKR_UPLOAD_URL"],
        replace_url=printed["FLICKR_REPLACE_URL"],
        oauth_url=printed["FLICKR_OAUTH_URL"],
    )

    async def fetch() -> str:
        async with FlickrClient(endpoints) as client:
            token = await client.get_request_token(Credentials(key, secret), "oob")
            return token.token

    return asyncio.run(fetch())


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=10)


def test_sandbox_accepts_the_configured_consumer_pair(clean_env: Path) -> None:
    process, printed = start_sandbox(
        {"FLICKR_API_KEY": "opkey", "FLICKR_API_SECRET": "opsecret"}, clean_env
    )
    try:
        assert printed["FLICKR_API_KEY"] == "opkey"
        assert "opsecret" not in printed["FLICKR_API_SECRET"]
        assert request_token(printed, "opkey", "opsecret")
        with pytest.raises(FlickrOAuthError):
            request_token(printed, "opkey", "wrong")
    finally:
        assert stop(process) == 0


def test_sandbox_without_a_pair_prints_the_one_it_made_up(clean_env: Path) -> None:
    process, printed = start_sandbox({}, clean_env)
    try:
        key, secret = printed["FLICKR_API_KEY"], printed["FLICKR_API_SECRET"]
        assert len(key) == 32
        assert len(secret) == 16
        assert request_token(printed, key, secret)
    finally:
        assert stop(process) == 0
