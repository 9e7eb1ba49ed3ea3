"""How a request arrived and how it may be (mis)answered.

* :func:`request_line` rebuilds the URI the client signed: scheme, the ``Host`` header
  (port included) and the raw path with its trailing slash.
* :func:`injected_fault` asks the fault injector what goes wrong with a call.
* Dropped connections: a handler returns :func:`drop_response`; :class:`SandboxQuart`
  turns it into an interim ``100 Continue`` and ends the ASGI call. The server
  (uvicorn) then closes the socket because no final response was sent, so the client
  sees the connection closed without a response (httpx ``RemoteProtocolError``,
  requests ``ConnectionError``/``RemoteDisconnected``), not a 500. The server would
  answer an exception or a silent return with its own 500, hence the interim
  response; the error uvicorn logs about the unfinished response is left out for a
  drop (:class:`_QuietDrop`). Under Quart's test client the drop shows as a bare
  status 100.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent, Scope
from quart import Quart, Response, request

from .auth import RequestLine
from .faults import apply_latency
from .responses import server_error
from .state import SandboxState

DROP_HEADER = "X-FlickrHub-Sandbox-Drop"
_DROP_HEADER_BYTES = DROP_HEADER.lower().encode("latin-1")
#: True in the task of a request the sandbox hung up on.
_DROPPED: ContextVar[bool] = ContextVar("flickrhub_sandbox_dropped", default=False)


class _QuietDrop(logging.Filter):
    """Leaves out uvicorn's error about an unfinished response when it was a drop."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_DROPPED.get() and "without completing response" in str(record.msg))


_QUIET_DROP = _QuietDrop()


def request_line() -> RequestLine:
    raw_path: bytes = request.scope.get("raw_path") or request.path.encode("utf-8")
    host = request.headers.get("Host")
    if not host:
        server = request.scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    return RequestLine(request.method, f"{request.scheme}://{host}{raw_path.decode('latin-1')}")


def drop_response() -> Response:
    return Response("", status=200, headers={DROP_HEADER: "1"})


async def injected_fault(
    state: SandboxState, name: str, fail_105: Callable[[], Response] | None
) -> Response | None:
    """Sleep for injected latency; return the faulty answer, or None to proceed normally."""
    decision = state.faults.decide(name)
    await apply_latency(decision)
    if decision.action == "drop":
        return drop_response()
    if decision.action == "5xx":
        return server_error(decision.status)
    if decision.action == "105" and fail_105 is not None:
        return fail_105()
    return None


class SandboxQuart(Quart):
    """Quart, plus the ability to hang up on a client (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Added once, however many apps: addFilter skips a filter already there.
        logging.getLogger("uvicorn.error").addFilter(_QUIET_DROP)

    async def asgi_app(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await super().asgi_app(scope, receive, send)
            return
        dropping = False

        async def guarded_send(message: ASGISendEvent) -> None:
            nonlocal dropping
            if message["type"] == "http.response.start" and any(
                name.lower() == _DROP_HEADER_BYTES for name, _ in message.get("headers", [])
            ):
                dropping = True
                await send({"type": "http.response.start", "status": 100, "headers": []})
                return
            if not dropping:
                await send(message)

        await super().asgi_app(scope, receive, guarded_send)
        if dropping:
            _DROPPED.set(True)  # seen by _QuietDrop when the server logs, in this task
