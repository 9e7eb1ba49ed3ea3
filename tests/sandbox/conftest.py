"""Fixtures: a sandbox on a free loopback port per test (always stopped), and HTTP clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sandbox_helpers import Credentials, oauth_dance

from flickrhub_core.sandbox import SandboxConfig
from flickrhub_core.sandbox.testing import SandboxServer


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """Override in a module (or parametrize indirectly) to change the sandbox's settings."""
    return SandboxConfig(seed=7, async_ticket_delay_s=0.3)


@pytest.fixture
def sandbox(sandbox_config: SandboxConfig) -> Iterator[SandboxServer]:
    with SandboxServer(sandbox_config) as server:
        yield server


@pytest.fixture
def make_sandbox() -> Iterator[Any]:
    """Start sandboxes with custom settings inside a test; all are stopped afterwards."""
    servers: list[SandboxServer] = []

    def start(**settings: Any) -> SandboxServer:
        server = SandboxServer(SandboxConfig(seed=7, **settings)).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def consumer(sandbox: SandboxServer) -> Credentials:
    key, secret = sandbox.consumer
    return Credentials(key, secret)


@pytest.fixture
def writer(sandbox: SandboxServer, http: httpx.Client) -> Credentials:
    """An access token of the seeded user ``@janko-m`` with write permission."""
    key, secret = sandbox.consumer
    return oauth_dance(http, sandbox.base_url, key, secret, perms="write")


@pytest.fixture
def deleter(sandbox: SandboxServer, http: httpx.Client) -> Credentials:
    key, secret = sandbox.consumer
    return oauth_dance(http, sandbox.base_url, key, secret, perms="delete")


@pytest.fixture
def reader(sandbox: SandboxServer, http: httpx.Client) -> Credentials:
    key, secret = sandbox.consumer
    return oauth_dance(http, sandbox.base_url, key, secret, perms="read")
