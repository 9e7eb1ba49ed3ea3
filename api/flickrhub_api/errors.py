"""The one place that turns an exception into an HTTP status and an error envelope.

Every error a handler raises, quart-schema's validation errors, Werkzeug's HTTP
errors (404, 405, 413 ...) and anything unexpected end here. Messages of 5xx
answers are generic: no stack trace, connection string or class name reaches a
client; the details go to the log with the request id.

Problems with fields (an :class:`~flickrhub_core.errors.InvalidRequest` whose
``details`` are ``{"field", "message"}`` items, or a pydantic validation error) are
answered as the earlier system did: ``details`` is a list of strings, each naming its
field (``"userId is required"``, ``"body: malformed JSON"``), so its clients'
``details.includes("method is required")`` still works; the structured items are in
``fields``, a key the earlier system did not have.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError
from quart import Quart, Response, request
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from flickrhub_api.context import get_runtime
from flickrhub_api.envelope import envelope, error_body, request_id
from flickrhub_api.models import ApiModel, model_named
from flickrhub_core.errors import (
    ConfigError,
    FlickrError,
    FlickrHubError,
    FlickrOAuthError,
    Unauthorized,
)

__all__ = [
    "REFUSED_VERIFIER_PROBLEMS",
    "REJECTED_OAUTH_PROBLEMS",
    "ErrorReply",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "describe",
    "error_response",
    "field_text",
    "install_error_handler",
    "is_refused_verifier",
    "report",
]

#: OAuth problems that mean "this request token is no good": the user must start
#: again, as with an unknown or expired token.
REJECTED_OAUTH_PROBLEMS = frozenset(
    {"token_rejected", "token_expired", "token_used", "token_revoked"}
)
#: OAuth problems that mean "not this verifier": the request token is still good
#: (``/auth/complete`` keeps it), so the user may send the right verifier.
REFUSED_VERIFIER_PROBLEMS = frozenset({"verifier_invalid"})
REFUSED_VERIFIER_MESSAGE = (
    "Flickr refused the verifier; send the right one (the authorisation stays pending "
    "until it expires)"
)
INTERNAL_MESSAGE = "internal error; quote the request_id when reporting it"
UNAVAILABLE_MESSAGE = "a service FlickrHub depends on is not available; try again"
#: Seconds a client is told to wait when a backend is away (a restart takes about that).
BACKEND_RETRY_AFTER = 5
#: The challenge of a 401: the API key may be sent as a bearer token.
WWW_AUTHENTICATE = 'Bearer realm="flickrhub"'

_HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("ERR_INVALID_REQUEST", "Invalid request"),
    404: ("ERR_NOT_FOUND", "not_found"),
    405: ("ERR_METHOD_NOT_ALLOWED", "method_not_allowed"),
    408: ("ERR_TIMEOUT", "the request body was not received in time"),
    413: ("ERR_PAYLOAD_TOO_LARGE", "request body too large"),
    415: ("ERR_UNSUPPORTED_MEDIA_TYPE", "unsupported content type"),
    429: ("ERR_RATE_LIMITED", "too many requests"),
}
#: Pydantic error types that mean "missing or the wrong type": the earlier system's
#: per-field wording applies to those.
_SHAPE_ERRORS = frozenset(
    {"missing", "string_type", "dict_type", "string_too_short", "model_type", "none_required"}
)


class PayloadTooLarge(FlickrHubError):
    code = "ERR_PAYLOAD_TOO_LARGE"
    http_status = 413


class UnsupportedMediaType(FlickrHubError):
    code = "ERR_UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


@dataclass(frozen=True)
class ErrorReply:
    """What a client is told about one error."""

    status: int
    code: str
    message: str
    details: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Whether this is our fault (logged with the traceback).
    unexpected: bool = False
    #: Per-field problems (``{"field", "message", ...}``) of a refused request, if any.
    fields: list[dict[str, Any]] | None = None


def describe(exc: BaseException) -> ErrorReply:
    """Map any exception to what the client sees."""
    if isinstance(exc, RequestSchemaValidationError):
        return _validation_reply(exc.validation_error)
    if isinstance(exc, HTTPException):
        return _http_reply(exc)
    if isinstance(exc, FlickrHubError):
        return _flickrhub_reply(exc)
    return ErrorReply(500, "ERR_INTERNAL", INTERNAL_MESSAGE, unexpected=True)


def report(exc: BaseException) -> ErrorReply:
    """:func:`describe`, logging unexpected errors (with the traceback, server-side only).

    A backend that is away (the runtime's ``unavailable_errors``: Redis or MongoDB
    restarting, say) is not our fault: 503 with ``Retry-After``, logged as a warning.
    """
    reply = describe(exc)
    if reply.unexpected and isinstance(exc, get_runtime().unavailable_errors):
        get_runtime().log.warning(
            "api_backend_unavailable",
            request_id=request_id(),
            method=request.method,
            path=request.path,
            error_type=type(exc).__name__,
        )
        return ErrorReply(
            503,
            "ERR_UNAVAILABLE",
            UNAVAILABLE_MESSAGE,
            headers={"Retry-After": str(BACKEND_RETRY_AFTER)},
        )
    if reply.unexpected:
        get_runtime().log.error(
            "api_unhandled_error",
            request_id=request_id(),
            method=request.method,
            path=request.path,
            error_type=type(exc).__name__,
            frames=_frames(exc),
        )
    return reply


def error_response(exc: BaseException) -> Response:
    """The envelope for ``exc``."""
    reply = report(exc)
    return envelope(
        None,
        reply.status,
        error=error_body(reply.code, reply.message, reply.details, reply.fields),
        headers=reply.headers,
    )


def _frames(exc: BaseException, limit: int = 20) -> list[str]:
    """Where it failed, innermost last, without the exception's message: messages
    (and tracebacks, which print them) can hold credentials, frames cannot."""
    stack = traceback.extract_tb(exc.__traceback__)[-limit:]
    return [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in stack]


def is_refused_verifier(exc: BaseException) -> bool:
    """Whether Flickr refused an OAuth verifier (and not the request token itself)."""
    return isinstance(exc, FlickrOAuthError) and exc.problem in REFUSED_VERIFIER_PROBLEMS


def install_error_handler(app: Quart) -> None:
    """Route every exception (HTTP errors included) through :func:`error_response`."""

    async def handle(exc: Exception) -> Response:
        return error_response(exc)

    app.register_error_handler(Exception, handle)


def _flickrhub_reply(exc: FlickrHubError) -> ErrorReply:
    if isinstance(exc, FlickrOAuthError):
        details = {"oauth_problem": exc.problem}
        if exc.problem in REJECTED_OAUTH_PROBLEMS:
            return ErrorReply(400, "ERR_INVALID_STATE", "invalid_state_or_token", details)
        if exc.problem in REFUSED_VERIFIER_PROBLEMS:
            return ErrorReply(400, "ERR_INVALID_STATE", REFUSED_VERIFIER_MESSAGE, details)
        return ErrorReply(
            400, "ERR_FLICKR_OAUTH", f"Flickr refused the OAuth request ({exc.problem})", details
        )
    if isinstance(exc, FlickrError):
        return ErrorReply(
            502,
            "ERR_FLICKR_UNAVAILABLE",
            "Flickr could not be reached or failed; try again later",
            {"retryable": exc.retryable},
        )
    if isinstance(exc, ConfigError):
        return ErrorReply(503, exc.code, exc.message)
    if exc.http_status >= 500 and exc.http_status != 503:
        return ErrorReply(500, "ERR_INTERNAL", INTERNAL_MESSAGE, unexpected=True)
    headers: dict[str, str] = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    if _are_field_problems(exc.details):
        return _fields_reply(exc.http_status, exc.code, exc.message, exc.details, headers)
    return ErrorReply(exc.http_status, exc.code, exc.message, exc.details, headers)


def _http_reply(exc: HTTPException) -> ErrorReply:
    status = exc.code or 500
    if status >= 500:
        return ErrorReply(500, "ERR_INTERNAL", INTERNAL_MESSAGE, unexpected=status == 500)
    code, message = _HTTP_CODES.get(status, ("ERR_HTTP", (exc.name or "error").lower()))
    headers: dict[str, str] = {}
    details: Any = None
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        allowed = ", ".join(sorted(exc.valid_methods))
        headers["Allow"] = allowed
        details = {"allowed": sorted(exc.valid_methods)}
    if status == 413:
        limit = request.max_content_length
        details = {"max_bytes": limit} if limit is not None else None
    return ErrorReply(status, code, message, details, headers)


def _are_field_problems(details: Any) -> bool:
    return (
        isinstance(details, list)
        and bool(details)
        and all(
            isinstance(item, dict) and "field" in item and "message" in item for item in details
        )
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def field_text(field: str, message: str) -> str:
    """One field problem as a string of ``details``: the message itself when it names
    its field first (``"method is required"``, or the earlier system's camelCase
    ``"userId is required"``), else ``"<field>: <message>"``."""
    if message.split(" ", 1)[0] in (field, _camel(field)):
        return message
    return f"{field}: {message}"


def _fields_reply(
    status: int,
    code: str,
    message: str,
    problems: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> ErrorReply:
    details = [field_text(str(item["field"]), str(item["message"])) for item in problems]
    return ErrorReply(status, code, message, details, headers or {}, fields=problems)


def _is_missing(item: Mapping[str, Any]) -> bool:
    """Whether a pydantic error says "missing or empty": what a model's legacy
    ``error_message`` ("job_id and user_id are required") covers."""
    context = item.get("ctx") or {}
    return item["type"] == "missing" or (
        item["type"] == "string_too_short" and context.get("min_length") == 1
    )


def _problem_message(name: str, item: Mapping[str, Any]) -> str:
    """A pydantic error in words naming the field (pydantic's own do not)."""
    context = item.get("ctx") or {}
    if _is_missing(item):
        return f"{name} is required"
    if item["type"] == "string_too_long":
        return f"{name} is too long (at most {context['max_length']} characters)"
    if item["type"] == "string_type":
        return f"{name} must be a string"
    return str(item["msg"]).removeprefix("Value error, ")


def _validation_reply(error: Exception) -> ErrorReply:
    """Field-level problems from a pydantic error, in the earlier system's words.

    A model's ``error_message`` is the top-level message when a field is missing or
    empty (the earlier system's wording); any other failure of a model that has one
    gets the problems themselves, so a too-long ``job_id`` is not called missing.
    """
    if not isinstance(error, ValidationError):
        return _fields_reply(
            400, "ERR_INVALID_REQUEST", "Invalid request", [{"field": "body", "message": "invalid"}]
        )
    model = model_named(error.title)
    legacy = model.field_messages if model is not None else {}
    problems: list[dict[str, Any]] = []
    missing = False
    for item in error.errors(include_url=False, include_input=False):
        loc = [str(part) for part in item["loc"]]
        name = ".".join(loc) or "body"
        missing = missing or _is_missing(item)
        if item["type"] in _SHAPE_ERRORS and loc and loc[0] in legacy:
            message = legacy[loc[0]]
        elif item["type"] == "model_type":
            message = "the request body must be a JSON object"
        else:
            message = _problem_message(name, item)
        problems.append({"field": name, "message": message})
    reply = _fields_reply(400, "ERR_INVALID_REQUEST", "Invalid request", problems)
    if model is None:
        return reply
    if missing or model.error_message == ApiModel.error_message:
        return replace(reply, message=model.error_message)
    return replace(reply, message="; ".join(reply.details))
