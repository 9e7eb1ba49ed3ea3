"""Upload bytes in GridFS, streamed both ways with memory that stays flat.

The layout is GridFS's own (bucket ``uploads``: ``uploads.files`` and
``uploads.chunks``, chunks ``{files_id, n, data}`` of 255 KiB, the files document
written last), so ``gridfs.AsyncGridFSBucket``, ``mongofiles`` and other drivers
read these blobs. The chunks are written and read here rather than through
PyMongo's ``GridIn``/``GridOut``, because those hold far more than a chunk: ``GridIn``
buffers up to 48 MB of chunks before its first insert, and ``GridOut``'s cursor
fetches batches of up to 16 MB (a 40 MB upload peaked at ~117 MB traced through
``open_upload_stream``). Here at most :data:`WINDOW` chunks are in memory.

A blob is complete when its files document holds ``metadata.sha256``: ``stat``
and ``open`` know no other (a server may show a files document during the
upload). File ids are our own 32-hex-digit uuid4 strings, not ObjectIds or UUIDs.
Oversized, failed and cancelled uploads delete what they wrote.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Coroutine
from typing import Any

from bson import Int64
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from flickrhub_core.errors import InvalidRequest, NotFound
from flickrhub_core.jobs import utcnow
from flickrhub_core.stores import BlobInfo
from flickrhub_mongo._connection import Document, MongoConnection

BUCKET = "uploads"
#: GridFS's default chunk size (255 KiB): under 256 KiB with the chunk's BSON overhead.
CHUNK_SIZE = 255 * 1024
#: Chunks per round trip, written or read: about 1 MB.
WINDOW = 4
BLOB_ID = re.compile(r"^[0-9a-f]{32}$")
_GONE = "upload data not found"


class GridFSBlobStore:
    """A :class:`~flickrhub_core.stores.BlobStore` in GridFS."""

    def __init__(
        self, conn: MongoConnection, bucket: str = BUCKET, *, chunk_size: int = CHUNK_SIZE
    ) -> None:
        self.conn = conn
        self.bucket = bucket
        self.chunk_size = chunk_size

    @property
    def files(self) -> AsyncCollection[Document]:
        return self.conn.collection(f"{self.bucket}.files")

    @property
    def chunks(self) -> AsyncCollection[Document]:
        return self.conn.collection(f"{self.bucket}.chunks")

    async def ensure_indexes(self) -> None:
        """The indexes the GridFS spec asks for."""
        await self.chunks.create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)
        await self.files.create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)])

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        filename: str,
        content_type: str | None,
        max_bytes: int | None = None,
    ) -> BlobInfo:
        blob_id = uuid.uuid4().hex
        digest = hashlib.sha256()
        size = 0
        n = 0
        buffer = bytearray()
        pending: list[Document] = []
        try:
            async for part in chunks:
                size += len(part)
                if max_bytes is not None and size > max_bytes:
                    raise InvalidRequest(f"photo is larger than {max_bytes} bytes")
                digest.update(part)
                buffer += part
                while len(buffer) >= self.chunk_size:
                    pending.append(self._chunk(blob_id, n, buffer[: self.chunk_size]))
                    del buffer[: self.chunk_size]
                    n += 1
                    if len(pending) >= WINDOW:
                        await self.chunks.insert_many(pending)
                        pending.clear()
            if buffer:
                pending.append(self._chunk(blob_id, n, buffer))
            if pending:
                await self.chunks.insert_many(pending)
                pending.clear()
            info = BlobInfo(blob_id, size, filename, content_type, digest.hexdigest())
            await self.files.insert_one(
                {
                    "_id": blob_id,
                    "length": Int64(size),
                    "chunkSize": self.chunk_size,
                    "uploadDate": utcnow(),
                    "filename": filename,
                    "metadata": {"content_type": content_type, "sha256": info.sha256},
                }
            )
        except BaseException:
            await _finish(self._discard(blob_id))
            raise
        return info

    async def stat(self, blob_id: str) -> BlobInfo | None:
        doc = await self._file(blob_id)
        return None if doc is None else _info(blob_id, doc)

    async def open(self, blob_id: str) -> AsyncIterator[bytes]:
        doc = await self._file(blob_id)
        if doc is None:
            raise NotFound(_GONE)
        length = int(doc["length"])
        chunk_size = int(doc["chunkSize"])
        count = -(-length // chunk_size) if chunk_size > 0 else 0
        for start in range(0, count, WINDOW):
            end = min(start + WINDOW, count)
            cursor = self.chunks.find(
                {"files_id": blob_id, "n": {"$gte": start, "$lt": end}},
                {"_id": False, "n": True, "data": True},
            ).sort("n", ASCENDING)
            window = await cursor.to_list()
            if [chunk["n"] for chunk in window] != list(range(start, end)):
                raise NotFound(_GONE)  # deleted while being read
            for chunk in window:
                yield bytes(chunk["data"])

    async def delete(self, blob_id: str) -> None:
        if BLOB_ID.match(blob_id):
            await self._discard(blob_id)

    # --- helpers -----------------------------------------------------------------------

    @staticmethod
    def _chunk(blob_id: str, n: int, data: bytes | bytearray) -> Document:
        return {"files_id": blob_id, "n": n, "data": bytes(data)}

    async def _file(self, blob_id: str) -> Document | None:
        """The files document of a complete blob, or None."""
        if not BLOB_ID.match(blob_id):
            return None
        doc = await self.files.find_one({"_id": blob_id})
        if doc is None or not isinstance(doc.get("metadata"), dict):
            return None
        return doc if "sha256" in doc["metadata"] else None

    async def _discard(self, blob_id: str) -> None:
        """Remove a blob: its chunks first (some servers find chunks through the files
        document), then the files document if there is one (some servers refuse to
        delete a missing one)."""
        await self.chunks.delete_many({"files_id": blob_id})
        if await self.files.find_one({"_id": blob_id}, {"_id": True}) is not None:
            await self.files.delete_one({"_id": blob_id})


def _info(blob_id: str, doc: Document) -> BlobInfo:
    meta: dict[str, Any] = doc["metadata"]
    content_type = meta.get("content_type")
    return BlobInfo(
        id=blob_id,
        size=int(doc["length"]),
        filename=str(doc.get("filename") or ""),
        content_type=None if content_type is None else str(content_type),
        sha256=str(meta["sha256"]),
    )


async def _finish(cleanup: Coroutine[Any, Any, None]) -> None:
    """Run ``cleanup`` to its end even if the caller is being cancelled; its own
    failure is dropped (the caller re-raises the error that made it necessary)."""
    task: asyncio.Task[None] = asyncio.ensure_future(cleanup)
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            continue  # cancelled again: keep waiting, the caller re-raises anyway
        except Exception:  # noqa: S110 - the upload's own error is what the caller sees
            pass
    if task.done() and not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it
