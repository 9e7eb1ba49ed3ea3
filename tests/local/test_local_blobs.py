"""The file blob store: upload bytes streamed to disk and back, nothing left behind."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from flickrhub_core.errors import InvalidRequest, NotFound
from flickrhub_local import FileBlobStore
from flickrhub_local._blobs import CHUNK


async def stream(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read_all(store: FileBlobStore, blob_id: str) -> list[bytes]:
    return [chunk async for chunk in store.open(blob_id)]


def files_in(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


async def test_a_multi_megabyte_stream_round_trips_in_chunks_with_its_sha256(
    blobs: FileBlobStore,
) -> None:
    parts = [os.urandom(100_000) for _ in range(50)]  # 5 MB in odd-sized parts
    data = b"".join(parts)

    info = await blobs.put(stream(parts), filename="big.jpg", content_type="image/jpeg")
    chunks = await read_all(blobs, info.id)

    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) == CHUNK
    assert info.size == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert await blobs.stat(info.id) == info


async def test_an_empty_stream_is_an_empty_blob(blobs: FileBlobStore) -> None:
    info = await blobs.put(stream([]), filename="empty.jpg", content_type=None)

    assert info.size == 0
    assert await read_all(blobs, info.id) == []
    assert await blobs.stat(info.id) == info


async def test_blob_files_are_private(blobs: FileBlobStore) -> None:
    info = await blobs.put(stream([b"photo"]), filename="a.jpg", content_type="image/jpeg")

    assert stat.S_IMODE(blobs.root.stat().st_mode) == 0o700
    for name in (info.id, f"{info.id}.json"):
        assert stat.S_IMODE((blobs.root / name).stat().st_mode) == 0o600


async def test_a_stream_over_max_bytes_is_refused_and_leaves_no_files(
    blobs: FileBlobStore,
) -> None:
    parts = [b"x" * CHUNK] * 8

    with pytest.raises(InvalidRequest, match="larger than"):
        await blobs.put(stream(parts), filename="a.jpg", content_type=None, max_bytes=5 * CHUNK)

    assert files_in(blobs.root) == []


async def test_a_stream_that_fails_leaves_no_files(blobs: FileBlobStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (CHUNK + 1)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await blobs.put(broken(), filename="a.jpg", content_type=None)

    assert files_in(blobs.root) == []


async def test_a_cancelled_put_leaves_no_files(blobs: FileBlobStore) -> None:
    started = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"x" * (CHUNK * 2)
        started.set()
        await asyncio.sleep(60)
        yield b"never"

    task = asyncio.create_task(blobs.put(slow(), filename="a.jpg", content_type=None))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert files_in(blobs.root) == []


@pytest.mark.parametrize(
    "bad_id", ["../data/flickrhub.db", "..", "/etc/passwd", "A" * 32, "abc", "0" * 31 + "g"]
)
async def test_a_blob_id_that_is_not_hex_never_reaches_the_filesystem(
    blobs: FileBlobStore, data_dir: Path, bad_id: str
) -> None:
    blobs.root.mkdir(parents=True)
    outside = data_dir / "flickrhub.db"
    outside.write_bytes(b"not a blob")

    assert await blobs.stat(bad_id) is None
    with pytest.raises(NotFound):
        await read_all(blobs, bad_id)
    await blobs.delete(bad_id)

    assert outside.read_bytes() == b"not a blob"


async def test_opening_a_missing_blob_raises_not_found(blobs: FileBlobStore) -> None:
    with pytest.raises(NotFound):
        await read_all(blobs, "0" * 32)
    assert await blobs.stat("0" * 32) is None


async def test_delete_removes_the_bytes_and_the_metadata(blobs: FileBlobStore) -> None:
    info = await blobs.put(stream([b"photo"]), filename="a.jpg", content_type="image/jpeg")

    await blobs.delete(info.id)

    assert files_in(blobs.root) == []
    assert await blobs.stat(info.id) is None
    await blobs.delete(info.id)  # deleting twice is fine


async def test_sweep_removes_only_stale_temp_files(blobs: FileBlobStore) -> None:
    info = await blobs.put(stream([b"photo"]), filename="a.jpg", content_type=None)
    stale = blobs.root / f".{'1' * 32}.part"
    fresh = blobs.root / f".{'2' * 32}.part"
    stale.write_bytes(b"left by a crash")
    fresh.write_bytes(b"being written now")
    long_ago = time.time() - 7200
    os.utime(stale, (long_ago, long_ago))

    assert blobs.sweep(older_than=3600) == 1

    assert files_in(blobs.root) == sorted([fresh.name, info.id, f"{info.id}.json"])
