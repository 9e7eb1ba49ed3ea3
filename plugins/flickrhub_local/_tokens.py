"""Connected Flickr accounts in SQLite: the ``tokens`` table.

Each row holds the whole :class:`StoredToken` as JSON plus the columns it is
looked up by. In that JSON ``consumer_secret``, ``token`` and ``token_secret``
are Fernet-encrypted with the runtime's keyring
(:mod:`flickrhub_core.token_crypto`); the file's 0600 mode protects the rest.
Rows written before encryption hold plain secrets: they are read as they are and
encrypted by :meth:`SqliteTokenStore.rotate` (``flickrhub tokens rotate-key``).
"""

from __future__ import annotations

import builtins
import json
import sqlite3
from pathlib import Path
from typing import Any

from flickrhub_core.crypto import Keyring
from flickrhub_core.stores import StoredToken
from flickrhub_core.token_crypto import open_token, reseal_record, seal_token
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
    """A :class:`~flickrhub_core.stores.TokenStore` that survives restarts, its
    secrets encrypted with ``keyring``.

    Also a :class:`~flickrhub_core.token_crypto.RotatingTokenStore` and a
    :class:`~flickrhub_core.token_crypto.ListingTokenStore`.
    """

    def __init__(self, path: Path, keyring: Keyring) -> None:
        self.db = Database(path, SCHEMA, synchronous="FULL")
        self.keyring = keyring

    async def get(self, user_id: str) -> StoredToken | None:
        def work(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT record FROM tokens WHERE user_id = ?", (user_id,))
            return _first(row)

        return self._open(await self.db.run(work))

    async def owner(self, user_id: str) -> str | None:
        """The ``owner`` column alone: the record is neither parsed nor decrypted."""

        def work(conn: sqlite3.Connection) -> str | None:
            return _first(conn.execute("SELECT owner FROM tokens WHERE user_id = ?", (user_id,)))

        return await self.db.run(work)

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

        return self._open(await self.db.run(work))

    async def put(self, token: StoredToken) -> None:
        values = (
            token.user_id,
            token.owner,
            token.consumer_key,
            token.user_nsid,
            token.created_at.timestamp(),
            token.updated_at.timestamp(),
            json.dumps(seal_token(self.keyring, token, mode="json")),
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

        return [self._open_record(record) for record in await self.db.run(work)]

    async def list_all(self) -> builtins.list[StoredToken]:
        """Every owner's tokens, by owner, then oldest connection first."""

        def work(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute("SELECT record FROM tokens ORDER BY owner, created_at, user_id")
            return [record for (record,) in rows]

        return [self._open_record(record) for record in await self.db.run(work)]

    async def rotate(self, keyring: Keyring) -> tuple[int, int]:
        """Re-encrypt every row's secrets with ``keyring``'s newest key (plain rows
        get encrypted); ``(rotated, already_current)``. One transaction: a secret
        no key decrypts changes nothing and raises ``ConfigError``."""

        def work(conn: sqlite3.Connection) -> tuple[int, int]:
            rotated = current = 0
            rows = conn.execute("SELECT user_id, record FROM tokens").fetchall()
            for user_id, record in rows:
                resealed = reseal_record(keyring, _record(record))
                if resealed is None:
                    current += 1
                    continue
                conn.execute(
                    "UPDATE tokens SET record = ? WHERE user_id = ?",
                    (json.dumps(resealed), user_id),
                )
                rotated += 1
            return rotated, current

        return await self.db.run(work)

    async def close(self) -> None:
        await self.db.close()

    def _open(self, record: str | None) -> StoredToken | None:
        return None if record is None else self._open_record(record)

    def _open_record(self, record: str) -> StoredToken:
        return open_token(self.keyring, _record(record))


def _first(cursor: sqlite3.Cursor) -> str | None:
    row = cursor.fetchone()
    return None if row is None else str(row[0])


def _record(text: str) -> dict[str, Any]:
    record = json.loads(text)
    if not isinstance(record, dict):
        raise ValueError("a token row's record is not a JSON object")
    return record
