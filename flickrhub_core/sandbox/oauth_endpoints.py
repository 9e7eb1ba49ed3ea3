"""The three OAuth endpoints under ``/services/oauth/``.

* ``request_token`` (GET or POST, signed with the consumer secret alone) needs
  ``oauth_callback`` (absolute URL or ``oob``) and answers
  ``oauth_callback_confirmed=true&oauth_token=...&oauth_token_secret=...``.
* ``authorize`` GET shows the approval page. POST approves or denies:
  fields ``oauth_token``, ``perms`` (read|write|delete, default read), ``approve=1``
  or ``deny=1``, optional ``username``, and either the page's ``csrf`` value or the
  header ``X-Sandbox-Approve: 1`` (a header no cross-site form can send, so scripts
  approve without a browser; they may also send the fields as a JSON object). With
  that header or ``Accept: application/json`` the answer is JSON
  ``{"oauth_token", "oauth_verifier", "callback"}`` (``callback`` is the redirect URL,
  null for ``oob``); otherwise a 302 to the callback, or for ``oob`` a page showing
  the verifier in ``#verifier``. Verifiers are 16 hex digits
  (the format of Flickr's documented callback example).
* ``access_token`` (GET or POST, signed with the request token's secret) trades an
  approved request token plus ``oauth_verifier`` for
  ``fullname=..&oauth_token=..&oauth_token_secret=..&user_nsid=..&username=..``.

Failures are ``text/plain;charset=UTF-8`` ``oauth_problem=...``: 401
``consumer_key_unknown``, ``timestamp_refused``, ``signature_invalid``, ``nonce_used``,
``token_rejected`` (unknown, expired, denied, spent or other consumer's token),
``verifier_invalid`` (wrong verifier, or not approved yet); 400 ``parameter_absent``.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from quart import Response, request

from .auth import consumer_key_hint, verify_signed
from .authorize import authorize_page, message_page, verifier_page
from .connection import injected_fault, request_line
from .errors import BadRequest, OAuthProblem, parameter_absent
from .formdata import read_body
from .library import DEFAULT_NSID
from .oauth import OAuthParams, RequestParams, check_timestamp, collect, protocol_params
from .responses import bad_request, html_page, oauth_problem, oauth_text, too_many_requests
from .state import SandboxState, get_state
from .tokens import PERMS, RequestToken


async def _signed_params() -> RequestParams:
    body = await read_body(request.body, request.headers.get("Content-Type"), request.method)
    return collect(request.query_string, request.headers.get("Authorization"), body.fields)


def _consumer(state: SandboxState, params: RequestParams) -> tuple[OAuthParams, str]:
    oauth = protocol_params(params)
    secret = state.config.consumers.get(oauth.consumer_key)
    if secret is None:
        raise OAuthProblem(401, "consumer_key_unknown")
    return oauth, secret


def _rate_limited(state: SandboxState, params: RequestParams) -> Response | None:
    key = consumer_key_hint(params)
    if key is None or key not in state.config.consumers:
        return None
    retry_after = state.limiter.acquire(key, state.clock())
    return too_many_requests(retry_after) if retry_after is not None else None


def _valid_callback(callback: str) -> bool:
    if callback == "oob":
        return True
    parts = urlsplit(callback)
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme not in ("http", "https"))


async def request_token_endpoint() -> Response:
    state = get_state()
    try:
        params = await _signed_params()
        fault = await injected_fault(state, "request_token", None)
        if fault is not None:
            return fault
        limited = _rate_limited(state, params)
        if limited is not None:
            return limited
        oauth, secret = _consumer(state, params)
        callback = oauth.values.get("oauth_callback")
        if not callback:
            raise parameter_absent("oauth_callback")
        if not _valid_callback(callback):
            raise OAuthProblem(
                400, "parameter_rejected", [("oauth_parameters_rejected", "oauth_callback")]
            )
        verify_signed(state, request_line(), params, oauth, secret, "")
        token = state.tokens.new_request_token(oauth.consumer_key, callback, state.clock())
    except BadRequest as error:
        return bad_request(error)
    except OAuthProblem as problem:
        return oauth_problem(problem)
    return oauth_text(
        f"oauth_callback_confirmed=true&oauth_token={token.token}&oauth_token_secret={token.secret}"
    )


async def access_token_endpoint() -> Response:
    state = get_state()
    try:
        params = await _signed_params()
        fault = await injected_fault(state, "access_token", None)
        if fault is not None:
            return fault
        limited = _rate_limited(state, params)
        if limited is not None:
            return limited
        oauth, secret = _consumer(state, params)
        if oauth.token is None:
            raise parameter_absent("oauth_token")
        check_timestamp(oauth.timestamp, state.clock(), state.config.timestamp_skew_s)
        token = state.tokens.request_token(oauth.token, state.clock())
        if token is None or token.consumer_key != oauth.consumer_key or token.status == "denied":
            raise OAuthProblem(401, "token_rejected")
        verify_signed(state, request_line(), params, oauth, secret, token.secret)
        verifier = oauth.values.get("oauth_verifier")
        if not verifier:
            raise parameter_absent("oauth_verifier")
        if token.status != "approved" or not secrets.compare_digest(verifier, token.verifier or ""):
            raise OAuthProblem(401, "verifier_invalid")
        access = state.tokens.exchange(token)
        state.persist()
    except BadRequest as error:
        return bad_request(error)
    except OAuthProblem as problem:
        return oauth_problem(problem)
    user = state.library.users[access.user_nsid]
    fields = [
        ("fullname", user.realname),
        ("oauth_token", access.token),
        ("oauth_token_secret", access.secret),
        ("user_nsid", user.nsid),
        ("username", user.username),
    ]
    return oauth_text(urlencode(fields, quote_via=quote))


def _with_query(url: str, extra: list[tuple[str, str]]) -> str:
    """``url`` plus ``extra`` query parameters, keeping its own query string and fragment."""
    parts = urlsplit(url)
    added = urlencode(extra)
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _invalid_token_page(wants_json: bool) -> Response:
    if wants_json:
        return Response(
            json.dumps({"error": "Invalid request token"}), 400, content_type="application/json"
        )
    return html_page(message_page("Invalid request token", "Invalid request token"), 400)


async def authorize_get() -> Response:
    state = get_state()
    fault = await injected_fault(state, "authorize", None)
    if fault is not None:
        return fault
    token = state.tokens.request_token(request.args.get("oauth_token", ""), state.clock())
    if token is None or token.status == "denied":
        return _invalid_token_page(False)
    perms = request.args.get("perms", "read")
    if perms not in PERMS:
        return html_page(message_page("Invalid request", f"Unknown perms {perms!r}"), 400)
    csrf = secrets.token_urlsafe(16)
    token.csrf.add(csrf)
    default_user = state.library.users[DEFAULT_NSID].username
    page = authorize_page(
        action=request.path,
        token=token.token,
        perms=perms,
        consumer_key=token.consumer_key,
        csrf=csrf,
        default_username=default_user,
    )
    return html_page(page)


async def authorize_post() -> Response:
    state = get_state()
    scripted = request.headers.get("X-Sandbox-Approve", "") == "1"
    wants_json = scripted or "application/json" in request.headers.get("Accept", "")
    try:
        fields = await _approval_fields()
    except BadRequest as error:
        return bad_request(error)
    fault = await injected_fault(state, "authorize", None)
    if fault is not None:
        return fault
    form = {**request.args.to_dict(), **fields}
    token = state.tokens.request_token(form.get("oauth_token", ""), state.clock())
    if token is None or token.status == "denied":
        return _invalid_token_page(wants_json)
    if not scripted and form.get("csrf", "") not in token.csrf:
        return _refuse(wants_json, 403, "Invalid or missing CSRF value: reload the authorize page")
    perms = form.get("perms") or "read"
    if perms not in PERMS:
        return _refuse(wants_json, 400, f"Unknown perms {perms!r}")
    if form.get("deny") and not form.get("approve"):
        return _deny(state, token, wants_json)
    if form.get("approve", "") in ("", "0"):
        return _refuse(wants_json, 400, "Send approve=1 or deny=1")
    username = form.get("username", "").strip()
    if len(username) > 64 or any(not ch.isprintable() for ch in username):
        return _refuse(wants_json, 400, "Invalid username")
    user = state.library.ensure_user(username) if username else state.library.users[DEFAULT_NSID]
    verifier = state.tokens.approve(token, PERMS[perms], user.nsid)
    callback = (
        None
        if token.callback == "oob"
        else _with_query(
            token.callback, [("oauth_token", token.token), ("oauth_verifier", verifier)]
        )
    )
    if wants_json:
        payload = {"oauth_token": token.token, "oauth_verifier": verifier, "callback": callback}
        return Response(json.dumps(payload), 200, content_type="application/json")
    if callback is not None:
        return Response("", 302, headers={"Location": callback})
    return html_page(verifier_page(verifier, user.username))


async def _approval_fields() -> dict[str, str]:
    """The approval form; scripts may also send the same fields as a JSON object."""
    if request.mimetype == "application/json":
        data = await request.get_json(silent=True)
        if not isinstance(data, dict):
            raise BadRequest(400, "Expected a JSON object")
        return {str(k): str(v) for k, v in data.items() if isinstance(v, str | int)}
    body = await read_body(request.body, request.headers.get("Content-Type"), request.method)
    return dict(body.fields)


def _deny(state: SandboxState, token: RequestToken, wants_json: bool) -> Response:
    state.tokens.deny(token)
    if wants_json:
        payload = {
            "oauth_token": token.token,
            "oauth_verifier": None,
            "callback": None,
            "denied": True,
        }
        return Response(json.dumps(payload), 200, content_type="application/json")
    return html_page(message_page("Not authorized", "You did not authorize the application."))


def _refuse(wants_json: bool, status: int, message: str) -> Response:
    if wants_json:
        return Response(json.dumps({"error": message}), status, content_type="application/json")
    return html_page(message_page("Invalid request", message), status)
