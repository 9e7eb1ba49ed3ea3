"""The ``local`` plugin: persistence for the embedded mode, so a restart loses no
connected account.

What it stores, under ``FLICKRHUB_DATA_DIR`` (made 0700; every file in it is 0600):

* ``flickrhub.db``, SQLite in WAL mode:

  * table ``tokens``: the connected Flickr accounts (``token_store`` hook);
  * table ``jobs``: the archive of finished jobs (``job_event`` hook), pruned at
    start after ``JOB_TTL_COMPLETE`` / ``JOB_TTL_FAIL`` seconds. The hook only
    queues the job; a background task writes the queue in batches
    (:mod:`flickrhub_local._archive`).

* ``blobs/<id>`` and ``blobs/<id>.json``: upload bytes between the API and the
  worker, and their metadata (``blob_store`` hook).

Access tokens' secrets are stored Fernet-encrypted with the runtime's keyring
(``FLICKRHUB_SECRET_KEY``, or in the embedded mode ``secret.key`` in the data
dir); ``flickrhub tokens rotate-key`` re-encrypts them with the newest key.

The stores open on first use and in ``startup``; ``shutdown`` writes the queued
jobs, then closes them. The archive records jobs while this plugin's token store
is the one in use: when a production plugin (``mongo``) answers the persistence
hooks, this one stays idle.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING

from flickrhub_core import hookimpl
from flickrhub_core.errors import ConfigError
from flickrhub_local._archive import JobArchive
from flickrhub_local._blobs import FileBlobStore
from flickrhub_local._database import private_dir
from flickrhub_local._tokens import SqliteTokenStore

if TYPE_CHECKING:
    from flickrhub_core.crypto import Keyring
    from flickrhub_core.events import JobEvent
    from flickrhub_core.runtime import Runtime
    from flickrhub_core.stores import BlobStore, TokenStore

__all__ = [
    "BLOB_DIR",
    "DATABASE",
    "FileBlobStore",
    "JobArchive",
    "SqliteTokenStore",
    "archive_of",
    "blob_store",
    "job_archive",
    "job_event",
    "shutdown",
    "startup",
    "token_store",
]

DATABASE = "flickrhub.db"
BLOB_DIR = "blobs"
#: Upload temp files older than this were left by a crash; ``startup`` removes them.
STALE_UPLOAD_SECONDS = 24 * 3600.0


class _Local:
    """This plugin's objects for one runtime."""

    def __init__(self, data_dir: Path, keyring: Keyring) -> None:
        self.data_dir = data_dir
        self.tokens = SqliteTokenStore(data_dir / DATABASE, keyring)
        self.archive = JobArchive(data_dir / DATABASE)
        self.blobs = FileBlobStore(data_dir / BLOB_DIR)


# Per runtime, since tests (and embedders) may build several in one process.
_locals: weakref.WeakKeyDictionary[Runtime, _Local] = weakref.WeakKeyDictionary()
# The runtimes whose archive is open (this plugin's stores are the ones in use).
_archiving: weakref.WeakSet[Runtime] = weakref.WeakSet()


def _local(runtime: Runtime) -> _Local:
    local = _locals.get(runtime)
    if local is None:
        local = _locals[runtime] = _Local(runtime.settings.data_dir, runtime.keyring)
    return local


def archive_of(runtime: Runtime) -> JobArchive | None:
    """The job archive this plugin keeps for ``runtime``, if it made one."""
    local = _locals.get(runtime)
    return None if local is None else local.archive


@hookimpl(trylast=True)
def token_store(runtime: Runtime) -> TokenStore:
    return _local(runtime).tokens


@hookimpl(trylast=True)
def blob_store(runtime: Runtime) -> BlobStore:
    return _local(runtime).blobs


@hookimpl
def job_archive(runtime: Runtime) -> JobArchive | None:
    # Only while this plugin's archive is the one jobs are written to.
    return _locals[runtime].archive if runtime in _archiving else None


@hookimpl
def job_event(runtime: Runtime, event: JobEvent) -> Awaitable[None] | None:
    if not event.job.state.finished or runtime not in _archiving:
        return None
    return _locals[runtime].archive.enqueue(event.job)


@hookimpl
def startup(runtime: Runtime) -> Awaitable[None]:
    return _start(runtime)


@hookimpl
def shutdown(runtime: Runtime) -> Awaitable[None]:
    return _stop(runtime)


async def _start(runtime: Runtime) -> None:
    local = _locals.get(runtime)
    if local is None:  # other plugins answered every persistence hook
        return
    settings = runtime.settings
    try:
        if runtime.token_store is local.tokens:
            await local.tokens.db.open()
            pruned = await local.archive.prune(settings.job_ttl_complete, settings.job_ttl_fail)
            _archiving.add(runtime)
            runtime.log.info(
                "local_store_opened", path=str(local.tokens.db.path), archive_pruned=pruned
            )
        if runtime.blobs is local.blobs:
            await asyncio.to_thread(private_dir, local.blobs.root)
            await asyncio.to_thread(local.blobs.sweep, STALE_UPLOAD_SECONDS)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(
            f"FLICKRHUB_DATA_DIR {str(local.data_dir)!r} is not usable: {exc}"
        ) from None


async def _stop(runtime: Runtime) -> None:
    local = _locals.get(runtime)
    if local is None:
        return
    _archiving.discard(runtime)
    await local.tokens.close()
    await local.archive.close()
