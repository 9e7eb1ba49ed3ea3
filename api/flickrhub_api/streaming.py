"""Request bodies with a total-size limit per route and flow control for uploads.

Quart's receiver task copies every ASGI message into the request body as fast as
the client sends, whatever the handler consumes: a 200 MB photo written to a slow
blob store would pile up in memory. Here the receiver waits while more than
:data:`HIGH_WATER` bytes are buffered; with nobody receiving, the HTTP server stops
reading the socket (uvicorn does once 64 KiB of body wait) and TCP pushes back on
the client: memory stays flat whatever the photo size.

The limit counts every byte received (Quart's own check counts only what is
buffered, which streaming keeps small), so a chunked body without a
Content-Length is refused past the limit too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from quart.asgi import ASGIHTTPConnection
from quart.wrappers import Request
from quart.wrappers.request import Body
from werkzeug.exceptions import RequestEntityTooLarge

#: Bytes buffered before the receiver waits for the handler to catch up.
HIGH_WATER = 1024 * 1024

#: The ASGI ``receive`` callable (any server's).
Receive = Callable[[], Awaitable[Mapping[str, Any]]]


class FlowControlledBody(Body):
    """A body that counts all bytes received and can hold the receiver back."""

    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self.received = 0
        self._flow_control = False
        self._room = asyncio.Event()
        self._room.set()

    def enable_flow_control(self) -> None:
        """Only for handlers that iterate the body: awaiting it whole would deadlock."""
        self._flow_control = True

    def append(self, data: bytes) -> None:
        if data == b"" or self._must_raise is not None:
            return
        self.received += len(data)
        if self._max_content_length is not None and self.received > self._max_content_length:
            self._must_raise = RequestEntityTooLarge()
            self._data.clear()
            self.set_complete()
            return
        self._data.extend(data)
        self._has_data.set()
        if self._flow_control and len(self._data) >= HIGH_WATER:
            self._room.clear()

    async def __anext__(self) -> bytes:
        try:
            return await super().__anext__()
        finally:
            self._room.set()

    def __await__(self) -> Any:
        self._flow_control = False
        self._room.set()
        return super().__await__()

    def set_complete(self) -> None:
        super().set_complete()
        self._room.set()

    async def wait_for_room(self) -> None:
        await self._room.wait()


class LimitedRequest(Request):
    """A request whose body limit depends on its path (see :func:`request_class`)."""

    body_class = FlowControlledBody
    #: path -> body limit in bytes; these paths are streamed with flow control.
    streaming_paths: ClassVar[Mapping[str, int]] = {}

    def __init__(self, *args: Any, max_content_length: int | None = None, **kwargs: Any) -> None:
        path = args[2] if len(args) > 2 else kwargs.get("path", "")
        streamed = self.streaming_paths.get(str(path).rstrip("/"))
        if streamed is not None:
            max_content_length = streamed
        super().__init__(*args, max_content_length=max_content_length, **kwargs)
        if streamed is not None:
            self.max_content_length = streamed
            if isinstance(self.body, FlowControlledBody):
                self.body.enable_flow_control()


def request_class(streaming_paths: Mapping[str, int]) -> type[Request]:
    """A request class for one app: ``streaming_paths`` get their own limit and
    flow control; every other path keeps ``MAX_CONTENT_LENGTH``."""
    return type("FlickrHubRequest", (LimitedRequest,), {"streaming_paths": dict(streaming_paths)})


class FlowControlledConnection(ASGIHTTPConnection):
    """Quart's HTTP connection, with a receiver that honours the body's flow control."""

    async def handle_messages(self, request: Request, receive: Receive) -> None:
        body = request.body
        while True:
            if isinstance(body, FlowControlledBody):
                await body.wait_for_room()
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body.set_complete()
            elif message["type"] == "http.disconnect":
                return
