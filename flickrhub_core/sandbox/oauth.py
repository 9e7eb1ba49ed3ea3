"""OAuth 1.0a HMAC-SHA1 verification, the way Flickr checks requests.

Parameters are gathered from the three places Flickr reads them: the query string,
the ``Authorization: OAuth ...`` header and the body, where Flickr (unlike RFC 5849)
also signs the text fields of a multipart body; the ``photo`` file never takes part.
The base string URI is the scheme, ``Host`` header and raw path exactly as requested,
so ``/services/rest`` and ``/services/rest/`` sign differently, as on Flickr.

oauthlib builds the base string (``normalize_parameters``, ``base_string_uri``,
``signature_base_string``) and the HMAC. Its own ``collect_parameters`` is not used
for the query and body: it percent-decodes ``oauth_*`` values a second time after
form-decoding them. The sandbox decodes once, as the RFC says, and additionally accepts
a signature computed over the doubly decoded values, which is what oauthlib-based
clients sign when they put ``oauth_*`` parameters in the query or body.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849 import utils as oauth_utils

from .errors import OAuthProblem, parameter_absent

REQUIRED = (
    "oauth_consumer_key",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
)
_MARKERS = frozenset(REQUIRED)


@dataclass(frozen=True)
class RequestParams:
    """Every parameter of one request, by where it came from, decoded once."""

    query: list[tuple[str, str]]
    header: list[tuple[str, str]]
    body: list[tuple[str, str]]

    def ordered(self) -> list[tuple[str, str]]:
        return [*self.query, *self.header, *self.body]

    def merged(self) -> dict[str, str]:
        """One value per name (body over query; header oauth values over both)."""
        return dict([*self.query, *self.body, *self.header])

    def arguments(self) -> dict[str, str]:
        """The query and body parameters alone (body over query): what the caller passed
        as arguments, leaving out the ``Authorization`` header's protocol parameters."""
        return dict([*self.query, *self.body])

    @property
    def is_oauth(self) -> bool:
        """True when the request carries OAuth protocol parameters (it is signed or tries to be)."""
        return any(name in _MARKERS for name, _ in self.ordered())


@dataclass(frozen=True)
class OAuthParams:
    """The protocol parameters of a signed request."""

    consumer_key: str
    signature: str
    signature_method: str
    timestamp: str
    nonce: str
    values: dict[str, str]

    @property
    def token(self) -> str | None:
        return self.values.get("oauth_token") or None


def collect(
    query_string: bytes, authorization: str | None, body: list[tuple[str, str]]
) -> RequestParams:
    """Gather a request's parameters; a malformed OAuth header is a 400 problem."""
    query = parse_qsl(query_string.decode("utf-8", "replace"), keep_blank_values=True)
    header: list[tuple[str, str]] = []
    if authorization and authorization[:6].lower() == "oauth ":
        try:
            raw = oauth_utils.parse_authorization_header(authorization)
        except ValueError as exc:
            raise OAuthProblem(
                400, "parameter_rejected", [("oauth_parameters_rejected", "Authorization")]
            ) from exc
        # oauthlib 4 leaves header values percent-encoded (RFC 5849 §3.5.1): decode them.
        header = [(name, oauth_utils.unescape(value)) for name, value in raw if name != "realm"]
    return RequestParams(query=query, header=header, body=list(body))


def protocol_params(params: RequestParams) -> OAuthParams:
    """The ``oauth_*`` parameters of a signed request, checked for presence and consistency."""
    values: dict[str, str] = {}
    for name, value in params.ordered():
        if not name.startswith("oauth_"):
            continue
        if name in values and values[name] != value:
            raise OAuthProblem(400, "parameter_rejected", [("oauth_parameters_rejected", name)])
        values[name] = value
    missing = [name for name in REQUIRED if not values.get(name)]
    if missing:
        raise parameter_absent(*missing)
    if values["oauth_signature_method"] != "HMAC-SHA1":
        raise OAuthProblem(400, "signature_method_rejected")
    if values.get("oauth_version", "1.0") != "1.0":
        raise OAuthProblem(400, "version_rejected", [("oauth_acceptable_versions", "1.0-1.0")])
    return OAuthParams(
        consumer_key=values["oauth_consumer_key"],
        signature=values["oauth_signature"],
        signature_method=values["oauth_signature_method"],
        timestamp=values["oauth_timestamp"],
        nonce=values["oauth_nonce"],
        values=values,
    )


