"""Run the sandbox inside an already running event loop, with FlickrHub's HTTP server
(:class:`flickrhub_core.serve.HttpServer`: uvicorn)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from quart import Quart

from .app import create_sandbox_app
from .config import SandboxConfig

#: Seconds open requests get to finish once the sandbox stops.
SHUTDOWN_GRACE = 1.0


async def serve_sandbox(
    config: SandboxConfig,
    host: str = "127.0.0.1",
    port: int = 8090,
    shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
    *,
    app: Quart | None = None,
) -> None:
    """Serve a sandbox until ``shutdown_trigger`` completes (e.g. ``event.wait``).

    Without a trigger it serves until cancelled; it never handles signals itself.
    Pass ``app`` to serve an app made with :func:`create_sandbox_app` whose state the
    caller wants to inspect.
    """
    from flickrhub_core.serve import HttpServer, bind_socket

    server = HttpServer(
        app if app is not None else create_sandbox_app(config),
        bind_socket(host, port),
        grace=SHUTDOWN_GRACE,
    )
    await server.start()
    try:
        await (shutdown_trigger or asyncio.Event().wait)()
    finally:
        await server.stop()
