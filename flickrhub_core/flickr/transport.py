"""The HTTP transport under the Flickr client: aiohttp's connection pool, httpx's API.

httpx's own pool costs several times aiohttp's CPU per request (it checks every idle
connection on each request), so the client sends through httpx-aiohttp's transport.
This subclass makes it keep the promises the client relies on:

* Failures arrive as the httpx exceptions httpx's own transport raises for them,
  because ``sent`` is decided from that type (:func:`.errors.transport_error`).
  httpx-aiohttp maps every ``ClientConnectionError`` to ``ConnectTimeout``, which
  would call a connection dropped after the request went out "never sent", and let
  a worker send an upload again that Flickr may have stored.
* A streamed body (upload, replace) gets httpx's write timeout, which aiohttp lacks:
  without it an upload to a peer that stopped reading would wait forever. A failure
  of the body's own source (:class:`.multipart.PhotoSizeMismatch`) comes out as
  itself, not as a connection error.
* One call is one request: aiohttp would send a GET again on a dropped connection.
* No cookie jar: Flickr's API needs none, and one shared by every user must not
  carry one user's cookies into another's calls.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

__all__ = ["FlickrTransport", "HttpClient"]


def _as_httpx(exc: BaseException) -> httpx.TransportError:
    """The exception httpx's own transport raises for this aiohttp failure."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # connecting, or waiting for the pool
        return httpx.ConnectTimeout(message)
    if isinstance(exc, TimeoutError):  # SocketTimeoutError: no answer in time
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return httpx.UnsupportedProtocol(message)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(message)
    # Anything else happened on an open connection: the request may have gone out.
    return httpx.ReadError(message)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """Re-map what httpx-aiohttp raised (its own mapping, or aiohttp's unmapped)."""
    try:
        yield
    except httpx.TransportError as exc:
        cause = exc.__cause__
        if isinstance(cause, aiohttp.ClientError | TimeoutError):
            raise _as_httpx(cause) from cause
        raise
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _as_httpx(exc) from exc


class _ResponseStream(httpx.AsyncByteStream):
    """httpx-aiohttp's response body, its failures re-mapped."""

    def __init__(self, inner: httpx.SyncByteStream | httpx.AsyncByteStream) -> None:
        assert isinstance(inner, httpx.AsyncByteStream)
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        with _httpx_errors():
            await self._inner.aclose()


class _TimedBody(httpx.AsyncByteStream):
    """A streamed request body as aiohttp pulls it, one chunk at a time.

    aiohttp asks for the next chunk once the previous one is written, so the time
    from yielding a chunk to the next request is one write: ``deadline`` (the
    request's) is set to expire ``write_timeout`` after each yield and cleared in
    between, when the source is producing. A source failure is kept in ``error``.
    """

    def __init__(
        self, source: httpx.SyncByteStream | httpx.AsyncByteStream, write_timeout: float | None
    ) -> None:
        assert isinstance(source, httpx.AsyncByteStream)
        self._source = source
        self._write_timeout = write_timeout
        self.deadline: asyncio.Timeout | None = None
        self.error: Exception | None = None

    def _arm(self, seconds: float | None) -> None:
        deadline = self.deadline
        if deadline is not None and not deadline.expired():
            when = None if seconds is None else asyncio.get_running_loop().time() + seconds
            deadline.reschedule(when)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = aiter(self._source)
        while True:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except Exception as exc:
                self.error = exc
                raise
            self._arm(self._write_timeout)
            yield chunk
            self._arm(None)


class FlickrTransport(AiohttpTransport):
    """httpx-aiohttp's transport with httpx's failure meanings and write timeout.

    Takes httpx-aiohttp's arguments; ``limits.max_connections`` bounds the pool and
    ``limits.keepalive_expiry`` closes idle connections. Requests carry httpx's
    timeouts: ``connect`` per connection attempt, ``pool`` for getting a connection
    (attempt included), ``read`` between received bytes, ``write`` per body chunk.
    """

    def get_client(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.limits.max_connections or 0,  # aiohttp's 0 is "no limit"
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
        )
        session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
        # aiohttp sends a GET again, at once, when its connection drops; one call must
        # stay one request, retried (or not) by the worker, its backoff and rate limit.
        # No public switch: this is what aiohttp's own test client sets.
        session._retry_connection = False
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if isinstance(request.stream, httpx.ByteStream):  # a body already in memory
            with _httpx_errors():
                response = await super().handle_async_request(request)
        else:
            response = await self._send_streamed(request)
        response.stream = _ResponseStream(response.stream)
        return response

    async def _send_streamed(self, request: httpx.Request) -> httpx.Response:
        body = _TimedBody(request.stream, request.extensions.get("timeout", {}).get("write"))
        request.stream = body
        try:
            async with asyncio.timeout(None) as deadline:
                body.deadline = deadline
                try:
                    with _httpx_errors():
                        return await super().handle_async_request(request)
                finally:
                    body.deadline = None
        except TimeoutError:
            raise httpx.WriteTimeout("a body chunk was not written in time") from None
        except httpx.TransportError:
            if body.error is not None:
                raise body.error from None
            raise


class HttpClient(httpx.AsyncClient):
    """httpx's client, sending through :class:`FlickrTransport` unless given a transport.

    Passing ``transport=FlickrTransport()`` instead would turn off proxies set in the
    environment (``HTTPS_PROXY``, ``NO_PROXY`` ...): httpx honours them only when it
    makes the transport itself, in this hook. Proxied requests keep httpx's own.
    """

    def _init_transport(
        self, *args: Any, transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any
    ) -> httpx.AsyncBaseTransport:
        if transport is not None:
            return transport
        return FlickrTransport(*args, **kwargs)
