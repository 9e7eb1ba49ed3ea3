"""Flow control: a slow consumer holds the client back instead of filling memory."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from collections.abc import AsyncIterable, AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from quart import Quart

from flickrhub_api import create_app
from flickrhub_api.streaming import HIGH_WATER, FlowControlledBody, FlowControlledConnection
from flickrhub_core.runtime import Runtime
from flickrhub_core.serve import HttpServer, bind_socket
from flickrhub_core.stores import BlobInfo
from tests.api.conftest import connect

MESSAGE = 64 * 1024


async def test_the_receiver_waits_while_the_handler_is_behind() -> None:
    body = FlowControlledBody(None, None)
    body.enable_flow_control()
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"x" * MESSAGE, "more_body": True}

    connection = FlowControlledConnection(cast(Quart, None), cast(Any, {}))
    task = asyncio.create_task(
        connection.handle_messages(cast(Any, SimpleNamespace(body=body)), cast(Any, receive))
    )
    try:
        await asyncio.sleep(0.05)
        held = received
        assert held * MESSAGE <= HIGH_WATER + MESSAGE
        await body.__anext__()  # the handler catches up ...
        await asyncio.sleep(0.05)
        assert received > held  # ... and the receiver goes on
    finally:
        task.cancel()


async def test_a_body_awaited_whole_is_not_held_back() -> None:
    body = FlowControlledBody(None, None)
    body.enable_flow_control()
    for _ in range(40):
        body.append(b"x" * MESSAGE)
    body.set_complete()
    assert len(await body) == 40 * MESSAGE


def test_the_limit_counts_every_byte_not_just_the_buffer() -> None:
    body = FlowControlledBody(None, 100)
    body.append(b"x" * 60)
    body._data.clear()  # as a streaming reader does
    body.append(b"x" * 60)
    assert body._must_raise is not None


class SlowSink:
    """A blob store slower than the network (50 MiB/s) that keeps nothing but a hash."""

    bytes_per_second = 50 * 1024 * 1024

    def __init__(self) -> None:
        self.infos: dict[str, BlobInfo] = {}

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        filename: str,
        content_type: str | None,
        max_bytes: int | None = None,
    ) -> BlobInfo:
        digest = hashlib.sha256()
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            digest.update(chunk)
            await asyncio.sleep(len(chunk) / self.bytes_per_second)
        info = BlobInfo(f"blob-{len(self.infos)}", size, filename, content_type, digest.hexdigest())
        self.infos[info.id] = info
        return info

    async def stat(self, blob_id: str) -> BlobInfo | None:
        return self.infos.get(blob_id)

    def open(self, blob_id: str) -> AsyncIterator[bytes]:
        raise NotImplementedError

    async def delete(self, blob_id: str) -> None:
        self.infos.pop(blob_id, None)


@pytest.mark.e2e
async def test_a_large_upload_over_http_keeps_memory_flat(
    make_runtime: Any,
) -> None:
    size = 48 * 1024 * 1024
    rt: Runtime = make_runtime(max_upload_bytes=size)
    sink = SlowSink()
    rt.backends.blobs = sink
    app = create_app(rt)
    server = HttpServer(app, bind_socket("127.0.0.1", 0))
    await server.start()
    boundary = "hubBoundary42"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="user_id"\r\n\r\nuser-1\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    block = bytes(range(256)) * 256  # 64 KiB
    expected = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        yield head
        for _ in range(size // len(block)):
            expected.update(block)
            yield block
        yield f"\r\n--{boundary}--\r\n".encode()

    try:
        await connect(rt)
        tracemalloc.start()
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.post(
                f"{server.url}/api/v1/flickr/upload",
                content=body(),
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        await server.stop()
    assert response.status_code == 202, response.text
    job = await rt.jobs.get(response.json()["data"]["job_id"])
    assert job is not None and job.blob_id is not None
    info = sink.infos[job.blob_id]
    assert (info.size, info.sha256) == (size, expected.hexdigest())
    assert peak < 12 * 1024 * 1024, (
        f"peak {peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB photo"
    )
