"""The client over real loopback sockets: what "sent" means on an actual network."""

from __future__ import annotations

import asyncio
import gc
import gzip
import hashlib
import socket
import tracemalloc
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from flickrhub_core.errors import FlickrHttpError, FlickrTransportError
from flickrhub_core.flickr import (
    BytesPhoto,
    Credentials,
    Endpoints,
    FlickrClient,
    PhotoSizeMismatch,
)
from flickrhub_core.flickr import client as client_module
from tests.flickr.flickr_server_check import FlickrCheck

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK_XML = (
    b'<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="ok">\n<photoid>42</photoid>\n</rsp>\n'
)
ECHO = b'{"stat":"ok"}'
MB = 1024 * 1024


@dataclass
class RepeatedPhoto:
    """``size`` bytes made on demand, 64 KiB at a time (nothing held in memory)."""

    size: int
    real_size: int | None = None
    filename: str = "big.jpg"
    content_type: str | None = "image/jpeg"

    async def chunks(self) -> AsyncIterator[bytes]:
        block = b"\xab" * (64 * 1024)
        for _ in range((self.real_size or self.size) // len(block)):
            yield block


def answer(body: bytes, *headers: bytes) -> bytes:
    head = b"".join(h + b"\r\n" for h in headers)
    return b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)


@asynccontextmanager
async def server(behaviour: Behaviour) -> AsyncIterator[str]:
    """A one-behaviour HTTP server on 127.0.0.1; yields its base URL."""
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await behaviour(reader, writer)
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.close()
        for task in tasks:
            task.cancel()
        await srv.wait_closed()


def endpoints_at(base: str) -> Endpoints:
    return Endpoints(
        rest_url=f"{base}/services/rest/",
        upload_url=f"{base}/services/upload/",
        replace_url=f"{base}/services/replace/",
        oauth_url=f"{base}/services/oauth",
    )


async def read_head(reader: asyncio.StreamReader) -> dict[str, str]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")[1:]
    return {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}


def echo_recording(request_lines: list[bytes]) -> Behaviour:
    """Answer one request with ECHO, keeping its request line."""

    async def behaviour(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_lines.append(head.split(b"\r\n")[0])
        writer.write(answer(ECHO, b"Content-Type: application/json"))
        await writer.drain()

    return behaviour


def echo_capturing(seen: list[httpx.Request]) -> Behaviour:
    """Answer one request with ECHO, keeping it whole (as httpx would build it)."""

    async def behaviour(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        method, target, _ = head[0].split(" ")
        headers = httpx.Headers([(k, v) for k, _, v in (h.partition(": ") for h in head[1:] if h)])
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        url = f"http://{headers['host']}{target}"
        seen.append(httpx.Request(method, url, headers=headers, content=body))
        writer.write(answer(ECHO, b"Content-Type: application/json"))
        await writer.drain()

    return behaviour


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_refused_connection_is_not_sent(creds: Credentials) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    async with FlickrClient(endpoints_at(base), timeout=2) as client:
        with pytest.raises(FlickrTransportError) as info:
            await client.call(creds, "flickr.test.echo", {})
    assert (info.value.retryable, info.value.sent) == (True, False)


async def test_silent_server_times_out_as_sent(creds: Credentials) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        await asyncio.sleep(10)

    async with server(silent) as base, FlickrClient(endpoints_at(base), timeout=0.3) as client:
        with pytest.raises(FlickrTransportError) as info:
            await client.call(creds, "flickr.test.echo", {})
    assert (info.value.retryable, info.value.sent) == (True, True)
    assert "ReadTimeout" in info.value.message


async def test_connection_dropped_after_request_is_sent(creds: Credentials) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)

    async with server(hang_up) as base, FlickrClient(endpoints_at(base)) as client:
        with pytest.raises(FlickrTransportError) as info:
            await client.call(creds, "flickr.test.echo", {})
    assert (info.value.retryable, info.value.sent) == (True, True)


async def test_upload_streams_declared_length_over_a_socket(creds: Credentials) -> None:
    received: dict[str, object] = {}

    async def flickr(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await read_head(reader)
        body = await reader.readexactly(int(headers["content-length"]))
        received.update(headers=headers, sha=hashlib.sha256(body).hexdigest(), body=body)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(OK_XML), OK_XML)
        )
        await writer.drain()

    data = bytes(range(256)) * 8192  # 2 MiB
    photo = BytesPhoto("p.jpg", data, "image/jpeg")
    async with server(flickr) as base, FlickrClient(endpoints_at(base)) as client:
        result = await client.upload(creds, photo, {"title": "socket"})
    assert result == {"stat": "ok", "photoid": {"_content": "42"}}
    body = received["body"]
    assert isinstance(body, bytes)
    assert data in body
    assert body.endswith(b"--\r\n")


