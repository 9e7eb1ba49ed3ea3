"""OAuth 1.0a: connect a Flickr account once, get a ``user_id`` for later calls.

``/auth/start`` gets a request token and the URL the user approves it at;
``/auth/complete`` (verifier typed in, "oob") or ``/auth/callback`` (Flickr's
redirect) trades it for the access token. ``state`` ties the two ends together:
optional on ``/complete`` for the earlier system's clients, required on the
callback, which anyone can make a browser open.

A request token is used once: a completion takes it from the store (atomically,
so of two concurrent completions only one exchanges it) and it is gone once the
exchange succeeded. It is put back, with the time it had left (never more), when
Flickr could not be asked (network, 5xx: the same verifier may be sent again), when
Flickr refused the verifier (``verifier_invalid``: a mistyped verifier does not use
up the authorisation, as in the earlier system), and on a state or owner mismatch,
so a forged callback cannot burn a user's pending authorisation. While one
completion holds it, another with the same token is answered ``invalid_state_or_token``.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from quart import Blueprint, Response, render_template, request
from quart_schema import document_querystring, document_response, operation_id, tag

from flickrhub_api.context import current_owner, get_runtime
from flickrhub_api.envelope import envelope, request_id
from flickrhub_api.errors import describe, is_refused_verifier, report
from flickrhub_api.models import (
    AuthCallbackData,
    AuthCallbackQuery,
    AuthCompleteRequest,
    AuthStartData,
    AuthStartRequest,
    AuthUserData,
    Envelope,
)
from flickrhub_api.openapi import document_account_links, errors, media_response
from flickrhub_api.validation import json_body, parse_model
from flickrhub_core.errors import FlickrError, FlickrHubError, InvalidRequest
from flickrhub_core.flickr import Credentials
from flickrhub_core.jobs import utcnow
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import PendingAuth, StoredToken

blueprint = Blueprint("auth", __name__, url_prefix="/api/v1/auth")

#: Seconds a request token waits for the user (as in the earlier system).
PENDING_TTL = 600
#: Answers about the request token itself: "start again".
INVALID_STATE = "invalid_state_or_token"


def invalid_state() -> InvalidRequest:
    return InvalidRequest(INVALID_STATE, code="ERR_INVALID_STATE")


def _consumer(data: AuthStartRequest, runtime: Runtime) -> tuple[Credentials, bool]:
    """The client's own consumer pair, else the server's; ``(creds, custom)``."""
    if data.api_key and data.api_secret:
        return Credentials(data.api_key, data.api_secret), True
    if data.api_key or data.api_secret:
        missing = "api_secret" if data.api_key else "api_key"
        raise InvalidRequest(
            "api_key and api_secret are required",
            details=[{"field": missing, "message": "api_key and api_secret go together"}],
        )
    if runtime.consumer is None:
        raise InvalidRequest(
            "api_key and api_secret are required",
            details=[
                {
                    "field": "api_key",
                    "message": "this server has no Flickr API key configured: send your own",
                }
            ],
        )
    return runtime.require_consumer(), False


def _callback(runtime: Runtime, state: str) -> str:
    settings = runtime.settings
    if settings.oauth_mode != "callback" or not settings.callback_url:
        return "oob"
    parts = urlsplit(settings.callback_url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("state", state)]
    return urlunsplit(parts._replace(query=urlencode(query)))


#: The statuses of finishing an authorisation, and what they mean there.
FINISH_NOTES = {
    400: "The request token is unknown, expired, used, or not this caller's, or the state "
    "does not match (ERR_INVALID_STATE, invalid_state_or_token: start again); Flickr "
    "refused the verifier (ERR_INVALID_STATE with `details.oauth_problem` "
    "verifier_invalid: the authorisation stays pending, send the right verifier) or the "
    "request (ERR_FLICKR_OAUTH); or a field is invalid (ERR_INVALID_REQUEST)",
    502: "Flickr could not be reached (ERR_FLICKR_UNAVAILABLE); the same verifier may be "
    "sent again",
}


@blueprint.post("/start")
@tag(["auth"])
@operation_id("auth_start")
@json_body(AuthStartRequest)
@document_response(Envelope[AuthStartData], 200)
@errors(
    400,
    502,
    notes={
        400: "A field is invalid, only one of api_key and api_secret was sent, or the server "
        "has no Flickr key of its own (ERR_INVALID_REQUEST); or Flickr refused the consumer "
        "key (ERR_FLICKR_OAUTH)",
    },
)
async def start(data: AuthStartRequest) -> Response:
    """Get a request token and the URL where the user authorises it."""
    return envelope(await begin_auth(get_runtime(), data, current_owner()))


async def begin_auth(runtime: Runtime, data: AuthStartRequest, owner: str) -> AuthStartData:
    """``/auth/start`` for ``owner``: the request token, kept pending, and its URL.

    Shared with the web UI's wizard, which calls it for the signed-in client.
    """
    consumer, custom = _consumer(data, runtime)
    state = secrets.token_urlsafe(32)
    callback = _callback(runtime, state)
    flickr = runtime.require_flickr()
    token = await flickr.get_request_token(consumer, callback)
    pending = PendingAuth(
        oauth_token=token.token,
        oauth_token_secret=token.secret,
        consumer_key=consumer.consumer_key,
        consumer_secret=consumer.consumer_secret,
        state=state,
        callback=callback,
        perms=data.perms,
        owner=owner,
    )
    await runtime.request_tokens.put(pending, PENDING_TTL)
    mode: Literal["oob", "callback"] = "oob" if callback == "oob" else "callback"
    runtime.log.info(
        "auth_start_success",
        request_id=request_id(),
        mode=mode,
        perms=data.perms,
        own_consumer=custom,
    )
    return AuthStartData(
        authorize_url=flickr.authorize_url(token.token, data.perms),
        oauth_token=token.token,
        state=state,
        mode=mode,
        perms=data.perms,
        expires_in=PENDING_TTL,
    )


async def _put_back(runtime: Runtime, pending: PendingAuth) -> None:
    """Keep ``pending`` for the time it had left since ``/auth/start``: never longer."""
    left = PENDING_TTL - (utcnow() - pending.created_at).total_seconds()
    if left > 1:
        await runtime.request_tokens.put(pending, left)


async def finish_auth(
    oauth_token: str,
    verifier: str,
    state: str | None,
    *,
    via: str,
    owner: str | None = None,
    by_state: bool = False,
) -> AuthUserData:
    """Trade the request token for the user's access token; store it; say who it is.

    ``owner`` is the API client finishing it (default: this request's); the web UI
    passes its signed-in client. The account always goes to the client that started
    it (``pending.owner``). ``by_state`` is for Flickr's callback, where nobody
    authenticates (the browser carries no API key): the required ``state`` alone
    ties it to the start.
    """
    runtime = get_runtime()
    if by_state:
        if state is None:
            raise invalid_state()
    elif owner is None:
        owner = current_owner()
    try:
        pending = await runtime.request_tokens.take(oauth_token)
        if pending is None:
            raise invalid_state()
        wrong_state = state is not None and not secrets.compare_digest(state, pending.state)
        if (owner is not None and pending.owner != owner) or wrong_state:
            # Not this caller's to use up: the rightful one may still finish it.
            await _put_back(runtime, pending)
            raise invalid_state()
        consumer = Credentials(pending.consumer_key, pending.consumer_secret)
        try:
            access = await runtime.require_flickr().get_access_token(
                consumer, pending.oauth_token, pending.oauth_token_secret, verifier
            )
        except FlickrError as exc:
            if exc.retryable or is_refused_verifier(exc):
                await _put_back(runtime, pending)
            raise
    except FlickrHubError as exc:
        runtime.log.info(
            "auth_complete_failure", request_id=request_id(), via=via, reason=describe(exc).code
        )
        raise
    existing = await runtime.tokens.find_account(
        pending.owner, pending.consumer_key, access.user_nsid
    )
    now = utcnow()
    stored = StoredToken(
        user_id=existing.user_id if existing else str(uuid.uuid4()),
        owner=pending.owner,
        consumer_key=pending.consumer_key,
        consumer_secret=pending.consumer_secret,
        token=access.token,
        token_secret=access.secret,
        user_nsid=access.user_nsid,
        username=access.username,
        fullname=access.fullname,
        perms=pending.perms,
        created_at=existing.created_at if existing else now,
        updated_at=now,
    )
    await runtime.tokens.put(stored)
    runtime.log.info(
        "auth_complete_success",
        request_id=request_id(),
        via=via,
        user_id=stored.user_id,
        user_nsid=stored.user_nsid,
        reauthorised=existing is not None,
    )
    return AuthUserData(
        user_id=stored.user_id,
        user_nsid=stored.user_nsid,
        username=stored.username,
        fullname=stored.fullname,
        perms=pending.perms,
    )


@blueprint.post("/complete")
@tag(["auth"])
@operation_id("auth_complete")
@json_body(AuthCompleteRequest)
@document_account_links(200)
@document_response(Envelope[AuthUserData], 200)
@errors(400, 502, notes=FINISH_NOTES)
async def complete(data: AuthCompleteRequest) -> Response:
    """Exchange the verifier the user copied from Flickr for a ``user_id``."""
    user = await finish_auth(data.oauth_token, data.oauth_verifier, data.state, via="complete")
    return envelope(user)


def _wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


@blueprint.get("/callback")
@tag(["auth"])
@operation_id("auth_callback")
@document_querystring(AuthCallbackQuery)
@document_response(Envelope[AuthCallbackData], 200)
@errors(400, 502, notes=FINISH_NOTES)
@media_response(200, "text/html", description="Connected (a page for the browser)")
@media_response(400, "text/html")
@media_response(502, "text/html")
@media_response(503, "text/html")
async def callback() -> Response:
    """Flickr's redirect after the user approved; a browser gets a small HTML page.

    Served without an API key: the ``state`` made by ``/auth/start`` ties it to the
    client that started the authorisation. ``Accept: text/html`` gets the page,
    anything else the JSON envelope.
    """
    html = _wants_html()
    try:
        query = parse_model(AuthCallbackQuery, request.args.to_dict())
        user = await finish_auth(
            query.oauth_token, query.oauth_verifier, query.state, via="callback", by_state=True
        )
    except Exception as exc:
        if not html:
            raise
        reply = report(exc)
        page = await render_template(
            "callback.html", ok=False, message=reply.message, request_id=request_id()
        )
        return Response(page, status=reply.status, content_type="text/html; charset=utf-8")
    if html:
        page = await render_template("callback.html", ok=True, user=user, request_id=request_id())
        return Response(page, content_type="text/html; charset=utf-8")
    return envelope(AuthCallbackData(**user.model_dump()))
