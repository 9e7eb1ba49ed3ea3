"""Upload and replace: a photo streamed from the request into the blob store.

The body is parsed as it arrives (:mod:`flickrhub_api.multipart`) and the photo
part goes to ``runtime.blobs.put`` chunk by chunk, so a 200 MB photo never sits
in the API's memory. Text fields may come before or after the photo. Whatever
goes wrong after the bytes are stored (a bad field, an unknown user, a full
queue, the client going away) deletes them again: a refused request leaves
nothing behind.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from quart import Blueprint, Response, request
from quart_schema import DataSource, document_request, document_response, operation_id, tag

from flickrhub_api.context import get_runtime
from flickrhub_api.errors import PayloadTooLarge
from flickrhub_api.models import EnqueueData, Envelope, ReplaceForm, UploadForm
from flickrhub_api.multipart import MultipartReader, Part, boundary_of, sanitize_filename
from flickrhub_api.openapi import errors
from flickrhub_api.submission import (
    ENQUEUE_NOTES,
    accepted,
    admit,
    document_idempotency_key,
    document_job_links,
    idempotency_key,
    new_job,
    require_user,
    submit,
)
from flickrhub_core.errors import InvalidRequest
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import BlobInfo
from flickrhub_core.webhooks import check_callback_url

blueprint = Blueprint("photos", __name__, url_prefix="/api/v1/flickr")

UPLOAD_PATH = "/api/v1/flickr/upload"
REPLACE_PATH = "/api/v1/flickr/replace"
PHOTO_FIELD = "photo"
#: Form fields the API consumes itself; every other one is a Flickr argument.
OWN_FIELDS = frozenset({"user_id", "callback_url", "callback_secret", "meta"})
MAX_FIELD_BYTES = 64 * 1024
MAX_SECRET_CHARS = 1000
#: Room for the text fields and part headers on top of the photo's own limit.
FORM_OVERHEAD = 1024 * 1024


def invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest("Invalid request", details=[{"field": field, "message": message}])


async def _counted(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The photo's chunks; past ``limit`` bytes a 413 (before the store's own 400)."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"the photo is larger than {limit} bytes", details={"max_bytes": limit}
            )
        yield chunk


class _PhotoForm:
    """The form as it is read: text fields, and the stored photo once it arrived."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.blob: BlobInfo | None = None
        self.user_checked = False

    async def add_field(self, runtime: Runtime, part: Part) -> None:
        if part.name in self.fields:
            raise invalid(part.name, "given more than once")
        self.fields[part.name] = await part.text(MAX_FIELD_BYTES)
        if part.name == "user_id" and self.blob is None:
            # Known before the photo: refuse an unknown user before storing anything.
            await require_user(runtime, self.fields["user_id"])
            self.user_checked = True

    async def add_photo(self, runtime: Runtime, part: Part) -> None:
        if part.name != PHOTO_FIELD:
            raise invalid(part.name or "file", "the only file field is 'photo'")
        if self.blob is not None:
            raise invalid(PHOTO_FIELD, "only one photo per request")
        limit = runtime.settings.max_upload_bytes
        self.blob = await runtime.blobs.put(
            _counted(part.chunks(), limit),
            filename=sanitize_filename(part.filename),
            content_type=part.content_type,
            max_bytes=limit,
        )


def _meta(text: str | None) -> dict[str, Any] | None:
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise invalid("meta", "meta must be a JSON object")
    return value


