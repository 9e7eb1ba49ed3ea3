"""A streaming ``multipart/form-data`` body for upload and replace.

httpx's own multipart encoder wants a file object; photos here arrive as an async
stream (from a blob store), and memory must stay flat whatever the photo size.
So the body is an async iterable: the small text-field preamble, then the photo's
chunks passed through untouched, then the closing boundary. When the photo's size
is known the total length is known too, so the request carries a
``Content-Length`` (some servers refuse chunked uploads) and the bytes are counted
against it, failing before a short or long body can reach the wire.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Sequence

from flickrhub_core.flickr.models import PhotoSource

__all__ = ["MultipartBody", "PhotoSizeMismatch"]

_CRLF = b"\r\n"
# HTML5 form encoding of names and filenames in Content-Disposition (as browsers
# and httpx do): quote, backslash and control characters are escaped.
_ESCAPE = re.compile(r'["\\\x00-\x1f]')


class PhotoSizeMismatch(ValueError):
    """The photo source yielded more or fewer bytes than its declared ``size``."""


def _quote(value: str) -> str:
    return _ESCAPE.sub(lambda m: "\\\\" if m.group() == "\\" else f"%{ord(m.group()):02X}", value)


class MultipartBody:
    """Text fields in the given order, then the file part; iterate it to stream.

    Iterate it once per request: each iteration calls ``photo.chunks()`` again.
    """

    def __init__(
        self,
        fields: Sequence[tuple[str, str]],
        photo: PhotoSource,
        *,
        file_field: str = "photo",
        boundary: str | None = None,
    ) -> None:
        self.photo = photo
        self.boundary = boundary or secrets.token_hex(16)
        if not re.fullmatch(r"[0-9A-Za-z'()+_,\-./:=?]{1,70}", self.boundary):
            raise ValueError("invalid multipart boundary")
        delimiter = f"--{self.boundary}\r\n".encode("ascii")
        head = bytearray()
        for name, value in fields:
            head += delimiter
            head += f'Content-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode()
            head += value.encode("utf-8") + _CRLF
        content_type = photo.content_type or "application/octet-stream"
        if "\r" in content_type or "\n" in content_type:
            raise ValueError("invalid photo content type")
        head += delimiter
        head += (
            f'Content-Disposition: form-data; name="{_quote(file_field)}"; '
            f'filename="{_quote(photo.filename)}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        self._head = bytes(head)
        self._tail = f"\r\n--{self.boundary}--\r\n".encode("ascii")

    @property
    def content_type(self) -> str:
        """The request's ``Content-Type`` header value."""
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def content_length(self) -> int | None:
        """The exact body length, or None when the photo's size is unknown."""
        if self.photo.size is None:
            return None
        return len(self._head) + self.photo.size + len(self._tail)

    def headers(self) -> dict[str, str]:
        """``Content-Type`` and, when known, ``Content-Length``."""
        headers = {"Content-Type": self.content_type}
        length = self.content_length
        if length is not None:
            headers["Content-Length"] = str(length)
        return headers

    async def __aiter__(self) -> AsyncIterator[bytes]:
        expected = self.photo.size
        yield self._head
        sent = 0
        async for chunk in self.photo.chunks():
            if not chunk:
                continue  # an empty chunk would end a chunked body early
            sent += len(chunk)
            if expected is not None and sent > expected:
                raise PhotoSizeMismatch(f"photo is larger than its declared {expected} bytes")
            yield chunk
        if expected is not None and sent != expected:
            raise PhotoSizeMismatch(f"photo has {sent} bytes, declared {expected}")
        yield self._tail
