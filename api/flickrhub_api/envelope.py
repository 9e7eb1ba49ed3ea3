"""The response envelope of every JSON answer, and the request id it carries.

Clients of the earlier system read ``{"request_id", "data", "error"}``; every
JSON answer keeps that shape, errors included. The request id is always made
here: a client's own ``X-Request-ID`` is only recorded (as ``client_request_id``),
because ids chosen by clients can collide or be forged.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from quart import Response, current_app, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
#: Headers a client may send its own id in (the earlier system read ``request-id``).
CLIENT_ID_HEADERS = ("X-Request-ID", "Request-Id")
_PRINTABLE = re.compile(r"[^\x21-\x7e]")
_MAX_CLIENT_ID = 200


def new_request_id() -> str:
    return f"req-{uuid.uuid4().hex}"


def request_id() -> str:
    """This request's id, made on first use; it becomes the job's ``trace_id``."""
    if not has_request_context():
        return new_request_id()
    rid: str | None = g.get("request_id")
    if rid is None:
        rid = new_request_id()
        g.request_id = rid
    return rid


def client_request_id() -> str | None:
    """The id the client sent, cleaned for logging (printable ASCII, bounded)."""
    for name in CLIENT_ID_HEADERS:
        value = request.headers.get(name)
        if value:
            return _PRINTABLE.sub("", value)[:_MAX_CLIENT_ID] or None
    return None


def _plain(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    return data


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response with the request id header (for bodies that are not enveloped)."""
    response = current_app.response_class(
        current_app.json.dumps(_plain(body)), status=status, content_type="application/json"
    )
    if headers:
        response.headers.update(headers)
    response.headers[REQUEST_ID_HEADER] = request_id()
    return response


def envelope(
    data: Any,
    status: int = 200,
    *,
    error: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``{"request_id", "data", "error"}`` with ``status``."""
    body = {"request_id": request_id(), "data": _plain(data), "error": error}
    return json_response(body, status, headers)


def error_body(
    code: str, message: str, details: Any = None, fields: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The ``error`` of an envelope; ``fields`` (per-field problems) only when given."""
    body = {"code": code, "message": message, "details": details}
    if fields is not None:
        body["fields"] = fields
    return body
