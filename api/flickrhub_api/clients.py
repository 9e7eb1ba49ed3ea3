"""API clients: who is calling, from the API key of each request.

``FLICKRHUB_API_KEYS`` lists the clients as ``name=key`` pairs, comma separated.
It is parsed once, when the app is made, into :class:`ClientKeys`, which keeps only
each key's SHA-256 digest: the keys themselves are not held anywhere after that.
A request presents its key as ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``;
the digest of what it presents is compared with every client's in constant time,
all of them every time, so timing tells neither a key nor which client's it is.

The client's name is the owner of everything the request makes (user_ids, tokens,
jobs): another client sees none of it (404, as if it did not exist).

Without keys configured every request is the owner ``default`` (the embedded,
loopback-only mode, see :func:`flickrhub_core.serve.check_api_exposure`).

Some paths need no key: probes and metrics (``/metrics`` exposes only counts and
queue depths; keeping it off the public network is the operator's job, as for
any scrape target), the OpenAPI document and its docs page, the OAuth callback
(the browser Flickr sends back carries no key: the pending authorisation's owner,
bound by ``state``, is used instead), the web UI's pages and assets, which
authenticate through their own session, and ``/__config.js`` (the API's base URL,
which a page needs before it has any key).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from quart import Quart, current_app, request

from flickrhub_api.context import DEFAULT_OWNER, set_owner
from flickrhub_core.errors import ConfigError, Unauthorized
from flickrhub_core.settings import Settings

__all__ = [
    "API_KEY_HEADER",
    "EXEMPT_PATHS",
    "EXEMPT_PREFIXES",
    "ClientKeys",
    "install_authentication",
    "is_exempt",
    "presented_key",
]

API_KEY_HEADER = "X-API-Key"
SETTING = "FLICKRHUB_API_KEYS"
CLIENTS_KEY = "flickrhub.clients"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: A key is sent in a header: printable ASCII without blanks, bounded.
_KEY = re.compile(r"^[\x21-\x7e]{1,512}$")

#: Paths anyone may call (see the module docstring for why each is safe).
EXEMPT_PATHS = frozenset(
    {
        "/healthz",
        "/health",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/favicon.ico",
        "/api/v1/auth/callback",
        "/",
        "/ui",
        "/__config.js",
    }
)
EXEMPT_PREFIXES = ("/ui/", "/static/")


def is_exempt(path: str) -> bool:
    """Whether ``path`` is served without an API key."""
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


@dataclass(frozen=True)
class ClientKeys:
    """The configured clients: name and SHA-256 digest of its key."""

    digests: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def parse(cls, raw: str | None) -> ClientKeys:
        """Parse ``name=key,name2=key2``; a bad list is a one-line :class:`ConfigError`
        that names the entry by position and the client by name, never a key."""
        if raw is None or not raw.strip():
            return cls()
        entries: list[tuple[str, bytes]] = []
        names: set[str] = set()
        seen: dict[bytes, str] = {}
        for position, entry in enumerate(raw.split(","), start=1):
            entry = entry.strip()
            if not entry:
                continue
            name, sep, key = entry.partition("=")
            name, key = name.strip(), key.strip()
            if not sep:
                raise ConfigError(f"{SETTING}: entry {position} is not name=key")
            if not _NAME.match(name):
                raise ConfigError(
                    f"{SETTING}: entry {position} has an invalid client name "
                    "(1-64 of A-Z a-z 0-9 _ . -)"
                )
            if name in names:
                raise ConfigError(f"{SETTING}: client {name!r} is listed twice")
            if not _KEY.match(key):
                raise ConfigError(
                    f"{SETTING}: the key of client {name!r} must be 1-512 printable "
                    "ASCII characters without blanks"
                )
            digest = _digest(key)
            if digest in seen:
                raise ConfigError(
                    f"{SETTING}: clients {seen[digest]!r} and {name!r} have the same key"
                )
            names.add(name)
            seen[digest] = name
            entries.append((name, digest))
        if not entries:
            raise ConfigError(f"{SETTING} is set but lists no name=key pair")
        return cls(tuple(entries))

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientKeys:
        raw = settings.api_keys.get_secret_value() if settings.api_keys is not None else None
        return cls.parse(raw)

    @property
    def enabled(self) -> bool:
        """Whether requests must authenticate (any client configured)."""
        return bool(self.digests)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.digests]

    def authenticate(self, presented: str) -> str | None:
        """The name of the client whose key ``presented`` is, or None.

        Every client's digest is compared, in constant time, whatever matched.
        """
        candidate = _digest(presented)
        found: str | None = None
        for name, digest in self.digests:
            if hmac.compare_digest(candidate, digest):
                found = name
        return found


def presented_key() -> str | None:
    """The key of this request: ``X-API-Key``, else ``Authorization: Bearer``."""
    key = request.headers.get(API_KEY_HEADER)
    if key:
        return key.strip()
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def client_keys() -> ClientKeys:
    """The clients of the app serving this request."""
    keys: ClientKeys = current_app.extensions[CLIENTS_KEY]
    return keys


async def _authenticate() -> None:
    keys = client_keys()
    if not keys.enabled:
        set_owner(DEFAULT_OWNER)
        return
    if is_exempt(request.path):
        return  # no owner: current_owner() refuses, so nothing here can act as a client
    key = presented_key()
    if key is None:
        raise Unauthorized(
            f"an API key is required: send it as {API_KEY_HEADER} or Authorization: Bearer"
        )
    name = keys.authenticate(key)
    if name is None:
        raise Unauthorized("invalid API key")
    set_owner(name)


def install_authentication(app: Quart, settings: Settings) -> ClientKeys:
    """Parse the clients (a bad list refuses to start) and check each request."""
    keys = ClientKeys.from_settings(settings)
    app.extensions[CLIENTS_KEY] = keys
    app.before_request(_authenticate)
    return keys
