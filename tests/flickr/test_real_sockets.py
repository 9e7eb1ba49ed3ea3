"""The client over real loopback sockets: what "sent" means on an actual network."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from flickrhub_core.errors import FlickrTransportError
from flickrhub_core.flickr import BytesPhoto, Credentials, Endpoints, FlickrClient

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK_XML = (
    b'<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="ok">\n<photoid>42</photoid>\n</rsp>\n'
)


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
