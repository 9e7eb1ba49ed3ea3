"""How the Flickr client's requests reach the wire: one request out, one answer in.

:class:`AiohttpSender` is the production path: aiohttp's connection pool, called
directly. httpx's request, URL, header and response objects on top of it cost about
a fifth of a worker's CPU per job (docs/performance.md), and its own pool several
times aiohttp's. :class:`HttpxSender` sends through an httpx transport handed to the
client instead: the tests' scripted Flickr, or the sandbox as an ASGI app.

Both keep the promises the client relies on:

* Failures arrive as the httpx exceptions httpx's own transport raises for them,
  because ``sent`` is decided from that type (:func:`.errors.transport_error`): a
  connection dropped after the request went out must not read "never sent", or a
  worker would send an upload again that Flickr may have stored.
* The answer is read bounded (:class:`AnswerTooLarge`): a broken or hostile endpoint
  must not exhaust memory.
* A streamed body (upload, replace) gets httpx's write timeout per chunk, which
  aiohttp lacks: without it an upload to a peer that stopped reading would wait
  forever. A failure of the body's own source (:class:`.multipart.PhotoSizeMismatch`)
  comes out as itself, not as a connection error.
* One call is one request: aiohttp would send a GET again on a dropped connection.
* No cookie jar: Flickr's API needs none, and one shared by every user must not
  carry one user's cookies into another's calls.
* Proxies set in the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
  ``NO_PROXY``) are honoured, as httpx honours them; read once per host.
"""

from __future__ import annotations

import asyncio
import functools
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from http.client import HTTPResponse
from http.cookiejar import CookieJar
from typing import Protocol

import aiohttp
import httpx
from yarl import URL

from flickrhub_core.flickr.multipart import MultipartBody
from flickrhub_core.flickr.responses import MalformedResponse

__all__ = ["AiohttpSender", "Answer", "AnswerTooLarge", "HttpxSender", "Sender"]

#: Seconds an idle pooled connection is kept (httpx's default).
KEEPALIVE_EXPIRY = 5.0

Body = bytes | MultipartBody | None


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole HTTP answer; ``headers`` look up names case-insensitively."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class AnswerTooLarge(MalformedResponse):
    """The answer was longer than the sender's limit (it was not read further)."""

    def __init__(self, limit: int, status: int) -> None:
        super().__init__(f"answer larger than {limit} bytes", hostile=True)
        self.status = status


class Sender(Protocol):
    """Sends one request; raises httpx's transport errors, :class:`AnswerTooLarge`, or
    a streamed body's own failure."""

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body,
        timeouts: httpx.Timeout,
    ) -> Answer: ...

    async def aclose(self) -> None: ...


class _Bounded:
    """Collects an answer's chunks, refusing more than ``limit`` bytes in all."""

    def __init__(self, limit: int, status: int, declared: str | None) -> None:
        self.limit = limit
        self.status = status
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise AnswerTooLarge(limit, status)
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise AnswerTooLarge(self.limit, self.status)
        self.chunks.append(chunk)

    def body(self) -> bytes:
        return b"".join(self.chunks)


# -- aiohttp, the production path ----------------------------------------------------


