"""One ``api_request`` event per request, its metrics (``flickrhub_api_requests_total``,
``flickrhub_api_request_duration_seconds``), and the request id on every response."""

from __future__ import annotations

import time

from quart import Quart, Response, g, request

from flickrhub_api.context import authenticated_owner, get_runtime
from flickrhub_api.envelope import REQUEST_ID_HEADER, client_request_id, request_id
from flickrhub_core import metrics

#: Probes hit these every few seconds: logged at debug when they succeed.
QUIET_PATHS = frozenset({"/healthz", "/health", "/readyz", "/metrics"})


async def _started() -> None:
    g.started = time.perf_counter()
    request_id()


async def _finished(response: Response) -> Response:
    rid = request_id()
    response.headers[REQUEST_ID_HEADER] = rid
    started: float = g.get("started", time.perf_counter())
    seconds = time.perf_counter() - started
    # Runs for every answer: the request is looked up once, not per attribute.
    req = request._get_current_object()  # type: ignore[attr-defined]
    method: str = req.method
    path: str = req.path
    status = response.status_code
    # The rule's template (``/api/v1/flickr/jobs/<job_id>``), never the path: bounded labels.
    rule = req.url_rule
    route = rule.rule if rule is not None else None
    metrics.observe_request(method, route, status, seconds)
    log = get_runtime().log
    emit = log.debug if path in QUIET_PATHS and status < 400 else log.info
    emit(
        "api_request",
        method=method,
        path=path,  # never the query string: the callback's carries the verifier
        route=route,
        status=status,
        duration_ms=round(seconds * 1000, 2),
        request_id=rid,
        client_request_id=client_request_id(),
        client=authenticated_owner(),
    )
    return response


def install_access_log(app: Quart) -> None:
    app.before_request(_started)
    app.after_request(_finished)
