"""Every byte the sandbox answers with, in Flickr's recorded shapes and content types.

* REST success: ``application/json`` (plain or JSONP) or ``text/xml; charset=utf-8``.
* REST failure: HTTP 200, ``text/plain; charset=utf-8`` JSON ``{"stat":"fail", ...}``
  (or the XML ``<err />`` document for ``format=rest``).
* OAuth endpoints and OAuth problems: ``text/plain;charset=UTF-8`` form-encoded text.
* Upload/replace: always XML, ``text/xml; charset=utf-8``, whatever ``format`` says.
* Rate limit: 429 with the HTML body Flickr's front end sends, plus ``Retry-After``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quart import Response

from .errors import ApiFailure, BadRequest, OAuthProblem
from .xmlconv import fail_xml, ok_xml, to_rest_xml

OAUTH_CONTENT_TYPE = "text/plain;charset=UTF-8"
JSON_OK_CONTENT_TYPE = "application/json"
JSON_FAIL_CONTENT_TYPE = "text/plain; charset=utf-8"
XML_CONTENT_TYPE = "text/xml; charset=utf-8"

TOO_MANY_REQUESTS_BODY = (
    "<html><body><h1>429 Too Many Requests</h1>\n"
    "You have sent too many requests in a given amount of time.\n</body></html>"
)
_SERVER_ERROR_TITLES = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_JSONP_CALLBACK = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$")


def flickr_json(payload: Mapping[str, Any]) -> str:
    """JSON the way Flickr prints it: ``", "`` between members, escaped ``/``, ASCII only."""
    return json.dumps(payload, separators=(", ", ":"), ensure_ascii=True).replace("/", "\\/")


@dataclass(frozen=True)
class RestFormat:
    """The response format a REST call asked for: ``rest`` (XML), ``json`` or ``jsonp``."""

    kind: str = "rest"
    callback: str = "jsonFlickrApi"

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> RestFormat:
        """Read ``format``/``nojsoncallback``/``jsoncallback``; raise 111 for unknown formats."""
        name = params.get("format", "rest") or "rest"
        if name == "rest":
            return cls()
        if name != "json":
            raise ApiFailure(111, f'Format "{name}" not found')
        if params.get("nojsoncallback", "") not in ("", "0"):
            return cls("json")
        callback = params.get("jsoncallback", "")
        # An arbitrary callback name would be script injection; Flickr's default is safe.
        return cls("jsonp", callback if _JSONP_CALLBACK.match(callback) else "jsonFlickrApi")


def _rest_body(payload: Mapping[str, Any], fmt: RestFormat, stat: str) -> str:
    if fmt.kind == "rest":
        return to_rest_xml(payload, stat)
    text = flickr_json(payload)
    return f"{fmt.callback}({text})" if fmt.kind == "jsonp" else text


def rest_ok(payload: Mapping[str, Any], fmt: RestFormat) -> Response:
    body = _rest_body({**payload, "stat": "ok"}, fmt, "ok")
    content_type = XML_CONTENT_TYPE if fmt.kind == "rest" else JSON_OK_CONTENT_TYPE
    return Response(body, status=200, content_type=content_type)


def rest_fail(failure: ApiFailure, fmt: RestFormat) -> Response:
    if fmt.kind == "rest":
        return Response(
            fail_xml(failure.code, failure.message), status=200, content_type=XML_CONTENT_TYPE
        )
    payload = {"stat": "fail", "code": failure.code, "message": failure.message}
    return Response(
        _rest_body(payload, fmt, "fail"), status=200, content_type=JSON_FAIL_CONTENT_TYPE
    )


def oauth_text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type=OAUTH_CONTENT_TYPE)


def oauth_problem(problem: OAuthProblem) -> Response:
    return oauth_text(problem.body(), problem.status)


def upload_ok(inner_xml: str) -> Response:
    return Response(ok_xml(inner_xml), status=200, content_type=XML_CONTENT_TYPE)


def upload_fail(failure: ApiFailure) -> Response:
    return Response(
        fail_xml(failure.code, failure.message), status=200, content_type=XML_CONTENT_TYPE
    )


def bad_request(error: BadRequest) -> Response:
    return Response(
        error.message + "\n", status=error.status, content_type="text/plain; charset=utf-8"
    )


def too_many_requests(retry_after_s: int) -> Response:
    return Response(
        TOO_MANY_REQUESTS_BODY,
        status=429,
        content_type="text/html",
        headers={"Retry-After": str(max(1, retry_after_s))},
    )


def server_error(status: int) -> Response:
    title = _SERVER_ERROR_TITLES.get(status, "Server Error")
    body = (
        f"<html>\n<head><title>{status} {title}</title></head>\n<body>\n"
        f"<center><h1>{status} {title}</h1></center>\n</body>\n</html>\n"
    )
    return Response(body, status=status, content_type="text/html")


def html_page(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/html; charset=utf-8")
