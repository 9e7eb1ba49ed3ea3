"""Which Flickr failures a retry can fix, and the error raised for each.

The classes are the project's own (:mod:`flickrhub_core.errors`); this module only
decides ``retryable`` and ``sent`` and writes messages that hold no secret.

``sent`` answers the question a worker asks before re-sending a non-idempotent call
(upload, replace, addComment ...): *may this request have taken effect?* It is
False when the request never reached Flickr (connect error, connect or pool
timeout) and when Flickr answered with an explicit refusal (``stat: fail`` other
than 106, 429, an OAuth problem): a refusal did nothing. It is True whenever the
outcome is unknown: a read timeout, a dropped connection, a 5xx, a garbled body,
or 106 "write operation failed" (a write may have half-happened).

==========================================  =========  =====
Failure                                     retryable  sent
==========================================  =========  =====
stat fail 105 service unavailable           yes        no
stat fail 106 write operation failed        if idem.   yes
stat fail 201; 0 "not currently available"  yes        no
flickr.photos.search code 10                yes        no
any other stat fail (1-99 method codes,     no         no
95-100, 111, 112, 116 ...)
HTTP 401/400 ``oauth_problem``              no         no
HTTP 429                                    yes        no
HTTP 5xx                                    yes        yes
other HTTP status (3xx, 404 ...)            no         yes
HTTP 200 with garbage (not JSON/XML)        yes        yes
hostile XML (DTD, entities)                 no         yes
connect error/timeout, pool timeout         yes        no
read/write timeout, read/write/protocol     yes        yes
error, other transport errors
==========================================  =========  =====
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterable

import httpx

from flickrhub_core.errors import (
    FlickrApiError,
    FlickrHttpError,
    FlickrOAuthError,
    FlickrTransportError,
)
from flickrhub_core.flickr.methods import is_idempotent

__all__ = [
    "ALWAYS_RETRYABLE_CODES",
    "IDEMPOTENT_RETRYABLE_CODES",
    "METHOD_RETRYABLE_CODES",
    "api_error",
    "bad_body_error",
    "http_error",
    "is_retryable_code",
    "oauth_error",
    "parse_retry_after",
    "redact",
    "transport_error",
]

#: "Try later" whatever the call: 105 service unavailable, 201 (undocumented, seen live).
ALWAYS_RETRYABLE_CODES: frozenset[int] = frozenset({105, 201})
#: "Write operation failed": retried only when sending twice is harmless.
IDEMPOTENT_RETRYABLE_CODES: frozenset[int] = frozenset({106})
#: Method-specific codes that mean "try later".
METHOD_RETRYABLE_CODES: frozenset[tuple[str, int]] = frozenset({("flickr.photos.search", 10)})
_UNAVAILABLE = "not currently available"

#: Transport errors raised before a single byte of the request left.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_NEVER_RETRY = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
_PROBLEM = re.compile(r"[A-Za-z0-9_]{1,64}")
_MAX_MESSAGE = 300


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``.

    Flickr's messages do not normally echo credentials; this is the belt to that
    braces, since error messages end up in job records and logs.
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def is_retryable_code(code: int | None, message: str, *, method: str, idempotent: bool) -> bool:
    """Whether a ``stat: fail`` answer may succeed later (see the module table)."""
    if code is None:
        return False
    if code in ALWAYS_RETRYABLE_CODES:
        return True
    if code in IDEMPOTENT_RETRYABLE_CODES:
        return idempotent
    if code == 0:
        return _UNAVAILABLE in message.lower()
    return (method.lower(), code) in {(m.lower(), c) for m, c in METHOD_RETRYABLE_CODES}


def api_error(
    code: int | None,
    message: str,
    *,
    method: str,
    idempotent: bool | None = None,
    secrets: Iterable[str | None] = (),
) -> FlickrApiError:
    """The error for an HTTP 200 ``stat: fail`` answer.

    ``idempotent`` defaults to the REST method's classification; upload and replace
    pass False.
    """
    if idempotent is None:
        idempotent = is_idempotent(method)
    clean = redact(message, secrets)[:_MAX_MESSAGE]
    return FlickrApiError(
        f"Flickr error {code if code is not None else '?'} on {method}: {clean}",
        retryable=is_retryable_code(code, message, method=method, idempotent=idempotent),
        sent=code is None or code in IDEMPOTENT_RETRYABLE_CODES,
        flickr_code=code,
        http_status=200,
    )


def oauth_error(problem: str, *, http_status: int) -> FlickrOAuthError:
    """The error for an ``oauth_problem=...`` answer; never echoes ``debug_sbs``.

    The problem name goes into the message, so anything that is not a plain
    identifier is dropped.
    """
    if not _PROBLEM.fullmatch(problem):
        problem = "unknown"
    error = FlickrOAuthError(problem, http_status=http_status)
    error.sent = False  # Flickr refused the request before running it.
    return error


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or HTTP-date), or None if absent/garbled."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def http_error(status: int, *, method: str, retry_after: float | None = None) -> FlickrHttpError:
    """The error for a non-200 answer that is not an OAuth problem."""
    if status == 429:
        retryable, sent = True, False
    elif status >= 500:
        retryable, sent = True, True
    else:
        retryable, sent = False, True
    error = FlickrHttpError(
        f"Flickr HTTP {status} on {method}", retryable=retryable, sent=sent, http_status=status
    )
    error.retry_after = retry_after
    return error


def bad_body_error(reason: str, *, method: str, status: int, hostile: bool) -> FlickrHttpError:
    """The error for an answer whose body cannot be used.

    Garbage is what Flickr sends while degraded, so it is retryable; hostile XML
    (a DTD, entities) is not something a retry should go back for.
    """
    return FlickrHttpError(
        f"Flickr sent an unusable answer on {method}: {reason}",
        retryable=not hostile,
        sent=True,
        http_status=status,
    )


def transport_error(exc: httpx.TransportError, *, method: str) -> FlickrTransportError:
    """The error for a network failure; ``sent`` False only if nothing left the host."""
    name = type(exc).__name__
    return FlickrTransportError(
        f"Flickr unreachable on {method}: {name}",
        retryable=not isinstance(exc, _NEVER_RETRY),
        sent=not isinstance(exc, _NOT_SENT),
    )