async def test_connection_dropped_mid_answer_is_sent(creds: Credentials) -> None:
    async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + ECHO)
        await writer.drain()

    async with server(cut_short) as base, FlickrClient(endpoints_at(base)) as client:
        with pytest.raises(FlickrTransportError) as info:
            await client.call(creds, "flickr.test.echo", {})
    assert (info.value.retryable, info.value.sent) == (True, True)


async def test_dropped_read_is_not_sent_again_by_the_client(creds: Credentials) -> None:
    requests = 0

    async def drops_the_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        await read_head(reader)
        requests += 1
        if requests > 1:
            writer.write(answer(ECHO))
            await writer.drain()

    async with server(drops_the_first) as base, FlickrClient(endpoints_at(base)) as client:
        with pytest.raises(FlickrTransportError):
            await client.call(creds, "flickr.test.echo", {})
    assert requests == 1


async def test_upload_to_a_peer_that_stops_reading_times_out_as_sent(
    creds: Credentials,
) -> None:
    async def stops_reading(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        await asyncio.sleep(10)

    photo = RepeatedPhoto(size=256 * MB)  # more than the sockets' buffers hold
    async with (
        server(stops_reading) as base,
        FlickrClient(endpoints_at(base), upload_timeout=0.5) as client,
    ):
        with pytest.raises(FlickrTransportError) as info:
            await client.upload(creds, photo, {"title": "stalled"})
    assert (info.value.retryable, info.value.sent) == (True, True)
    assert "WriteTimeout" in info.value.message


async def test_photo_shorter_than_declared_is_refused_over_a_socket(creds: Credentials) -> None:
    async def reads(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        while await reader.read(64 * 1024):
            pass

    photo = RepeatedPhoto(size=4 * MB, real_size=1 * MB)
    async with server(reads) as base, FlickrClient(endpoints_at(base)) as client:
        with pytest.raises(PhotoSizeMismatch):
            await client.upload(creds, photo, {})


async def test_large_upload_streams_with_flat_memory(creds: Credentials) -> None:
    received = hashlib.sha256()

    async def flickr(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await read_head(reader)
        left = int(headers["content-length"])
        while left:
            chunk = await reader.read(min(left, 64 * 1024))
            received.update(chunk)
            left -= len(chunk)
        writer.write(answer(OK_XML))
        await writer.drain()

    photo = RepeatedPhoto(size=64 * MB)
    async with server(flickr) as base, FlickrClient(endpoints_at(base)) as client:
        tracemalloc.start()
        try:
            result = await client.upload(creds, photo, {"title": "big"})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result["photoid"] == {"_content": "42"}
    assert peak < 4 * MB, f"peak traced memory {peak} bytes"


async def test_reserved_characters_in_a_query_keep_their_signature(
    creds: Credentials, flickr_check: FlickrCheck
) -> None:
    seen: list[httpx.Request] = []
    text = "Zagreb \u2600 a+b=c&d/\u00e9 ~'!*();:@$,?#[]%20"
    async with server(echo_capturing(seen)) as base, FlickrClient(endpoints_at(base)) as client:
        await client.call(creds, "flickr.photos.search", {"text": text})
    assert dict(flickr_check.query(seen[0]))["text"] == text
    flickr_check.verify(seen[0], creds, [])


async def test_cookies_flickr_sets_are_not_sent_back(creds: Credentials) -> None:
    cookies: list[str | None] = []

    async def flickr(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not reader.at_eof():
            headers = await read_head(reader)
            cookies.append(headers.get("cookie"))
            writer.write(answer(ECHO, b"Set-Cookie: session=user-a; Path=/"))
            await writer.drain()

    async with server(flickr) as base:
        # A host name, not an IP address: cookie jars ignore cookies from those.
        named = base.replace("127.0.0.1", "localhost")
        async with FlickrClient(endpoints_at(named)) as client:
            for _ in range(2):
                await client.call(creds, "flickr.test.echo", {})
    assert cookies == [None, None]


async def test_connections_stay_within_the_limit(creds: Credentials) -> None:
    open_now = most = 0

    async def flickr(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        try:
            while True:
                await read_head(reader)
                await asyncio.sleep(0.01)
                writer.write(answer(ECHO))
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            open_now -= 1

    async with (
        server(flickr) as base,
        FlickrClient(endpoints_at(base), max_connections=2) as client,
    ):
        await asyncio.gather(*(client.call(creds, "flickr.test.echo", {}) for _ in range(8)))
    assert most == 2


async def test_closed_client_leaves_no_open_session(creds: Credentials) -> None:
    async def flickr(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(answer(ECHO))
        await writer.drain()

    async with server(flickr) as base:
        client = FlickrClient(endpoints_at(base))
        await client.call(creds, "flickr.test.echo", {})
        await client.aclose()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
    assert [str(w.message) for w in caught] == []


async def test_proxy_from_the_environment_is_used(
    creds: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    request_lines: list[bytes] = []

    async with server(echo_recording(request_lines)) as proxy_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        async with FlickrClient(endpoints_at("http://flickr.invalid")) as client:
            assert await client.call(creds, "flickr.test.echo", {}) == {"stat": "ok"}
    assert request_lines[0].startswith(b"GET http://flickr.invalid/services/rest/?")


async def test_write_posts_a_signed_form_body_over_a_socket(
    creds: Credentials, flickr_check: FlickrCheck
) -> None:
    seen: list[httpx.Request] = []
    title = "caf\u00e9 & co+1 ~*"
    async with server(echo_capturing(seen)) as base, FlickrClient(endpoints_at(base)) as client:
        await client.call(creds, "flickr.photos.setMeta", {"photo_id": "1", "title": title})
    sent = seen[0]
    assert sent.method == "POST"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert dict(flickr_check.form(sent))["title"] == title
    flickr_check.verify(sent, creds, flickr_check.form(sent))


TOO_LARGE = {
    "declared": b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000,
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    + (b"10\r\n" + b"y" * 16 + b"\r\n") * 100
    + b"0\r\n\r\n",
}


@pytest.mark.parametrize("wire", TOO_LARGE.values(), ids=TOO_LARGE.keys())
async def test_answer_past_the_size_limit_is_refused(
    creds: Credentials, monkeypatch: pytest.MonkeyPatch, wire: bytes
) -> None:
    monkeypatch.setattr(client_module, "MAX_RESPONSE_BYTES", 64)

    async def flickr(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(wire)
        await writer.drain()
        await reader.read()  # until the client hangs up

    async with server(flickr) as base, FlickrClient(endpoints_at(base)) as client:
        with pytest.raises(FlickrHttpError) as info:
            await client.call(creds, "flickr.test.echo", {})
    assert info.value.retryable is False
    assert "larger than 64 bytes" in info.value.message


async def test_gzip_answer_is_decoded(creds: Credentials) -> None:
    packed = gzip.compress(b'{"stat":"ok","user":{"id":"1"}}')

    async def flickr(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await read_head(reader)
        assert "gzip" in headers.get("accept-encoding", "")
        writer.write(answer(packed, b"Content-Encoding: gzip", b"Content-Type: application/json"))
        await writer.drain()

    async with server(flickr) as base, FlickrClient(endpoints_at(base)) as client:
        result = await client.call(creds, "flickr.test.login", {})
    assert result == {"stat": "ok", "user": {"id": "1"}}


async def test_hosts_in_no_proxy_are_reached_directly(
    creds: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct: list[bytes] = []

    async with server(echo_recording(direct)) as base:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with FlickrClient(endpoints_at(base)) as client:
            assert await client.call(creds, "flickr.test.echo", {}) == {"stat": "ok"}
    assert direct[0].startswith(b"GET /services/rest/?")


@dataclass
class UnsizedPhoto:
    """A photo whose size is not known up front (a stream from elsewhere)."""

    data: bytes
    filename: str = "stream.jpg"
    content_type: str | None = "image/jpeg"
    size: None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), 64 * 1024):
            yield self.data[start : start + 64 * 1024]


async def test_photo_of_unknown_size_goes_chunked_over_a_socket(creds: Credentials) -> None:
    received: dict[str, object] = {}

    async def flickr(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await read_head(reader)
        body = b""
        while True:  # the chunked body: size line, chunk, CRLF; a 0 size ends it
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            body += (await reader.readexactly(size + 2))[:size]
            if size == 0:
                break
        received.update(headers=headers, body=body)
        writer.write(answer(OK_XML))
        await writer.drain()

    data = bytes(range(256)) * 1024  # 256 KiB
    async with server(flickr) as base, FlickrClient(endpoints_at(base)) as client:
        result = await client.upload(creds, UnsizedPhoto(data), {"title": "unsized"})
    assert result["photoid"] == {"_content": "42"}
    headers = received["headers"]
    assert isinstance(headers, dict)
    assert headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in headers
    body = received["body"]
    assert isinstance(body, bytes)
    assert data in body
