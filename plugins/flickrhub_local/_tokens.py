"""Connected Flickr accounts in SQLite: the ``tokens`` table.

Each row holds the whole :class:`StoredToken` as JSON plus the columns it is
looked up by. The token and its secrets are stored as they are: encryption at
rest is a later issue; until then the file's 0600 mode is what protects them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flickrhub_core.stores import StoredToken
from flickrhub_local._database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    user_id      TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    consumer_key TEXT NOT NULL,
    user_nsid    TEXT NOT NULL,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    record       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_account ON tokens (owner, consumer_key, user_nsid);
"""


class SqliteTokenStore:
    """A :class:`~flickrhub_core.stores.TokenStore` that survives restarts."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path, SCHEMA, synchronous="FULL")

    async def get(self, user_id: str) -> StoredToken | None:
        def work(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT record FROM tokens WHERE user_id = ?", (user_id,))
            return _first(row)

        return _token(await self.db.run(work))

    async def find_account(
        self, owner: str, consumer_key: str, user_nsid: str
    ) -> StoredToken | None:
        def work(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT record FROM tokens"
                " WHERE owner = ? AND consumer_key = ? AND user_nsid = ?"
                " ORDER BY updated_at DESC LIMIT 1",
                (owner, consumer_key, user_nsid),
            )
            return _first(row)

        return _token(await self.db.run(work))

    async def put(self, token: StoredToken) -> None:
        values = (
            token.user_id,
            token.owner,
            token.consumer_key,
            token.user_nsid,
            token.created_at.timestamp(),
            token.updated_at.timestamp(),
            token.model_dump_json(),
        )

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO tokens"
                " (user_id, owner, consumer_key, user_nsid, created_at, updated_at, record)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET"
                " owner = excluded.owner, consumer_key = excluded.consumer_key,"
                " user_nsid = excluded.user_nsid, created_at = excluded.created_at,"
                " updated_at = excluded.updated_at, record = excluded.record",
                values,
            )

        await self.db.run(work)

    async def delete(self, user_id: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,)).rowcount > 0

        return await self.db.run(work)

    async def list(self, owner: str) -> list[StoredToken]:
        """Oldest connection first, as the in-memory store lists them."""

        def work(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT record FROM tokens WHERE owner = ? ORDER BY created_at, user_id",
                (owner,),
            )
            return [record for (record,) in rows]

        return [StoredToken.model_validate_json(record) for record in await self.db.run(work)]

    async def close(self) -> None:
        await self.db.close()


def _first(cursor: sqlite3.Cursor) -> str | None:
    row = cursor.fetchone()
    return None if row is None else str(row[0])


def _token(record: str | None) -> StoredToken | None:
    return None if record is None else StoredToken.model_validate_json(record)
