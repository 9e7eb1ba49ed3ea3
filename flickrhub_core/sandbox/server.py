"""Run the sandbox with hypercorn inside an already running event loop."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from quart import Quart

from .app import create_sandbox_app
from .config import SandboxConfig


def bind_address(host: str, port: int) -> str:
    """``host:port`` for hypercorn, bracketing IPv6 literals."""
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            return f"[{host}]:{port}"
    except ValueError:
        pass
    return f"{host}:{port}"


async def serve_sandbox(
    config: SandboxConfig,
    host: str = "127.0.0.1",
    port: int = 8090,
    shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
    *,
    app: Quart | None = None,
) -> None:
    """Serve a sandbox until ``shutdown_trigger`` completes (e.g. ``event.wait``).

    Without a trigger hypercorn installs SIGINT/SIGTERM handlers, which works only in
    the main thread; embedders should always pass one. Pass ``app`` to serve an app
    made with :func:`create_sandbox_app` whose state the caller wants to inspect.
    """
    hypercorn_config = HypercornConfig()
    hypercorn_config.bind = [bind_address(host, port)]
    hypercorn_config.accesslog = None
    hypercorn_config.graceful_timeout = 1.0
    await serve(
        app if app is not None else create_sandbox_app(config),
        hypercorn_config,
        shutdown_trigger=shutdown_trigger,
    )
