"""Upload bytes as files: ``<root>/<id>`` plus its metadata in ``<root>/<id>.json``.

A blob is written to a hidden temp file in the same directory, hashed as it
streams, then renamed into place; its sidecar is written last, so a blob exists
exactly when its sidecar does. Oversized, failed and cancelled writes leave
nothing behind. Ids are 32 lowercase hex digits (uuid4); anything else is
treated as unknown before any path is built from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from flickrhub_core.errors import InvalidRequest, NotFound
from flickrhub_core.stores import BlobInfo
from flickrhub_local._database import FILE_MODE, private_dir

CHUNK = 256 * 1024
BLOB_ID = re.compile(r"^[0-9a-f]{32}$")
TEMP_SUFFIX = ".part"
T = TypeVar("T")


class FileBlobStore:
    """A :class:`~flickrhub_core.stores.BlobStore` on the local disk; memory stays flat."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        filename: str,
        content_type: str | None,
        max_bytes: int | None = None,
    ) -> BlobInfo:
        await asyncio.to_thread(private_dir, self.root)
        blob_id = uuid.uuid4().hex
        digest = hashlib.sha256()
        size = 0
        buffer = bytearray()
        # os.open of a new local file is quick; doing it here means no thread can
        # hold a file we would not know to close.
        file = _create(self._temp(blob_id))
        try:
            async for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise InvalidRequest(f"photo is larger than {max_bytes} bytes")
                digest.update(chunk)
                buffer += chunk
                if len(buffer) >= CHUNK:
                    await _blocking(file.write, bytes(buffer))
                    buffer.clear()
            info = BlobInfo(blob_id, size, filename, content_type, digest.hexdigest())
            await _blocking(self._commit, file, bytes(buffer), info)
        except BaseException:
            # Synchronous on purpose: it runs to the end even while being cancelled,
            # and no thread is still writing (``_blocking`` waited for it).
            file.close()
            self._discard(blob_id)
            raise
        return info

    async def stat(self, blob_id: str) -> BlobInfo | None:
        if not BLOB_ID.match(blob_id):
            return None
        return await asyncio.to_thread(self._read_meta, blob_id)

    async def open(self, blob_id: str) -> AsyncIterator[bytes]:
        if not BLOB_ID.match(blob_id):
            raise NotFound("upload data not found")
        try:
            file = await asyncio.to_thread(self._data(blob_id).open, "rb")
        except FileNotFoundError:
            raise NotFound("upload data not found") from None
        try:
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                yield chunk
        finally:
            file.close()

    async def delete(self, blob_id: str) -> None:
        if BLOB_ID.match(blob_id):
            await asyncio.to_thread(self._remove, blob_id)

    def sweep(self, older_than: float) -> int:
        """Remove temp files older than ``older_than`` seconds, left by a crashed
        process mid-upload; return how many. Blocking: run it in a thread."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than
        removed = 0
        for path in self.root.glob(f".*{TEMP_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    # --- blocking helpers, run in threads -------------------------------------------

    def _data(self, blob_id: str) -> Path:
        return self.root / blob_id

    def _meta(self, blob_id: str) -> Path:
        return self.root / f"{blob_id}.json"

    def _temp(self, blob_id: str) -> Path:
        return self.root / f".{blob_id}{TEMP_SUFFIX}"

    def _meta_temp(self, blob_id: str) -> Path:
        return self.root / f".{blob_id}.json{TEMP_SUFFIX}"

    def _commit(self, file: BinaryIO, tail: bytes, info: BlobInfo) -> None:
        file.write(tail)
        file.flush()
        os.fsync(file.fileno())
        file.close()
        os.replace(self._temp(info.id), self._data(info.id))
        meta = {
            "filename": info.filename,
            "content_type": info.content_type,
            "size": info.size,
            "sha256": info.sha256,
        }
        meta_temp = self._meta_temp(info.id)
        with _create(meta_temp) as out:
            out.write(json.dumps(meta).encode())
        os.replace(meta_temp, self._meta(info.id))

    def _read_meta(self, blob_id: str) -> BlobInfo | None:
        try:
            meta = json.loads(self._meta(blob_id).read_bytes())
        except FileNotFoundError:
            return None
        return BlobInfo(
            id=blob_id,
            size=int(meta["size"]),
            filename=str(meta["filename"]),
            content_type=meta["content_type"],
            sha256=str(meta["sha256"]),
        )

    def _discard(self, blob_id: str) -> None:
        """Remove every file a failed ``put`` may have made (its id was never handed out)."""
        for path in (
            self._temp(blob_id),
            self._meta_temp(blob_id),
            self._meta(blob_id),
            self._data(blob_id),
        ):
            path.unlink(missing_ok=True)

    def _remove(self, blob_id: str) -> None:
        # Sidecar first: once it is gone the blob no longer exists for ``stat``.
        self._meta(blob_id).unlink(missing_ok=True)
        self._data(blob_id).unlink(missing_ok=True)


async def _blocking(func: Callable[..., T], *args: Any) -> T:
    """Run ``func`` in a thread. If the caller is cancelled meanwhile, wait for the
    thread to finish before re-raising, so cleanup never races a write."""
    task = asyncio.ensure_future(asyncio.to_thread(func, *args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved here: the cancellation is what the caller sees
        raise


def _create(path: Path) -> BinaryIO:
    """A new owner-only file; fails if ``path`` exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    return os.fdopen(fd, "wb")
