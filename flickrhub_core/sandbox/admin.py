"""Control endpoints for tests and operators, under ``/sandbox/`` (not part of Flickr's API).

* ``GET /sandbox/faults``      current fault settings and targeted rules (JSON).
* ``POST /sandbox/faults``     change them; body as :class:`~.faults.FaultUpdate`, e.g.
  ``{"error_rate_105": 1.0, "methods": ["flickr.test.echo"], "count": 2}``; 400 on
  invalid input. Answers like ``GET``.
* ``DELETE /sandbox/faults``   drop all rules, restore the start-up settings.
* ``POST /sandbox/reset``      library back to the seed; rate-limit windows, nonces and
  faults back to start-up, call counts cleared; tokens and users stay.
* ``GET /sandbox/calls``       how many calls arrived, per name (:mod:`.calls`):
  ``{"total": 12, "methods": {"flickr.test.echo": 10, "upload": 2}}``. With
  ``?method=NAME``: ``{"method": NAME, "count": 10}``; adding ``&param=P`` also counts
  each value of parameter ``P`` in that name's recent calls: ``"param": P,
  "values": {"a": 1, "b": 2}``.
* ``DELETE /sandbox/calls``    clear the call counts.
* ``POST /sandbox/tokens/revoke`` ``{"oauth_token": "..."}`` revokes an access token
  (its next REST call fails with code 98); 404 if unknown.

They need no signature and are exempt from faults and rate limits. Disable them with
``SandboxConfig(admin_enabled=False)``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from quart import Response, request

from .faults import FaultUpdate
from .state import get_state


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status, content_type="application/json")


async def get_faults() -> Response:
    return _json(get_state().faults.describe())


async def post_faults() -> Response:
    state = get_state()
    data = await request.get_json(force=True, silent=True)
    try:
        update = FaultUpdate.model_validate(data if data is not None else {})
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return _json({"error": "invalid fault settings", "details": errors}, 400)
    state.faults.update(update)
    return _json(state.faults.describe())


async def delete_faults() -> Response:
    state = get_state()
    state.faults.reset()
    return _json(state.faults.describe())


async def get_calls() -> Response:
    method = request.args.get("method")
    param = request.args.get("param") if method is not None else None
    return _json(get_state().calls.describe(method, param))


async def delete_calls() -> Response:
    get_state().calls.clear()
    return _json({"cleared": True})


async def post_reset() -> Response:
    get_state().reset()
    return _json({"reset": True})


async def post_revoke() -> Response:
    data = await request.get_json(force=True, silent=True)
    token = data.get("oauth_token") if isinstance(data, dict) else None
    state = get_state()
    if not isinstance(token, str) or not state.tokens.revoke(token):
        return _json({"error": "unknown access token"}, 404)
    state.persist()
    return _json({"revoked": token})
