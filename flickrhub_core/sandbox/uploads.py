"""Upload and replace endpoints (``/services/upload[/]``, ``/services/replace[/]``, POST multipart).

The body is streamed: the ``photo`` part is counted, hashed (SHA-256) and sniffed from
its first 64 KiB, never stored, so memory stays flat whatever the size. All other
fields are signed, as Flickr requires. Answers are always XML (``text/xml``), like
Flickr's, whatever ``format`` says:

* upload → ``<photoid>ID</photoid>``; with ``async=1`` → ``<ticketid>ID</ticketid>``,
  and the photo appears (``checkTickets`` ``complete=1``) ``async_ticket_delay_s`` later;
* replace → ``<photoid secret=".." originalsecret="..">ID</photoid>`` with new secrets
  (async: a ticket, secrets change on completion).

Errors (``<err code=.. msg=.. />``): 2 No photo specified, 4 Filesize was zero,
5 Filetype was not recognised, 8 Filesize was too large (``max_upload_bytes``),
98/99/100 as for REST, 105 when injected. A replace whose ``photo_id`` is missing,
unknown or someone else's is 2 No photo specified too: Flickr documents no "photo
not found" for replace, and its code 1 means "Not a pro account" there
(flickr-api.md §3.4), which the sandbox never answers (every account may replace).
A signed upload without ``oauth_token`` gets the same 400 ``parameter_absent`` as a
REST write. A new photo's title defaults to the file name without extension;
visibility defaults to public.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import PurePath

from quart import Response, request

from .auth import Caller, authenticate, consumer_key_hint, require_user
from .connection import drop_response, request_line
from .errors import ApiFailure, BadRequest, OAuthProblem, service_unavailable
from .faults import apply_latency
from .formdata import Body, FilePart, read_body
from .library import Library, Photo, split_tags
from .oauth import collect
from .responses import (
    bad_request,
    oauth_problem,
    server_error,
    too_many_requests,
    upload_fail,
    upload_ok,
)
from .sniff import image_format, image_size
from .state import SandboxState, get_state
from .xmlconv import attr


async def upload_endpoint() -> Response:
    return await _handle(replace=False)


async def replace_endpoint() -> Response:
    return await _handle(replace=True)


async def _handle(*, replace: bool) -> Response:
    state = get_state()
    name = "replace" if replace else "upload"
    decision = state.faults.decide(name)
    if decision.action == "drop":
        state.calls.record(name, {})
        return drop_response()  # before reading: the client sees its upload cut off
    try:
        body = await read_body(request.body, request.headers.get("Content-Type"), request.method)
        params = collect(request.query_string, request.headers.get("Authorization"), body.fields)
    except BadRequest as error:
        return bad_request(error)
    except OAuthProblem as problem:
        return oauth_problem(problem)
    state.calls.record(name, params.merged())
    await apply_latency(decision)
    if decision.action == "5xx":
        return server_error(decision.status)
    if decision.action == "105":
        return upload_fail(service_unavailable())
    key = consumer_key_hint(params)
    if key is not None and key in state.config.consumers:
        retry_after = state.limiter.acquire(key, state.clock())
        if retry_after is not None:
            return too_many_requests(retry_after)
    try:
        caller = authenticate(state, request_line(), params)
        require_user(caller, 2)
        part = _checked_photo(body, state.config.max_upload_bytes)
        state.library.complete_due_tickets(state.clock())
        if replace:
            return upload_ok(_replace(state, caller, params.merged(), part))
        return upload_ok(_create(state, caller, params.merged(), part))
    except ApiFailure as failure:
        return upload_fail(failure)
    except OAuthProblem as problem:
        return oauth_problem(problem)


def _checked_photo(body: Body, max_bytes: int) -> FilePart:
    part = body.file("photo")
    if part is None:
        raise ApiFailure(2, "No photo specified")
    if part.size == 0:
        raise ApiFailure(4, "Filesize was zero")
    if part.size > max_bytes:
        raise ApiFailure(8, "Filesize was too large")
    if image_format(part.head) is None:
        raise ApiFailure(5, "Filetype was not recognised")
    return part


def _flag(fields: dict[str, str], name: str, allowed: tuple[int, ...], default: int) -> int:
    try:
        value = int(fields.get(name, ""))
    except ValueError:
        return default
    return value if value in allowed else default


def _apply_file(photo: Photo, part: FilePart) -> None:
    kind = image_format(part.head) or "jpg"
    photo.width, photo.height = image_size(kind, part.head)
    photo.originalformat = kind
    photo.size_bytes, photo.sha256 = part.size, part.sha256


def _create(state: SandboxState, caller: Caller, fields: dict[str, str], part: FilePart) -> str:
    library: Library = state.library
    owner = library.users[caller.user_nsid or ""]
    now = state.clock()
    photo_id = library.new_photo_id()
    title = fields["title"] if "title" in fields else PurePath(part.filename).stem
    photo = Photo(
        id=photo_id,
        owner=owner.nsid,
        secret=library.hex(10),
        originalsecret=library.hex(10),
        server=str(library.rng.randint(1000, 9999)),
        farm=library.rng.randint(1, 9),
        title=title,
        description=fields.get("description", ""),
        ispublic=_flag(fields, "is_public", (0, 1), 1),
        isfriend=_flag(fields, "is_friend", (0, 1), 0),
        isfamily=_flag(fields, "is_family", (0, 1), 0),
        safety_level=_flag(fields, "safety_level", (1, 2, 3), 1),
        content_type=_flag(fields, "content_type", (1, 2, 3), 1),
        hidden=_flag(fields, "hidden", (1, 2), 1),
        dateupload=int(now),
        lastupdate=int(now),
        datetaken=_datetime(now),
    )
    photo.tags = library.make_tags(owner, photo_id, split_tags(fields.get("tags", "")))
    _apply_file(photo, part)
    if fields.get("async") == "1":
        ticket = library.new_ticket(owner, now + state.config.async_ticket_delay_s)
        ticket.photo = photo
        return f"<ticketid>{ticket.id}</ticketid>"
    library.add_photo(photo)
    return f"<photoid>{photo.id}</photoid>"


def _replace(state: SandboxState, caller: Caller, fields: dict[str, str], part: FilePart) -> str:
    library = state.library
    owner = library.users[caller.user_nsid or ""]
    photo = library.owned_photo(fields.get("photo_id", "").strip(), owner.nsid)
    if photo is None:
        raise ApiFailure(2, "No photo specified")
    secrets = (library.hex(10), library.hex(10))
    now = state.clock()
    if fields.get("async") == "1":
        ticket = library.new_ticket(owner, now + state.config.async_ticket_delay_s)
        ticket.replace_id, ticket.new_secrets = photo.id, secrets
        return f"<ticketid>{ticket.id}</ticketid>"
    photo.secret, photo.originalsecret = secrets
    photo.lastupdate = int(now)
    _apply_file(photo, part)
    return (
        f'<photoid secret="{attr(photo.secret)}" originalsecret="{attr(photo.originalsecret)}">'
        f"{photo.id}</photoid>"
    )


def _datetime(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")
