"""Read request bodies without holding uploads in memory.

Flickr signs every non-file multipart field (``photo`` is excluded), so the sandbox
needs all text fields, which may come before or after the file, but never the file
bytes themselves. Multipart bodies are decoded incrementally with werkzeug's sans-IO
decoder: text fields are collected (bounded), file parts are counted and hashed and
only their first :data:`HEAD_BYTES` are kept for sniffing the image type.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from .errors import BadRequest

HEAD_BYTES = 64 * 1024
MAX_FIELD_BYTES = 1024 * 1024
MAX_PARTS = 1000
MAX_FORM_BODY_BYTES = 8 * 1024 * 1024


@dataclass
class FilePart:
    """What the sandbox keeps of an uploaded file: size, digest and the first bytes."""

    name: str
    filename: str
    content_type: str
    size: int = 0
    head: bytes = b""
    _digest: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)

    def feed(self, chunk: bytes) -> None:
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self.size += len(chunk)
        self._digest.update(chunk)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


@dataclass
class Body:
    """Decoded request body: text fields in order (duplicates kept) and file parts."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[FilePart] = field(default_factory=list)

    def file(self, name: str) -> FilePart | None:
        return next((part for part in self.files if part.name == name), None)


async def read_body(chunks: AsyncIterable[bytes], content_type: str | None, method: str) -> Body:
    """Decode a form-urlencoded or multipart body; other bodies are drained and ignored."""
    mimetype, options = parse_options_header(content_type or "")
    if method in ("GET", "HEAD"):
        return Body()
    if mimetype == "multipart/form-data":
        boundary = options.get("boundary", "")
        if not boundary:
            raise BadRequest(400, "Missing multipart boundary")
        return await _read_multipart(chunks, boundary.encode("latin-1"), options)
    data = bytearray()
    async for chunk in chunks:
        if len(data) + len(chunk) > MAX_FORM_BODY_BYTES:
            raise BadRequest(413, "Request body too large")
        data.extend(chunk)
    if mimetype != "application/x-www-form-urlencoded":
        return Body()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(400, "Form body is not UTF-8") from exc
    return Body(fields=parse_qsl(text, keep_blank_values=True))


async def _read_multipart(
    chunks: AsyncIterable[bytes], boundary: bytes, options: dict[str, str]
) -> Body:
    decoder = MultipartDecoder(boundary, max_parts=MAX_PARTS)
    body = Body()
    current_field: str | None = None
    field_value = bytearray()
    current_file: FilePart | None = None
    charset = options.get("charset", "utf-8")
    finished = False

    def drain_events() -> None:
        nonlocal current_field, current_file, finished, field_value
        while True:
            event = decoder.next_event()
            if isinstance(event, NeedData):
                return
            if isinstance(event, Field):
                current_field, current_file = event.name, None
                field_value = bytearray()
            elif isinstance(event, File):
                current_field = None
                current_file = FilePart(
                    event.name, event.filename, event.headers.get("content-type", "")
                )
                body.files.append(current_file)
            elif isinstance(event, Data):
                if current_file is not None:
                    current_file.feed(event.data)
                elif current_field is not None:
                    if len(field_value) + len(event.data) > MAX_FIELD_BYTES:
                        raise BadRequest(413, f"Form field {current_field!r} too large")
                    field_value.extend(event.data)
                    if not event.more_data:
                        body.fields.append((current_field, _text(field_value, charset)))
                        current_field = None
            elif isinstance(event, Epilogue):
                finished = True
                return

    try:
        async for chunk in chunks:
            if finished:
                continue
            decoder.receive_data(chunk)
            drain_events()
        if not finished:
            decoder.receive_data(None)
            drain_events()
    except ValueError as exc:
        raise BadRequest(400, "Malformed multipart body") from exc
    except RequestEntityTooLarge as exc:
        raise BadRequest(413, "Too many multipart parts") from exc
    return body


def _text(value: bytearray, charset: str) -> str:
    try:
        return value.decode(charset)
    except (LookupError, UnicodeDecodeError) as exc:
        raise BadRequest(400, "Form field is not valid text") from exc
