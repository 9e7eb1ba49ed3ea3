"""The REST endpoint (``/services/rest`` and ``/services/rest/``, GET or POST).

Pipeline: read parameters (query, OAuth header, form-urlencoded or multipart body) →
count the call (:mod:`calls`) → pick the response format → injected faults → per-key
rate limit → authenticate (:mod:`auth`) → finish due async tickets → dispatch
(:mod:`methods`) → render (:mod:`responses`). ``stat: fail`` answers use the format the
call asked for; OAuth problems are always ``text/plain``.
"""

from __future__ import annotations

from quart import Response, request

from .auth import authenticate, consumer_key_hint
from .connection import injected_fault, request_line
from .errors import ApiFailure, BadRequest, OAuthProblem, service_unavailable
from .formdata import read_body
from .methods import dispatch
from .oauth import collect
from .registry import CallContext
from .responses import RestFormat, bad_request, oauth_problem, rest_fail, rest_ok, too_many_requests
from .state import get_state


async def rest_endpoint() -> Response:
    state = get_state()
    try:
        body = await read_body(request.body, request.headers.get("Content-Type"), request.method)
        params = collect(request.query_string, request.headers.get("Authorization"), body.fields)
    except BadRequest as error:
        return bad_request(error)
    except OAuthProblem as problem:
        return oauth_problem(problem)
    merged = params.merged()
    name = merged.get("method", "")
    state.calls.record(name, merged)
    try:
        fmt = RestFormat.from_params(merged)
    except ApiFailure as failure:
        return rest_fail(failure, RestFormat())
    fault = await injected_fault(state, name, lambda: rest_fail(service_unavailable(), fmt))
    if fault is not None:
        return fault
    key = consumer_key_hint(params)
    if key is not None and key in state.config.consumers:
        retry_after = state.limiter.acquire(key, state.clock())
        if retry_after is not None:
            return too_many_requests(retry_after)
    try:
        caller = authenticate(state, request_line(), params)
        now = state.clock()
        state.library.complete_due_tickets(now)
        ctx = CallContext(
            library=state.library,
            tokens=state.tokens,
            caller=caller,
            params=merged,
            arguments=params.arguments(),
            echo=params.ordered(),
            now=now,
            max_upload_bytes=state.config.max_upload_bytes,
        )
        return rest_ok(dispatch(ctx, name, request.method), fmt)
    except ApiFailure as failure:
        return rest_fail(failure, fmt)
    except OAuthProblem as problem:
        return oauth_problem(problem)
