"""The REST method table: each method's name, required permission and handler.

``requiredperms`` follows Flickr's reflection data (0 none, 1 read, 2 write, 3 delete).
Handlers receive a :class:`CallContext` and return the JSON payload without ``stat``;
they refuse with :class:`~flickrhub_core.sandbox.errors.ApiFailure`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .auth import Caller
from .errors import ApiFailure
from .library import Library, User
from .tokens import TokenStore

Payload = dict[str, Any]
Handler = Callable[["CallContext"], Payload]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    perms: int
    handler: Handler


@dataclass
class CallContext:
    library: Library
    tokens: TokenStore
    caller: Caller
    #: Every parameter, one value per name (the ``Authorization`` header's win).
    params: dict[str, str]
    #: Query and body parameters only: the arguments given explicitly.
    arguments: dict[str, str]
    echo: list[tuple[str, str]]
    now: float
    max_upload_bytes: int

    @property
    def viewer(self) -> str | None:
        """NSID of the logged-in user, None for anonymous or consumer-only calls."""
        return self.caller.user_nsid

    @property
    def user(self) -> User:
        """The logged-in user; only for methods whose ``perms`` guarantee a token."""
        nsid = self.caller.user_nsid
        if nsid is None or nsid not in self.library.users:
            raise ApiFailure(99, "User not logged in / Insufficient permissions")
        return self.library.users[nsid]

    def arg(self, name: str) -> str | None:
        """A parameter's value, None when absent or blank."""
        value = self.params.get(name, "").strip()
        return value or None

    def int_arg(self, name: str, default: int, low: int, high: int | None = None) -> int:
        """An integer parameter, falling back to ``default`` when absent or unparseable."""
        try:
            value = int(self.params.get(name, ""))
        except ValueError:
            return default
        if value < low:
            return default
        return min(value, high) if high is not None else value

    def extras(self) -> set[str]:
        return {part.strip() for part in self.params.get("extras", "").split(",") if part.strip()}


METHODS: dict[str, MethodSpec] = {}


def method(name: str, perms: int = 0) -> Callable[[Handler], Handler]:
    """Register a handler for a Flickr REST method."""

    def register(handler: Handler) -> Handler:
        if name in METHODS:
            raise ValueError(f"duplicate sandbox method {name}")
        METHODS[name] = MethodSpec(name, perms, handler)
        return handler

    return register
