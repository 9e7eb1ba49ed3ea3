"""FlickrClient: signed REST calls, uploads, replaces and the OAuth token dance.

One client (one connection pool, :mod:`.transport`) serves every user and every
call; the user is whoever's :class:`Credentials` a call is given. Each call is one
HTTP request: retrying is the worker's business, guided by ``retryable`` and ``sent``
on the :class:`~flickrhub_core.errors.FlickrError` raised (see :mod:`.errors`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx

from flickrhub_core.errors import FlickrError, InvalidRequest
from flickrhub_core.flickr import errors
from flickrhub_core.flickr.methods import is_write
from flickrhub_core.flickr.models import (
    AccessToken,
    CallKind,
    CallRecord,
    Credentials,
    Endpoints,
    PhotoSource,
    RequestToken,
)
from flickrhub_core.flickr.multipart import MultipartBody
from flickrhub_core.flickr.responses import (
    MalformedResponse,
    envelope_error,
    parse_access_token,
    parse_form,
    parse_request_token,
    parse_rest_body,
    parse_xml_envelope,
)
from flickrhub_core.flickr.signing import authorization_header, escape
from flickrhub_core.flickr.transport import (
    AiohttpSender,
    Answer,
    AnswerTooLarge,
    Body,
    HttpxSender,
    Sender,
)

__all__ = ["MAX_RESPONSE_BYTES", "FlickrClient"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")
#: What :meth:`.transport.Sender.send` takes: method, URL, headers, body, timeouts.
_Request = tuple[str, str, dict[str, str], Body, httpx.Timeout]

#: Larger answers are refused: no Flickr answer comes near it (500 photos with
#: every extra is a few MB), and a broken or hostile endpoint must not exhaust memory.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
PERMS = ("read", "write", "delete")
USER_AGENT = "FlickrHub (+https://github.com/flickrhub)"

#: Set by the client on every REST call; a caller sending them is a bug.
_RESERVED = frozenset({"method", "format", "nojsoncallback", "jsoncallback"})
_UPLOAD_RESERVED = frozenset({"photo"})
#: Flickr checks the token named by this method's explicit ``oauth_token`` argument, not
#: the one the call is signed with (flickr-api.md §1.3, sybrenstuvel/flickrapi#123).
_OAUTH_CHECK_METHOD = "flickr.auth.oauth.checktoken"


def _check_params(params: Mapping[str, str], reserved: frozenset[str]) -> None:
    bad = sorted(k for k in params if k in reserved or k.startswith("oauth_"))
    if bad:
        raise InvalidRequest(
            f"parameters set by FlickrHub itself: {', '.join(bad)}", details={"params": bad}
        )


def _encode(params: Sequence[tuple[str, str]]) -> str:
    """RFC 3986 form encoding (``%20``, never ``+``), as signed."""
    return "&".join(f"{escape(k)}={escape(v)}" for k, v in params)


class FlickrClient:
    """The one way FlickrHub talks to Flickr (or the sandbox).

    Requests go through aiohttp's connection pool (:class:`.transport.AiohttpSender`)
    unless ``transport`` is given: then through that httpx transport (a scripted
    Flickr, or the sandbox as an ASGI app).
    """

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        timeout: float = 30.0,
        upload_timeout: float = 300.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
    ) -> None:
        self.endpoints = endpoints
        self._timeout = httpx.Timeout(timeout)
        self._upload_timeout = httpx.Timeout(upload_timeout, connect=min(timeout, upload_timeout))
        self._on_call = on_call
        self._sender: Sender
        if transport is None:
            self._sender = AiohttpSender(
                max_connections=max_connections,
                max_answer_bytes=MAX_RESPONSE_BYTES,
                user_agent=USER_AGENT,
            )
        else:
            self._sender = HttpxSender(
                transport, max_answer_bytes=MAX_RESPONSE_BYTES, user_agent=USER_AGENT
            )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._sender.aclose()

    async def __aenter__(self) -> FlickrClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- REST -----------------------------------------------------------------------

    async def call(
        self,
        creds: Credentials,
        method: str,
        params: Mapping[str, str],
        *,
        http_method: str | None = None,
    ) -> dict[str, Any]:
        """Call a REST method; return Flickr's JSON answer (``stat`` is ``ok``).

        Writes go as a signed POST form body, reads as a signed GET query, unless
        ``http_method`` says otherwise (POST for a read with long parameters; a
        write sent as GET is refused here, since Flickr requires POST for it).

        ``flickr.auth.oauth.checkToken`` gets the user's token as its ``oauth_token``
        argument (signed like any other), since Flickr does not read it from the
        signature; no caller may pass ``oauth_*`` parameters themselves.
        """
        _check_params(params, _RESERVED)
        verb = (http_method or ("POST" if is_write(method) else "GET")).upper()
        if verb not in ("GET", "POST"):
            raise ValueError(f"unsupported HTTP method {verb!r}")
        if verb == "GET" and is_write(method):
            raise ValueError(f"{method} changes state and must be sent as POST")
        fields = [
            ("method", method),
            ("format", "json"),
            ("nojsoncallback", "1"),
            *params.items(),
        ]
        if method.lower() == _OAUTH_CHECK_METHOD and creds.token is not None:
            fields.append(("oauth_token", creds.token))
        url = self.endpoints.rest_url
        auth = authorization_header(creds, verb, url, fields)
        headers = {"Authorization": auth, "Accept": "application/json"}
        body: bytes | None = None
        if verb == "GET":
            url = f"{url}{'&' if '?' in url else '?'}{_encode(fields)}"
        else:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = _encode(fields).encode("ascii")
        return await self._exchange(
            "rest",
            method,
            (verb, url, headers, body, self._timeout),
            lambda raw: _parse_rest(raw, method, creds),
        )

    async def check_tickets(self, creds: Credentials, tickets: Sequence[str]) -> dict[str, Any]:
        """Poll async upload/replace tickets (``flickr.photos.upload.checkTickets``).

        ``uploader.ticket`` is always a list, as in Flickr's JSON, even when Flickr
        answers in XML, where a lone ``<ticket>`` reads as a single object.
        """
        if not tickets or any(not t or "," in t for t in tickets):
            raise ValueError("tickets must be non-empty ids without commas")
        answer = await self.call(
            creds, "flickr.photos.upload.checkTickets", {"tickets": ",".join(tickets)}
        )
        uploader = answer.get("uploader")
        if isinstance(uploader, dict) and isinstance(uploader.get("ticket"), dict):
            uploader["ticket"] = [uploader["ticket"]]
        return answer

    # -- upload / replace -----------------------------------------------------------

    async def upload(
        self, creds: Credentials, photo: PhotoSource, fields: Mapping[str, str]
    ) -> dict[str, Any]:
        """Upload a photo; return ``{"stat": "ok", "photoid"|"ticketid": {"_content": ...}}``.

        Not idempotent: on a failure with ``sent`` True the photo may exist.
        """
        return await self._send_photo("upload", self.endpoints.upload_url, creds, photo, fields)

    async def replace(
        self,
        creds: Credentials,
        photo: PhotoSource,
        photo_id: str,
        fields: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Replace a photo's image; the answer carries the new ``secret``/``originalsecret``."""
        extra = dict(fields or {})
        if "photo_id" in extra:
            raise InvalidRequest("photo_id is given as its own argument")
        return await self._send_photo(
            "replace",
            self.endpoints.replace_url,
            creds,
            photo,
            {"photo_id": photo_id, **extra},
        )

    async def _send_photo(
        self,
        kind: CallKind,
        url: str,
        creds: Credentials,
        photo: PhotoSource,
        fields: Mapping[str, str],
    ) -> dict[str, Any]:
        _check_params(fields, _UPLOAD_RESERVED)
        items = list(fields.items())
        body = MultipartBody(items, photo)
        headers = {"Authorization": authorization_header(creds, "POST", url, items)}
        headers.update(body.headers())

        def parse(raw: bytes) -> dict[str, Any]:
            envelope = parse_xml_envelope(raw)
            if envelope["stat"] == "fail":
                code, message = envelope_error(envelope)
                raise errors.api_error(
                    code, message, method=kind, idempotent=False, secrets=_secrets(creds)
                )
            return envelope

        return await self._exchange(
            kind, kind, ("POST", url, headers, body, self._upload_timeout), parse
        )

    # -- OAuth ----------------------------------------------------------------------

    async def get_request_token(self, consumer: Credentials, callback: str) -> RequestToken:
        """Step 1: a request token for ``callback`` (an absolute URL, or ``oob``)."""
        consumer = consumer.consumer
        extra = {"oauth_callback": callback}
        return await self._oauth_step("request_token", consumer, extra, parse_request_token)

    def authorize_url(self, request_token: str, perms: str) -> str:
        """Step 2: where to send the user; ``perms`` is ``read``, ``write`` or ``delete``."""
        if perms not in PERMS:
            raise ValueError(f"perms must be one of {', '.join(PERMS)}")
        query = urlencode({"oauth_token": request_token, "perms": perms})
        return f"{self.endpoints.oauth('authorize')}?{query}"

    async def get_access_token(
        self,
        consumer: Credentials,
        request_token: str,
        request_token_secret: str,
        verifier: str,
    ) -> AccessToken:
        """Step 3: trade the authorised request token and its verifier for an access token."""
        creds = Credentials(
            consumer.consumer_key, consumer.consumer_secret, request_token, request_token_secret
        )
        extra = {"oauth_verifier": verifier}
        return await self._oauth_step("access_token", creds, extra, parse_access_token)

    async def _oauth_step(
        self,
        step: str,
        creds: Credentials,
        extra: dict[str, str],
        parse: Callable[[bytes], _T],
    ) -> _T:
        """One signed GET to an OAuth endpoint (oauth params in the header, as recorded)."""
        url = self.endpoints.oauth(step)
        auth = authorization_header(creds, "GET", url, oauth_extra=extra)
        request = ("GET", url, {"Authorization": auth}, None, self._timeout)
        return await self._exchange("oauth", step, request, parse)

    # -- the one exchange -----------------------------------------------------------

    async def _exchange(
        self,
        kind: CallKind,
        method: str,
        request: _Request,
        parse: Callable[[bytes], _T],
    ) -> _T:
        """Send, read (bounded), map every failure to a FlickrError, report the call."""
        started = time.perf_counter()
        status: int | None = None
        flickr_code: int | None = None
        ok = False
        try:
            try:
                answer = await self._sender.send(*request)
            except httpx.TransportError as exc:
                raise errors.transport_error(exc, method=method) from exc
            except AnswerTooLarge as exc:
                status = exc.status
                raise errors.bad_body_error(
                    str(exc), method=method, status=status, hostile=exc.hostile
                ) from None
            status = answer.status
            if status != 200:
                raise _status_error(answer, method)
            try:
                result = parse(answer.body)
            except MalformedResponse as exc:
                raise errors.bad_body_error(
                    str(exc), method=method, status=status, hostile=exc.hostile
                ) from None
            ok = True
            return result
        except FlickrError as exc:
            flickr_code = exc.flickr_code
            raise
        finally:
            elapsed = time.perf_counter() - started
            self._report(CallRecord(kind, method, status, elapsed, ok, flickr_code))

    def _report(self, record: CallRecord) -> None:
        if self._on_call is None:
            return
        try:
            self._on_call(record)
        except Exception:  # metrics must never fail a Flickr call
            log.exception("flickr_on_call_failed")


def _parse_rest(raw: bytes, method: str, creds: Credentials) -> dict[str, Any]:
    envelope = parse_rest_body(raw)
    if envelope["stat"] == "fail":
        code, message = envelope_error(envelope)
        raise errors.api_error(code, message, method=method, secrets=_secrets(creds))
    return envelope


def _secrets(creds: Credentials) -> tuple[str | None, ...]:
    return (creds.consumer_secret, creds.token, creds.token_secret)


def _status_error(answer: Answer, method: str) -> FlickrError:
    """The error for a non-200 answer: an OAuth problem, or an HTTP failure."""
    status = answer.status
    if status in (400, 401):
        problem = parse_form(answer.body).get("oauth_problem")
        if problem:
            return errors.oauth_error(problem, http_status=status)
    retry_after = errors.parse_retry_after(answer.headers.get("Retry-After"))
    return errors.http_error(status, method=method, retry_after=retry_after)
