"""Who is calling: the consumer key, and the user behind an access token if any.

Order of checks for REST, upload and replace (cheap and unambiguous first):

1. A consumer key sent at all (``oauth_consumer_key`` or ``api_key``, not empty), else
   code 100 ``Invalid API Key (Key has invalid format)``, as Flickr answered a request
   whose OAuth header lacked ``oauth_consumer_key`` and whose ``api_key`` was empty
   (flickr-api.md §5, ``upload_fail_code100.xml``). Then, with OAuth parameters, the
   other protocol parameters complete (400 ``parameter_absent``); without them, a bare
   ``api_key`` (unsigned call, allowed for methods needing no login).
2. Consumer key known, else code 100 ``Invalid API Key (Key not found)``.
3. Timestamp within ``timestamp_skew_s``, else 401 ``timestamp_refused``.
4. ``oauth_token`` names a live access token of this consumer, else code 98.
5. Signature, else 401 ``signature_invalid`` with ``debug_sbs``.
6. Nonce not seen before with this key and timestamp, else 401 ``nonce_used``.

The OAuth endpoints use the same steps with their own answers (see ``oauth_endpoints``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import insufficient_perms, invalid_key, invalid_token, parameter_absent
from .oauth import (
    OAuthParams,
    RequestParams,
    check_signature,
    check_timestamp,
    protocol_params,
)
from .state import SandboxState
from .tokens import AccessToken


@dataclass(frozen=True)
class RequestLine:
    """HTTP method and the URI the client signed (``scheme://Host/raw-path``)."""

    method: str
    uri: str


@dataclass(frozen=True)
class Caller:
    consumer_key: str
    signed: bool
    oauth: OAuthParams | None = None
    token: AccessToken | None = None

    @property
    def user_nsid(self) -> str | None:
        return self.token.user_nsid if self.token is not None else None

    @property
    def perms(self) -> int:
        return self.token.perms if self.token is not None else 0


def consumer_key_hint(params: RequestParams) -> str | None:
    """The key a request claims, before anything is verified (for rate limiting)."""
    merged = params.merged()
    return merged.get("oauth_consumer_key") or merged.get("api_key") or None


def verify_signed(
    state: SandboxState,
    line: RequestLine,
    params: RequestParams,
    oauth: OAuthParams,
    consumer_secret: str,
    token_secret: str,
) -> None:
    """Steps 3, 5 and 6 above (the caller resolved the key and token secret)."""
    now = state.clock()
    timestamp = check_timestamp(oauth.timestamp, now, state.config.timestamp_skew_s)
    check_signature(
        http_method=line.method,
        uri=line.uri,
        params=params,
        provided=oauth.signature,
        consumer_secret=consumer_secret,
        token_secret=token_secret,
    )
    state.nonces.check_and_add(oauth.consumer_key, oauth.nonce, timestamp, now)


def authenticate(state: SandboxState, line: RequestLine, params: RequestParams) -> Caller:
    """Resolve and verify the caller of a REST, upload or replace request."""
    merged = params.merged()
    api_key = merged.get("api_key")
    if not api_key and not merged.get("oauth_consumer_key"):
        raise invalid_key("Key has invalid format")
    if not params.is_oauth:
        if api_key not in state.config.consumers:
            raise invalid_key()
        return Caller(consumer_key=api_key, signed=False)
    oauth = protocol_params(params)
    secret = state.config.consumers.get(oauth.consumer_key)
    if secret is None or (api_key and api_key != oauth.consumer_key):
        raise invalid_key()
    token: AccessToken | None = None
    if oauth.token is not None:
        token = state.tokens.access_token(oauth.token)
        if token is None or token.consumer_key != oauth.consumer_key:
            check_timestamp(oauth.timestamp, state.clock(), state.config.timestamp_skew_s)
            raise invalid_token()
    verify_signed(state, line, params, oauth, secret, token.secret if token else "")
    return Caller(consumer_key=oauth.consumer_key, signed=True, oauth=oauth, token=token)


def require_user(caller: Caller, required: int) -> None:
    """Enforce a permission level: no token → 400 ``parameter_absent`` (signed) or 99."""
    if required <= 0:
        return
    if caller.token is None:
        if caller.signed:
            raise parameter_absent("oauth_token")
        raise insufficient_perms(required, 0)
    if caller.token.perms < required:
        raise insufficient_perms(required, caller.token.perms)