def base_string(http_method: str, uri: str, params: list[tuple[str, str]]) -> str:
    """The RFC 5849 signature base string (``oauth_signature`` left out; the header's
    ``realm`` never gets here, see :func:`collect`)."""
    signed = [(name, value) for name, value in params if name != "oauth_signature"]
    normalized = oauth_signature.normalize_parameters(signed)  # type: ignore[arg-type]
    method: Any = http_method.upper()  # the stubs want a Literal of known verbs
    return oauth_signature.signature_base_string(
        method, oauth_signature.base_string_uri(uri), normalized
    )


def sign(base: str, consumer_secret: str, token_secret: str) -> str:
    """HMAC-SHA1 over ``base`` with ``enc(consumer_secret)&enc(token_secret)``."""
    client = SimpleNamespace(client_secret=consumer_secret, resource_owner_secret=token_secret)
    return str(oauth_signature.sign_hmac_sha1_with_client(base, client))


def _doubly_decoded(params: RequestParams) -> list[tuple[str, str]]:
    def again(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [
            (name, oauth_utils.unescape(value) if name.startswith("oauth_") else value)
            for name, value in pairs
        ]

    return [*again(params.query), *params.header, *again(params.body)]


def check_signature(
    *,
    http_method: str,
    uri: str,
    params: RequestParams,
    provided: str,
    consumer_secret: str,
    token_secret: str,
) -> None:
    """Raise 401 ``signature_invalid`` with Flickr's ``debug_sbs`` unless the signature matches."""
    primary = base_string(http_method, uri, params.ordered())
    if hmac.compare_digest(sign(primary, consumer_secret, token_secret), provided):
        return
    variant_params = _doubly_decoded(params)
    if variant_params != params.ordered():
        variant = base_string(http_method, uri, variant_params)
        if hmac.compare_digest(sign(variant, consumer_secret, token_secret), provided):
            return
    raise OAuthProblem(401, "signature_invalid", [("debug_sbs", primary)])


def check_timestamp(timestamp: str, now: float, skew_s: int) -> int:
    """Refuse timestamps further than ``skew_s`` seconds from the sandbox clock."""
    try:
        value = int(timestamp)
    except ValueError:
        value = -1
    if value < 0 or abs(now - value) > skew_s:
        window = f"{int(now) - skew_s}-{int(now) + skew_s}"
        raise OAuthProblem(401, "timestamp_refused", [("oauth_acceptable_timestamps", window)])
    return value


@dataclass
class NonceCache:
    """Nonces seen per consumer key and timestamp, forgotten once their timestamp is too old."""

    skew_s: int
    _seen: dict[tuple[str, str, int], float] = field(default_factory=dict)
    _purge_at: int = 10_000

    def check_and_add(self, consumer_key: str, nonce: str, timestamp: int, now: float) -> None:
        """Raise 401 ``nonce_used`` for a replay; remember the nonce otherwise."""
        if len(self._seen) > self._purge_at:
            # Amortised: purge only after the live set has doubled since the last purge.
            self._seen = {k: exp for k, exp in self._seen.items() if exp > now}
            self._purge_at = max(10_000, 2 * len(self._seen))
        key = (consumer_key, nonce, timestamp)
        expiry = self._seen.get(key)
        if expiry is not None and expiry > now:
            raise OAuthProblem(401, "nonce_used")
        self._seen[key] = timestamp + 2 * self.skew_s

    def clear(self) -> None:
        self._seen.clear()