def _callback_url(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    if len(text) > 2048 or not text.lower().startswith(("http://", "https://")):
        raise invalid("callback_url", "callback_url must be an http:// or https:// URL")
    return text


async def _read_form(runtime: Runtime, form: _PhotoForm) -> None:
    reader = MultipartReader(request.body, boundary_of(request.headers.get("Content-Type")))
    while (part := await reader.next_part()) is not None:
        if part.is_file:
            await form.add_photo(runtime, part)
        else:
            await form.add_field(runtime, part)


async def _photo_job(target_name: str) -> Response:
    runtime = get_runtime()
    target = runtime.targets.get(target_name)
    if target is None:
        raise invalid("target", f"the {target_name} target is not enabled on this server")
    key = idempotency_key()
    await admit(runtime, key)  # a full queue is refused before the photo is read
    form = _PhotoForm()
    try:
        await _read_form(runtime, form)
        fields = form.fields
        user_id = fields.get("user_id", "").strip()
        if not user_id:
            raise invalid("user_id", "userId is required")
        if form.blob is None:
            raise invalid(PHOTO_FIELD, "photo is required (a file part named 'photo')")
        if form.blob.size == 0:
            raise invalid(PHOTO_FIELD, "the photo is empty")
        params = target.validate(None, {k: v for k, v in fields.items() if k not in OWN_FIELDS})
        callback_url = _callback_url(fields.get("callback_url"))
        if callback_url is not None:
            await check_callback_url(
                callback_url, allow_private=runtime.settings.webhook_allow_private
            )
        callback_secret = fields.get("callback_secret") or None
        if callback_secret is not None and len(callback_secret) > MAX_SECRET_CHARS:
            raise invalid("callback_secret", f"at most {MAX_SECRET_CHARS} characters")
        meta = _meta(fields.get("meta"))
        if not form.user_checked:
            await require_user(runtime, user_id)
        job = new_job(
            runtime,
            user_id=user_id,
            target=target.name,
            method=None,
            params=params,
            callback_url=callback_url,
            callback_secret=callback_secret,
            meta=meta,
            blob_id=form.blob.id,
            key=key,
        )
        job, replayed = await submit(runtime, job)
    except BaseException:
        await _discard(runtime, form.blob)
        raise
    if replayed:
        # The first request's photo is the one that counts.
        await _discard(runtime, form.blob)
    return accepted(job, replayed=replayed)


async def _discard(runtime: Runtime, blob: BlobInfo | None) -> None:
    if blob is None:
        return
    try:
        await runtime.blobs.delete(blob.id)
    except Exception as exc:
        runtime.log.error("upload_blob_discard_failed", blob_id=blob.id, error=type(exc).__name__)


#: What the statuses of the photo routes mean.
PHOTO_NOTES = {
    **ENQUEUE_NOTES,
    400: "A field is missing, repeated, unknown or invalid, the photo is missing or empty, "
    "or the form is malformed (ERR_INVALID_REQUEST); nothing is stored",
    413: "The photo is larger than FLICKRHUB_MAX_UPLOAD_BYTES (ERR_PAYLOAD_TOO_LARGE); "
    "nothing is stored",
    415: "The body is not multipart/form-data (ERR_UNSUPPORTED_MEDIA_TYPE)",
}


@blueprint.post("/upload")
@tag(["photos"])
@operation_id("upload_photo")
@document_request(UploadForm, source=DataSource.FORM_MULTIPART)
@document_idempotency_key
@document_job_links
@document_response(Envelope[EnqueueData], 202)
@errors(400, 404, 409, 413, 415, 503, notes=PHOTO_NOTES)
async def upload() -> Response:
    """Upload a new photo for a connected user (``multipart/form-data``); 202 + ``job_id``.

    The file is streamed to the blob store, not sniffed: whether it is an image or
    video Flickr takes is Flickr's to say. A file it does not recognise fails the
    job permanently (``ERR_FLICKR_API``, Flickr's code 5) and its bytes are deleted.
    """
    return await _photo_job("upload")


@blueprint.post("/replace")
@tag(["photos"])
@operation_id("replace_photo")
@document_request(ReplaceForm, source=DataSource.FORM_MULTIPART)
@document_idempotency_key
@document_job_links
@document_response(Envelope[EnqueueData], 202)
@errors(400, 404, 409, 413, 415, 503, notes=PHOTO_NOTES)
async def replace() -> Response:
    """Replace the image of one of the user's photos (``photo_id`` + ``photo``); 202.

    As with ``/upload``, the file's type is Flickr's to judge.
    """
    return await _photo_job("replace")
