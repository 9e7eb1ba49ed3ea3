"""The ``mongo`` plugin: connected accounts, the job archive and upload bytes in
MongoDB, for the distributed mode (several API and worker processes share them).

It answers only when ``MONGO_URL`` is set; otherwise it stays out of the way and
``local`` answers (``local``'s hooks are ``trylast``, so this one wins when both
answer). Database ``MONGO_DB`` (``flickrhub``):

* ``TOKEN_COLLECTION`` (``tokens``): the connected Flickr accounts, their
  secrets Fernet-encrypted with the runtime's keyring (``token_store`` hook);
* ``JOB_COLLECTION`` (``jobs``): the archive of finished jobs, as the earlier
  system kept it (``SAVE_FAILED_TO_MONGO``, ``SAVE_COMPLETED_TO_MONGO``, TTL
  indexes of ``JOB_TTL_FAIL_DAYS`` / ``JOB_TTL_COMPLETE_DAYS``; ``job_event`` hook).
  While MongoDB is away, archive writes are retried in the background and jobs
  complete meanwhile (:mod:`flickrhub_mongo._writer`);
* GridFS bucket ``uploads``: upload bytes between the API and the worker
  (``blob_store`` hook).

PyMongo's async API (``AsyncMongoClient``) throughout. ``startup`` connects
(5 s to find a server), pings and makes the indexes; a failure stops the start
with one line that never shows ``MONGO_URL``. ``shutdown`` closes the client.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from pymongo.errors import ConnectionFailure, PyMongoError

from flickrhub_core import hookimpl
from flickrhub_mongo._archive import ArchivePolicy, JobArchive
from flickrhub_mongo._blobs import BUCKET, GridFSBlobStore
from flickrhub_mongo._connection import MongoConnection
from flickrhub_mongo._tokens import MongoTokenStore
from flickrhub_mongo._writer import ArchiveWriter

if TYPE_CHECKING:
    from flickrhub_core.events import JobEvent
    from flickrhub_core.runtime import Runtime
    from flickrhub_core.stores import BlobStore, TokenStore

__all__ = [
    "BUCKET",
    "ArchivePolicy",
    "ArchiveWriter",
    "GridFSBlobStore",
    "JobArchive",
    "MongoConnection",
    "MongoTokenStore",
    "archive_of",
    "blob_store",
    "job_archive",
    "job_event",
    "shutdown",
    "startup",
    "token_store",
]


class _Mongo:
    """This plugin's objects for one runtime, sharing one client."""

    def __init__(self, runtime: Runtime, url: str) -> None:
        settings = runtime.settings
        self.conn = MongoConnection(url, settings.mongo_db)
        self.tokens = MongoTokenStore(
            self.conn, settings.token_collection, runtime.keyring, runtime.consumer
        )
        self.archive = JobArchive(
            self.conn, settings.job_collection, ArchivePolicy.from_settings(settings)
        )
        self.blobs = GridFSBlobStore(self.conn)
        self.writer = ArchiveWriter(self.archive)


# Per runtime, since tests (and embedders) may build several in one process.
_mongos: weakref.WeakKeyDictionary[Runtime, _Mongo] = weakref.WeakKeyDictionary()
# The runtimes whose archive is open (this plugin's token store is the one in use).
_archiving: weakref.WeakSet[Runtime] = weakref.WeakSet()


def _mongo(runtime: Runtime) -> _Mongo | None:
    """This plugin's objects, or None when ``MONGO_URL`` is not set."""
    mongo = _mongos.get(runtime)
    if mongo is None:
        secret = runtime.settings.mongo_url
        url = secret.get_secret_value().strip() if secret is not None else ""
        if not url:
            return None
        mongo = _mongos[runtime] = _Mongo(runtime, url)
    return mongo


def archive_of(runtime: Runtime) -> JobArchive | None:
    """The job archive this plugin keeps for ``runtime``, if it made one."""
    mongo = _mongos.get(runtime)
    return None if mongo is None else mongo.archive


@hookimpl
def token_store(runtime: Runtime) -> TokenStore | None:
    mongo = _mongo(runtime)
    return None if mongo is None else mongo.tokens


@hookimpl
def blob_store(runtime: Runtime) -> BlobStore | None:
    mongo = _mongo(runtime)
    return None if mongo is None else mongo.blobs


@hookimpl
def job_archive(runtime: Runtime) -> JobArchive | None:
    # Only while this plugin's archive is the one jobs are written to.
    return _mongos[runtime].archive if runtime in _archiving else None


@hookimpl
def job_event(runtime: Runtime, event: JobEvent) -> Awaitable[bool] | None:
    if not event.job.state.finished or runtime not in _archiving:
        return None
    return _mongos[runtime].writer.record(event.job)


@hookimpl
def startup(runtime: Runtime) -> Awaitable[None]:
    return _start(runtime)


@hookimpl
def shutdown(runtime: Runtime) -> Awaitable[None]:
    return _stop(runtime)


async def _start(runtime: Runtime) -> None:
    mongo = _mongos.get(runtime)
    if mongo is None:  # no MONGO_URL
        return
    uses_tokens = runtime.token_store is mongo.tokens
    uses_blobs = runtime.blobs is mongo.blobs
    if not (uses_tokens or uses_blobs):  # other plugins answered first
        return
    # MongoDB away (a restart, an election) is a 503 for the API, not a 500.
    runtime.add_unavailable_errors(ConnectionFailure)
    try:
        await mongo.conn.ping()
        if uses_tokens:
            await mongo.tokens.ensure_indexes()
            await mongo.archive.ensure_indexes()
        if uses_blobs:
            await mongo.blobs.ensure_indexes()
    except (PyMongoError, ValueError) as exc:  # ValueError: some malformed URLs
        await mongo.conn.close()
        raise mongo.conn.start_error(exc) from None
    if uses_tokens:
        _archiving.add(runtime)
    policy = mongo.archive.policy
    runtime.log.info(
        "mongo_connected",
        database=mongo.conn.database_name,
        tokens=uses_tokens,
        blobs=uses_blobs,
        archive_failed=uses_tokens and policy.save_failed,
        archive_completed=uses_tokens and policy.save_completed,
    )


async def _stop(runtime: Runtime) -> None:
    mongo = _mongos.get(runtime)
    if mongo is None:
        return
    _archiving.discard(runtime)
    await mongo.writer.close()
    await mongo.conn.close()
