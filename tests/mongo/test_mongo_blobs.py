"""The GridFS blob store: upload bytes streamed in and out with flat memory,
nothing left behind by an oversized, failed or cancelled upload."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator

import pytest
from gridfs import AsyncGridFSBucket

from flickrhub_core.errors import InvalidRequest, NotFound
from flickrhub_core.stores import BlobStore
from flickrhub_mongo import GridFSBlobStore, MongoConnection
from flickrhub_mongo._blobs import CHUNK_SIZE
from tests.mongo.helpers import MongoServer, gridfs_rows, stream

MB = 1024 * 1024


async def read_all(store: GridFSBlobStore, blob_id: str) -> list[bytes]:
    return [chunk async for chunk in store.open(blob_id)]


async def test_a_multi_chunk_stream_round_trips_with_its_sha256(blobs: GridFSBlobStore) -> None:
    parts = [os.urandom(100_000) for _ in range(30)]  # 3 MB in odd-sized parts
    data = b"".join(parts)

    info = await blobs.put(stream(parts), filename="big.jpg", content_type="image/jpeg")
    chunks = await read_all(blobs, info.id)

    assert isinstance(blobs, BlobStore)
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) == CHUNK_SIZE
    assert info.size == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.filename == "big.jpg"
    assert info.content_type == "image/jpeg"
    assert await blobs.stat(info.id) == info


async def test_an_empty_stream_is_an_empty_blob(blobs: GridFSBlobStore) -> None:
    info = await blobs.put(stream([]), filename="empty.jpg", content_type=None)

    assert info.size == 0
    assert await read_all(blobs, info.id) == []
    assert await blobs.stat(info.id) == info


async def test_a_blob_of_exactly_one_chunk(blobs: GridFSBlobStore) -> None:
    data = os.urandom(CHUNK_SIZE)

    info = await blobs.put(stream([data]), filename="a.jpg", content_type=None)

    assert await read_all(blobs, info.id) == [data]


async def test_forty_megabytes_stream_through_with_flat_memory(blobs: GridFSBlobStore) -> None:
    size = 40 * MB
    part = 64 * 1024 + 123  # odd-sized parts, like a network read
    sent = hashlib.sha256()

    async def source() -> AsyncIterator[bytes]:
        remaining = size
        while remaining:
            piece = os.urandom(min(part, remaining))
            remaining -= len(piece)
            sent.update(piece)
            yield piece

    tracemalloc.start()
    try:
        info = await blobs.put(source(), filename="big.jpg", content_type="image/jpeg")
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        received = hashlib.sha256()
        count = 0
        async for chunk in blobs.open(info.id):
            assert len(chunk) <= CHUNK_SIZE
            received.update(chunk)
            count += len(chunk)
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert info.size == size == count
    assert info.sha256 == sent.hexdigest() == received.hexdigest()
    assert upload_peak < 8 * MB, upload_peak
    assert download_peak < 8 * MB, download_peak


async def test_past_max_bytes_the_upload_is_refused_and_nothing_is_left(
    blobs: GridFSBlobStore, conn: MongoConnection, mongo_server: MongoServer
) -> None:
    parts = [os.urandom(MB) for _ in range(3)]  # several chunks written before the limit

    with pytest.raises(InvalidRequest, match="larger than"):
        await blobs.put(stream(parts), filename="a.jpg", content_type=None, max_bytes=2 * MB + 1)

    assert await gridfs_rows(mongo_server, conn, blobs.bucket) == (0, 0)


async def test_a_failing_stream_leaves_nothing(
    blobs: GridFSBlobStore, conn: MongoConnection, mongo_server: MongoServer
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield os.urandom(MB)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await blobs.put(broken(), filename="a.jpg", content_type=None)

    assert await gridfs_rows(mongo_server, conn, blobs.bucket) == (0, 0)


async def test_a_cancelled_upload_leaves_nothing(
    blobs: GridFSBlobStore, conn: MongoConnection, mongo_server: MongoServer
) -> None:
    sent = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield os.urandom(MB)
        sent.set()
        await asyncio.sleep(3600)
        yield b"never"

    task = asyncio.create_task(blobs.put(slow(), filename="a.jpg", content_type=None))
    await sent.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await gridfs_rows(mongo_server, conn, blobs.bucket) == (0, 0)


async def test_a_missing_blob_is_not_found(blobs: GridFSBlobStore) -> None:
    missing = "0" * 32

    assert await blobs.stat(missing) is None
    with pytest.raises(NotFound):
        await read_all(blobs, missing)
    await blobs.delete(missing)  # nothing to delete is fine


@pytest.mark.parametrize("bad_id", ["", "../etc/passwd", "A" * 32, "0" * 24, "0" * 33])
async def test_an_id_that_is_not_ours_is_unknown(blobs: GridFSBlobStore, bad_id: str) -> None:
    assert await blobs.stat(bad_id) is None
    with pytest.raises(NotFound):
        await read_all(blobs, bad_id)
    await blobs.delete(bad_id)


async def test_a_deleted_blob_is_gone_with_its_chunks(
    blobs: GridFSBlobStore, conn: MongoConnection, mongo_server: MongoServer
) -> None:
    keep = await blobs.put(stream([b"keep"]), filename="k.jpg", content_type=None)
    info = await blobs.put(stream([os.urandom(MB)]), filename="a.jpg", content_type=None)

    await blobs.delete(info.id)

    assert await blobs.stat(info.id) is None
    with pytest.raises(NotFound):
        await read_all(blobs, info.id)
    assert await gridfs_rows(mongo_server, conn, blobs.bucket) == (1, 1)
    assert await read_all(blobs, keep.id) == [b"keep"]


async def test_pymongos_gridfs_reads_the_blobs(
    blobs: GridFSBlobStore, conn: MongoConnection
) -> None:
    data = os.urandom(CHUNK_SIZE * 2 + 17)
    info = await blobs.put(stream([data]), filename="p.jpg", content_type="image/png")

    bucket = AsyncGridFSBucket(conn.db, bucket_name=blobs.bucket)
    download = await bucket.open_download_stream(info.id)

    assert await download.read() == data
    assert download.filename == "p.jpg"
    assert download.metadata == {"content_type": "image/png", "sha256": info.sha256}