def _as_httpx(exc: BaseException) -> httpx.TransportError:
    """The exception httpx's own transport raises for this aiohttp failure."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # connecting, or waiting for the pool
        return httpx.ConnectTimeout(message)
    if isinstance(exc, TimeoutError):  # SocketTimeoutError: no answer in time
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS, the proxy
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return httpx.UnsupportedProtocol(message)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(message)
    # Anything else happened on an open connection: the request may have gone out.
    return httpx.ReadError(message)


@functools.lru_cache(maxsize=8)
def _client_timeout(
    connect: float | None, read: float | None, pool: float | None
) -> aiohttp.ClientTimeout:
    """httpx's ``connect`` per connection attempt, ``pool`` for getting a connection
    (attempt included), ``read`` between received bytes; no total."""
    return aiohttp.ClientTimeout(sock_connect=connect, sock_read=read, connect=pool)


class _TimedBody:
    """A streamed request body as aiohttp pulls it, one chunk at a time.

    aiohttp asks for the next chunk once the previous one is written, so the time
    from yielding a chunk to the next request is one write: ``deadline`` (the
    request's) is set to expire ``write_timeout`` after each yield and cleared in
    between, when the source is producing. A source failure is kept in ``error``.
    """

    def __init__(self, source: MultipartBody, write_timeout: float | None) -> None:
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


class AiohttpSender:
    """aiohttp's pool, at most ``max_connections`` connections (0: no limit); its
    session is made on the first request, inside the running loop."""

    def __init__(self, *, max_connections: int, max_answer_bytes: int, user_agent: str) -> None:
        self._limit = max_connections
        self._max_answer = max_answer_bytes
        self._headers = {"User-Agent": user_agent}
        self._session: aiohttp.ClientSession | None = None
        #: (scheme, host) -> the environment's proxy for it, read on its first request.
        self._proxy_of: dict[tuple[str, str], str | None] = {}

    def _client(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                keepalive_timeout=KEEPALIVE_EXPIRY,
                ssl=httpx.create_ssl_context(),  # httpx's CA bundle and SSL_CERT_FILE
            )
            session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), headers=self._headers
            )
            # aiohttp sends a GET again, at once, when its connection drops; one call must
            # stay one request, retried (or not) by the worker, its backoff and rate limit.
            # No public switch: this is what aiohttp's own test client sets.
            session._retry_connection = False
            self._session = session
        return session

    def _proxy(self, url: URL) -> str | None:
        """The environment's proxy for ``url``'s scheme and host, or None (direct)."""
        key = (url.scheme, url.host or "")
        if key not in self._proxy_of:
            proxies = urllib.request.getproxies_environment()
            proxy = proxies.get(url.scheme) or proxies.get("all")
            if proxy and urllib.request.proxy_bypass(key[1]):  # NO_PROXY
                proxy = None
            self._proxy_of[key] = proxy or None
        return self._proxy_of[key]

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body,
        timeouts: httpx.Timeout,
    ) -> Answer:
        if isinstance(body, MultipartBody):
            return await self._send_streamed(method, url, headers, body, timeouts)
        try:
            return await self._exchange(method, url, headers, body, timeouts)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _as_httpx(exc) from exc

    async def _send_streamed(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        source: MultipartBody,
        timeouts: httpx.Timeout,
    ) -> Answer:
        body = _TimedBody(source, timeouts.write)
        try:
            async with asyncio.timeout(None) as deadline:
                body.deadline = deadline
                try:
                    return await self._exchange(method, url, headers, body, timeouts)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    if body.error is not None:
                        raise body.error from None
                    raise _as_httpx(exc) from exc
                finally:
                    body.deadline = None
        except TimeoutError:  # the deadline: a chunk was not written in time
            if body.error is not None:
                raise body.error from None
            raise httpx.WriteTimeout("a body chunk was not written in time") from None

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | _TimedBody | None,
        timeouts: httpx.Timeout,
    ) -> Answer:
        # encoded=True: the URL goes out exactly as signed, never re-quoted.
        target = URL(url, encoded=True)
        async with self._client().request(
            method,
            target,
            headers=headers,
            data=data,
            allow_redirects=False,
            timeout=_client_timeout(timeouts.connect, timeouts.read, timeouts.pool),
            proxy=self._proxy(target),
        ) as response:
            answer = _Bounded(
                self._max_answer, response.status, response.headers.get("Content-Length")
            )
            async for chunk in response.content.iter_any():
                answer.add(chunk)
            return Answer(response.status, response.headers, answer.body())

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# -- httpx, for a transport given to the client ----------------------------------------


class _NoCookies(CookieJar):
    """A jar that keeps no cookie (see the module docstring)."""

    def extract_cookies(self, response: HTTPResponse, request: urllib.request.Request) -> None:
        pass


class HttpxSender:
    """Sends through ``transport`` (an httpx mock, or an app behind httpx.ASGITransport)."""

    def __init__(
        self, transport: httpx.AsyncBaseTransport, *, max_answer_bytes: int, user_agent: str
    ) -> None:
        self._max_answer = max_answer_bytes
        self._http = httpx.AsyncClient(
            transport=transport,
            headers={"User-Agent": user_agent},
            cookies=_NoCookies(),
            follow_redirects=False,
        )

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body,
        timeouts: httpx.Timeout,
    ) -> Answer:
        request = self._http.build_request(
            method, url, headers=headers, content=body, timeout=timeouts
        )
        response = await self._http.send(request, stream=True)
        try:
            answer = _Bounded(
                self._max_answer, response.status_code, response.headers.get("Content-Length")
            )
            async for chunk in response.aiter_bytes():
                answer.add(chunk)
        finally:
            await response.aclose()
        return Answer(response.status_code, response.headers, answer.body())

    async def aclose(self) -> None:
        await self._http.aclose()
