"""Records and checks for the ``mongo`` plugin's tests.

Times are whole milliseconds: BSON dates keep no more, so records round-trip equal.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flickrhub_core.jobs import Job, JobState, utcnow
from flickrhub_core.stores import StoredToken
from flickrhub_mongo import JobArchive, MongoConnection

MakeArchive = Callable[..., Awaitable[JobArchive]]


@dataclass(frozen=True)
class MongoServer:
    url: str
    #: This session's database.
    database: str
    #: nx-27017's data dir (one SQLite file per database), None for a real server.
    data_dir: Path | None

    @property
    def real(self) -> bool:
        return self.data_dir is None


def ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def now_ms(delta: float = 0.0) -> datetime:
    return ms(utcnow() + timedelta(seconds=delta))


def make_token(
    user_id: str = "u1", *, owner: str = "app", nsid: str = "1@N01", age: float = 0.0
) -> StoredToken:
    at = now_ms(-age)
    return StoredToken(
        user_id=user_id,
        owner=owner,
        consumer_key="ck",
        consumer_secret=f"consumer-secret-{user_id}",
        token=f"token-{user_id}",
        token_secret=f"token-secret-{user_id}",
        user_nsid=nsid,
        username=f"name-{user_id}",
        created_at=at,
        updated_at=at,
    )


def make_job(
    state: JobState = JobState.COMPLETED,
    *,
    owner: str = "app",
    user_id: str = "u1",
    target: str = "rest",
    method: str | None = "flickr.test.echo",
    age: float = 0.0,
) -> Job:
    """A job in ``state``, created and (if finished) finished ``age`` seconds ago."""
    at = now_ms(-age)
    return Job(
        owner=owner,
        user_id=user_id,
        target=target,
        method=method,
        params={"name": "value"},
        state=state,
        result={"stat": "ok"} if state is JobState.COMPLETED else None,
        error={"code": "ERR_X", "message": "no"} if state is JobState.FAILED else None,
        meta={"$odd.key": 1},
        created_at=at,
        started_at=at,
        finished_at=at if state.finished else None,
    )


async def stream(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def index_keys(conn: MongoConnection, collection: str) -> dict[tuple[str, ...], Any]:
    """Each index of ``collection`` by its key fields (never by name), with its options."""
    found: dict[tuple[str, ...], Any] = {}
    async for index in await conn.collection(collection).list_indexes():
        found[tuple(dict(index["key"]))] = dict(index)
    return found


async def gridfs_rows(server: MongoServer, conn: MongoConnection, bucket: str) -> tuple[int, int]:
    """How many files documents and chunks ``bucket`` holds, whole or partial.

    nx-27017 keeps GridFS in two SQLite tables and answers ``find({})`` on chunks
    with nothing, so there the tables themselves are counted.
    """
    if server.data_dir is None:
        return (
            await conn.collection(f"{bucket}.files").count_documents({}),
            await conn.collection(f"{bucket}.chunks").count_documents({}),
        )
    path = server.data_dir / f"{server.database}.db"

    def count() -> tuple[int, int]:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            counts = []
            for table in (f"{bucket}_files", f"{bucket}_chunks"):
                if table in tables:
                    counts.append(int(db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]))
                else:
                    counts.append(0)
            return counts[0], counts[1]

    return await asyncio.to_thread(count)
