"""OAuth 1.0a HMAC-SHA1 signing, the way Flickr verifies it.

oauthlib does the RFC 5849 work (parameter collection from the URL query,
normalisation, base string URI, signature base string, HMAC, the header format);
this module only decides *which* parameters are signed, because Flickr differs
from the RFC in one place: for a multipart upload every text field is signed and
the ``photo`` file is not (flickr-api.md §1.5). So callers pass the parameters
explicitly, and the same code path signs GET queries, form bodies and multipart
fields alike.

Sign the exact URL that is requested: ``/services/rest`` and ``/services/rest/``
give different signatures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

from oauthlib.common import generate_nonce, generate_timestamp
from oauthlib.oauth1 import Client
from oauthlib.oauth1.rfc5849 import parameters, signature

from flickrhub_core.flickr.models import Credentials

__all__ = [
    "authorization_header",
    "hmac_sha1_signature",
    "oauth_params",
    "signature_base_string",
]

Params = Sequence[tuple[str, str]]

#: Never part of the base string (RFC 5849 §3.4.1.3.1).
_UNSIGNED = frozenset({"oauth_signature", "realm"})


def oauth_params(
    creds: Credentials,
    *,
    extra: Mapping[str, str] | None = None,
    nonce: str | None = None,
    timestamp: str | None = None,
) -> list[tuple[str, str]]:
    """The protocol parameters of one request, without the signature.

    ``extra`` adds step-specific ones (``oauth_callback``, ``oauth_verifier``).
    ``nonce`` and ``timestamp`` are for tests; normally they are fresh each call.
    """
    params = [
        ("oauth_consumer_key", creds.consumer_key),
        ("oauth_nonce", nonce if nonce is not None else generate_nonce()),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", timestamp if timestamp is not None else generate_timestamp()),
        ("oauth_version", "1.0"),
    ]
    if creds.token is not None:
        params.append(("oauth_token", creds.token))
    if extra:
        params.extend(extra.items())
    return params


def signature_base_string(http_method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The RFC 5849 §3.4.1 base string of a request.

    ``url`` may carry a query string: its parameters are decoded and signed too.
    ``params`` are the *decoded* body/multipart fields plus the oauth parameters;
    ``oauth_signature`` and ``realm`` are ignored if present.
    """
    query = urlsplit(url).query
    collected = signature.collect_parameters(uri_query=query) if query else []
    collected.extend((k, v) for k, v in params if k not in _UNSIGNED)
    # The stub types ``params`` as a dict, but oauthlib iterates (name, value) pairs:
    # a list is what keeps repeated names (RFC 5849 §3.4.1.3.2).
    normalized = signature.normalize_parameters(cast(Any, collected))
    uri = signature.base_string_uri(url)
    return signature.signature_base_string(cast(Any, http_method.upper()), uri, normalized)


def hmac_sha1_signature(
    base_string: str, consumer_secret: str, token_secret: str | None = None
) -> str:
    """The base64 HMAC-SHA1 of a base string, keyed ``enc(consumer)&enc(token)``."""
    client = Client("", client_secret=consumer_secret, resource_owner_secret=token_secret or "")
    return str(signature.sign_hmac_sha1_with_client(base_string, client))


def authorization_header(
    creds: Credentials,
    http_method: str,
    url: str,
    params: Iterable[tuple[str, str]] = (),
    *,
    oauth_extra: Mapping[str, str] | None = None,
    nonce: str | None = None,
    timestamp: str | None = None,
) -> str:
    """The ``Authorization: OAuth ...`` value for a request.

    ``params`` are the non-oauth parameters Flickr will see outside the URL query:
    form-body fields, or the multipart text fields (never the photo).
    """
    protocol = oauth_params(creds, extra=oauth_extra, nonce=nonce, timestamp=timestamp)
    base = signature_base_string(http_method, url, [*params, *protocol])
    sig = hmac_sha1_signature(base, creds.consumer_secret, creds.token_secret)
    # prepare_headers is untyped in the stubs; it returns {"Authorization": "OAuth ..."}.
    prepare_headers = cast(Callable[[Params], dict[str, str]], parameters.prepare_headers)
    return prepare_headers([*protocol, ("oauth_signature", sig)])["Authorization"]
