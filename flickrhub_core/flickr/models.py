"""Plain values the Flickr client takes and returns.

Every value that holds a secret or a token hides it from ``repr`` so that it can be
logged, put in an exception or shown in a traceback without leaking.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = [
    "FLICKR_ENDPOINTS",
    "AccessToken",
    "BytesPhoto",
    "CallKind",
    "CallRecord",
    "Credentials",
    "Endpoints",
    "PhotoSource",
    "RequestToken",
]


@dataclass(frozen=True)
class Credentials:
    """What signs a request: the consumer (API key) and, for user calls, a token.

    A token is only valid with the consumer key it was issued for.
    """

    consumer_key: str
    consumer_secret: str
    token: str | None = None
    token_secret: str | None = None

    def __repr__(self) -> str:
        token = "None" if self.token is None else "'***'"
        return f"Credentials(consumer_key={self.consumer_key!r}, token={token})"

    @property
    def consumer(self) -> Credentials:
        """The same consumer without the user token (for the OAuth token dance)."""
        return Credentials(self.consumer_key, self.consumer_secret)


@dataclass(frozen=True)
class Endpoints:
    """Where Flickr (or a simulator) lives. Signatures cover these exact URLs."""

    rest_url: str
    upload_url: str
    replace_url: str
    #: Base of ``/request_token``, ``/authorize`` and ``/access_token``.
    oauth_url: str

    def oauth(self, step: str) -> str:
        """The URL of one OAuth step (``request_token``, ``authorize``, ``access_token``)."""
        return f"{self.oauth_url.rstrip('/')}/{step}"


#: flickr.com itself, with the trailing slashes the Python reference library uses.
FLICKR_ENDPOINTS = Endpoints(
    rest_url="https://api.flickr.com/services/rest/",
    upload_url="https://up.flickr.com/services/upload/",
    replace_url="https://up.flickr.com/services/replace/",
    oauth_url="https://www.flickr.com/services/oauth",
)


@dataclass(frozen=True)
class RequestToken:
    """A temporary token: send the user to ``authorize_url(token, perms)`` with it."""

    token: str
    secret: str = field(repr=False)
    callback_confirmed: bool


@dataclass(frozen=True)
class AccessToken:
    """A user's long-lived token; Flickr documents no expiry, but users can revoke it."""

    token: str = field(repr=False)
    secret: str = field(repr=False)
    user_nsid: str
    username: str
    fullname: str


class PhotoSource(Protocol):
    """The photo an upload or replace streams, chunk by chunk.

    ``size`` lets the client send a ``Content-Length`` (and checks the bytes match);
    without it the body goes chunked. ``chunks()`` may be called again for a retry
    that provably was not sent, so it must start from the beginning each time.
    """

    # Read-only properties, so that plain attributes, frozen dataclass fields and
    # properties all satisfy the protocol.
    @property
    def filename(self) -> str: ...
    @property
    def size(self) -> int | None: ...
    @property
    def content_type(self) -> str | None: ...

    def chunks(self) -> AsyncIterator[bytes]: ...


CallKind = Literal["rest", "upload", "replace", "oauth"]


@dataclass(frozen=True)
class CallRecord:
    """One HTTP exchange with Flickr, for metrics and logs (never holds params or tokens).

    ``method`` is the REST method, or ``upload``/``replace``, or the OAuth step
    (``request_token``, ``access_token``). ``http_status`` is None when no answer
    arrived; ``flickr_code`` is set for ``stat: fail`` answers.
    """

    kind: CallKind
    method: str
    http_status: int | None
    duration_s: float
    ok: bool
    flickr_code: int | None = None


@dataclass(frozen=True)
class BytesPhoto:
    """A :class:`PhotoSource` over bytes already in memory (tests, small images)."""

    filename: str
    data: bytes = field(repr=False)
    content_type: str | None = None
    chunk_size: int = 64 * 1024

    @property
    def size(self) -> int:
        return len(self.data)

    async def chunks(self) -> AsyncIterator[bytes]:
        view = memoryview(self.data)
        for start in range(0, len(view), self.chunk_size):
            yield bytes(view[start : start + self.chunk_size])
