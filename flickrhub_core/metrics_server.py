"""A worker's own HTTP endpoint: Prometheus ``/metrics`` and a ``/healthz`` probe.

``flickrhub worker --metrics-port N`` (or ``FLICKRHUB_WORKER_METRICS_PORT``) serves
this small ASGI app on ``FLICKRHUB_HOST:N`` with the HTTP server every process uses
(:class:`flickrhub_core.serve.HttpServer`), in the worker's event loop
(:func:`flickrhub_core.serve.run_worker`). ``flickrhub api`` and ``flickrhub
run`` serve the same metrics on the API's ``/metrics`` instead.

A scrape reads the depth of the queues this worker consumes, and the DLQ's, first
(``flickrhub_queue_depth``). Nothing here needs authentication: keep the port off
the public network, as for any scrape target.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import prometheus_client

from flickrhub_core import metrics
from flickrhub_core.broker import Broker

__all__ = ["metrics_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEADERS = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]


async def _answer(send: Send, status: int, body: bytes, content_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                *_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def metrics_app(broker: Broker, queues: Iterable[str]) -> ASGIApp:
    """The ASGI app: ``GET /metrics`` (queue depths of ``queues`` read first),
    ``GET /healthz``; anything else is 404 (405 for other methods)."""
    watched = sorted(set(queues))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope.get("path", "")
        if path not in ("/metrics", "/healthz"):
            await _answer(send, 404, b"not found\n", "text/plain; charset=utf-8")
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await _answer(send, 405, b"method not allowed\n", "text/plain; charset=utf-8")
            return
        if path == "/healthz":
            await _answer(send, 200, b'{"status":"ok"}', "application/json")
            return
        await metrics.refresh_queue_depths(broker, watched)
        body = prometheus_client.generate_latest()
        await _answer(send, 200, body, prometheus_client.CONTENT_TYPE_LATEST)

    return app
