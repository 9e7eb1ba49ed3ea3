"""One PyMongo ``AsyncMongoClient`` per runtime, made on first use, and the one-line
error a failed start turns into (never showing ``MONGO_URL``: it may hold a password).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    InvalidURI,
    OperationFailure,
    PyMongoError,
)

from flickrhub_core.errors import ConfigError

Document = dict[str, Any]

#: How long ``startup`` (and every later operation) waits for a usable server.
SERVER_SELECTION_TIMEOUT_MS = 5_000
CONNECT_TIMEOUT_MS = 5_000
APP_NAME = "flickrhub"

#: Server error codes worth naming in the start error.
_AUTH_FAILED = 18
_UNAUTHORIZED = 13
_MAX_REASON = 200


class MongoConnection:
    """The client and database of one runtime. The client is made lazily (inside
    the event loop that uses it) and can be made again after :meth:`close`."""

    def __init__(self, url: str, database: str) -> None:
        self._url = url
        self.database_name = database
        self._client: AsyncMongoClient[Document] | None = None

    def __repr__(self) -> str:  # never the URL
        return f"MongoConnection(database={self.database_name!r})"

    @property
    def client(self) -> AsyncMongoClient[Document]:
        if self._client is None:
            self._client = AsyncMongoClient(
                self._url,
                serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
                connectTimeoutMS=CONNECT_TIMEOUT_MS,
                tz_aware=True,
                appname=APP_NAME,
            )
        return self._client

    @property
    def db(self) -> AsyncDatabase[Document]:
        return self.client[self.database_name]

    def collection(self, name: str) -> AsyncCollection[Document]:
        return self.db[name]

    async def ping(self) -> None:
        await self.client.admin.command("ping")

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def start_error(self, exc: PyMongoError | ValueError) -> ConfigError:
        """A failed start as one line naming the setting, never its value."""
        reason = _scrub(_reason(exc), _secrets_of(self._url))
        return ConfigError(
            f"MongoDB (MONGO_URL, database {self.database_name!r}) is not usable: {reason}"
        )


def _reason(exc: PyMongoError | ValueError) -> str:
    # PyMongo raises ValueError for some malformed URLs (a port out of range).
    if isinstance(exc, InvalidURI | ValueError):  # its text may quote the URL: not shown
        return "MONGO_URL is not a valid MongoDB connection string"
    if isinstance(exc, ConfigurationError):  # an option, or a mongodb+srv DNS lookup
        return f"MONGO_URL cannot be used ({str(exc)[:_MAX_REASON]})"
    if isinstance(exc, OperationFailure):
        if exc.code == _AUTH_FAILED:
            return "authentication failed (check the user and password in MONGO_URL)"
        if exc.code == _UNAUTHORIZED:
            return "the user in MONGO_URL is not authorised for this database"
        name = (exc.details or {}).get("codeName") or exc.code
        return f"the server refused an operation ({name})"
    if isinstance(exc, ConnectionFailure):
        # "host:port: [Errno 111] Connection refused (configured timeouts: ...),
        #  Timeout: 5.0s, Topology Description: <...>": keep the first part.
        first = str(exc).split(", Timeout:")[0]
        first = re.sub(r"\s*\(configured timeouts:[^)]*\)", "", first)
        seconds = SERVER_SELECTION_TIMEOUT_MS / 1000
        return f"no server answered within {seconds:g} s ({first.strip()[:_MAX_REASON]})"
    return type(exc).__name__


def _secrets_of(url: str) -> list[str]:
    """Every form in which the URL's credentials could show up in a message."""
    found = [url]
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        found += [password, unquote(password)]
    userinfo = url.partition("://")[2].rpartition("@")[0]
    if userinfo:
        found.append(userinfo)
    return sorted({s for s in found if s}, key=len, reverse=True)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return " ".join(text.split())
