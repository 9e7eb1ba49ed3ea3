"""One SQLite connection, used from one dedicated thread so the event loop never blocks.

Every call runs on the same worker thread, one at a time, so the connection needs
no lock and SQLite's own thread checks stay on. The file and its directory are
created private (0600 / 0700) before SQLite touches them; SQLite gives its ``-wal``
and ``-shm`` files the database file's permissions.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, TypeVar

T = TypeVar("T")

DIR_MODE = 0o700
FILE_MODE = 0o600
#: How long a writer waits for another connection's write lock (the archive and
#: the token store share one file; an API and a worker process may too).
BUSY_TIMEOUT_MS = 5_000


def private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) and make it owner-only: secrets live under it."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)


class Database:
    """A lazily opened SQLite connection with a schema, in WAL mode.

    It opens on first use (hooks hand out stores before ``startup``), and can be
    opened again after :meth:`close`.
    """

    def __init__(
        self,
        path: Path,
        schema: str,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "FULL",
    ) -> None:
        self.path = path
        self._schema = schema
        self._synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` in one transaction on the database thread."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"flickrhub-sqlite-{self.path.name}"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, work)

    async def open(self) -> None:
        """Open now (``startup`` does, so a bad data dir stops the start)."""
        await self.run(lambda _conn: None)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(executor, self._close)
        finally:
            executor.shutdown(wait=False)

    # --- on the database thread ---------------------------------------------------

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn if self._conn is not None else self._connect()
        with conn:
            return work(conn)

    def _connect(self) -> sqlite3.Connection:
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        os.close(fd)
        os.chmod(self.path, FILE_MODE)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            with conn:
                conn.executescript(self._schema)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
