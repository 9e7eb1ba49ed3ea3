"""Fixtures for the ``mongo`` plugin: one MongoDB wire-protocol server per session.

With ``MONGO_URL`` set, that server is used (a real ``mongod``); otherwise
nx-27017 (MongoDB's wire protocol over SQLite, from PyPI) is started through
:mod:`tests.mongo.nx_launcher` on a free loopback port, with its own data dir,
log and pid files, and stopped at the end. Either way the session works in a
database of its own, dropped at the end, and each test in collections (or a
GridFS bucket) of its own.

Tests marked ``real_mongo`` need what only a real server does (TTL timing,
changing an index's options) and are skipped unless ``MONGO_URL`` is set.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from flickrhub_core.crypto import Keyring, new_key
from flickrhub_mongo import (
    ArchivePolicy,
    GridFSBlobStore,
    JobArchive,
    MongoConnection,
    MongoTokenStore,
)
from tests.mongo.helpers import MongoServer

LAUNCHER = Path(__file__).with_name("nx_launcher.py")
START_TIMEOUT = 30.0


@pytest.fixture(autouse=True)
def _real_mongo_only(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("real_mongo") and not os.environ.get("MONGO_URL"):
        pytest.skip("needs a real MongoDB server: set MONGO_URL")


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    database = f"flickrhub_test_{uuid.uuid4().hex[:12]}"
    url = os.environ.get("MONGO_URL")
    if url:
        server = MongoServer(url, database, None)
        try:
            yield server
        finally:
            _drop_database(server)
        return
    home = tmp_path_factory.mktemp("nx-27017")
    with _nx_27017(home) as url:
        server = MongoServer(url, database, home / "data")
        try:
            yield server
        finally:
            _drop_database(server)


@pytest.fixture
def suffix() -> str:
    """Names this test's collections and bucket."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def conn(mongo_server: MongoServer) -> AsyncIterator[MongoConnection]:
    connection = MongoConnection(mongo_server.url, mongo_server.database)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
def secret_key() -> str:
    return new_key()


@pytest.fixture
def keyring(secret_key: str) -> Keyring:
    return Keyring([secret_key])


@pytest.fixture
async def tokens(conn: MongoConnection, suffix: str, keyring: Keyring) -> MongoTokenStore:
    store = MongoTokenStore(conn, f"tokens_{suffix}", keyring)
    await store.ensure_indexes()
    return store


@pytest.fixture
def make_archive(conn: MongoConnection, suffix: str) -> Callable[..., Awaitable[JobArchive]]:
    async def make(policy: ArchivePolicy | None = None) -> JobArchive:
        archive = JobArchive(conn, f"jobs_{suffix}", policy or ArchivePolicy())
        await archive.ensure_indexes()
        return archive

    return make


@pytest.fixture
async def blobs(conn: MongoConnection, suffix: str) -> GridFSBlobStore:
    store = GridFSBlobStore(conn, f"b{suffix}")
    await store.ensure_indexes()
    return store


# --- the server --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _nx_27017(home: Path) -> Iterator[str]:
    """nx-27017 on a free loopback port; its console output goes to ``console.log``."""
    (home / "data").mkdir()
    port = _free_port()
    args = [
        sys.executable,
        str(LAUNCHER),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(home / "data"),
        "--log-file",
        str(home / "nx-27017.log"),
        "--pid-file",
        str(home / "nx-27017.pid"),
    ]
    url = f"mongodb://127.0.0.1:{port}/"
    with (home / "console.log").open("wb") as console:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_up(proc, url, home)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_until_up(proc: subprocess.Popen[bytes], url: str, home: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            tail = (home / "console.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"nx-27017 exited with {proc.returncode}:\n{tail}")
        client: MongoClient[dict[str, object]] = MongoClient(url, serverSelectionTimeoutMS=250)
        try:
            client.admin.command("ping")
            return
        except PyMongoError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nx-27017 did not answer within {START_TIMEOUT} s") from None
        finally:
            client.close()
        time.sleep(0.1)


def _drop_database(server: MongoServer) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(server.url, serverSelectionTimeoutMS=5000)
    try:
        client.drop_database(server.database)
    finally:
        client.close()
