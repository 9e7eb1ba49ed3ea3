"""OAuth credentials the sandbox has handed out: request tokens and access tokens.

Shapes follow the recordings: tokens are ``<17 digits>-<16 hex>``, secrets and
verifiers 16 hex digits. A request token lives ``request_token_ttl_s`` (600 s, checked
lazily), can be exchanged once, and only after the user approved it on the authorize
page. Access tokens never expire but can be revoked (``POST /sandbox/tokens/revoke``);
each remembers its consumer key, user and permission level (read < write < delete).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

PERMS = {"read": 1, "write": 2, "delete": 3}


def _token() -> str:
    return f"72157{secrets.randbelow(10**12):012d}-{secrets.token_hex(8)}"


@dataclass
class RequestToken:
    token: str
    secret: str
    consumer_key: str
    callback: str
    created: float
    status: str = "pending"  # pending -> approved | denied -> used
    perms: int = 0
    user_nsid: str | None = None
    verifier: str | None = None
    csrf: set[str] = field(default_factory=set)


@dataclass
class AccessToken:
    token: str
    secret: str
    consumer_key: str
    user_nsid: str
    perms: int
    revoked: bool = False


class TokenStore:
    """Request and access tokens of one sandbox (kept across ``/sandbox/reset``)."""

    def __init__(self, request_token_ttl_s: int) -> None:
        self.ttl = request_token_ttl_s
        self.request_tokens: dict[str, RequestToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}

    def new_request_token(self, consumer_key: str, callback: str, now: float) -> RequestToken:
        self._expire(now)
        token = RequestToken(_token(), secrets.token_hex(8), consumer_key, callback, now)
        self.request_tokens[token.token] = token
        return token

    def request_token(self, token: str, now: float) -> RequestToken | None:
        """A live request token (not expired, not yet exchanged)."""
        self._expire(now)
        found = self.request_tokens.get(token)
        return found if found is not None and found.status != "used" else None

    def approve(self, token: RequestToken, perms: int, user_nsid: str) -> str:
        """Record the user's approval; returns the verifier (kept if approved again)."""
        token.status, token.perms, token.user_nsid = "approved", perms, user_nsid
        if token.verifier is None:
            token.verifier = secrets.token_hex(8)
        return token.verifier

    def deny(self, token: RequestToken) -> None:
        token.status, token.verifier = "denied", None

    def exchange(self, token: RequestToken) -> AccessToken:
        """Turn an approved request token into an access token; the request token is spent."""
        if token.user_nsid is None:
            raise ValueError("only an approved request token can be exchanged")
        token.status = "used"
        access = AccessToken(
            _token(), secrets.token_hex(8), token.consumer_key, token.user_nsid, token.perms
        )
        self.access_tokens[access.token] = access
        return access

    def access_token(self, token: str) -> AccessToken | None:
        found = self.access_tokens.get(token)
        return found if found is not None and not found.revoked else None

    def revoke(self, token: str) -> bool:
        found = self.access_tokens.get(token)
        if found is None:
            return False
        found.revoked = True
        return True

    def _expire(self, now: float) -> None:
        stale = [t for t, rt in self.request_tokens.items() if now - rt.created > self.ttl]
        for token in stale:
            del self.request_tokens[token]
