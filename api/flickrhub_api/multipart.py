"""A streaming ``multipart/form-data`` reader over the request body.

Werkzeug's sans-IO decoder does the parsing; this wraps it so a file part's data
can be handed to the blob store as an async iterator while the rest of the form
is still on the wire. Only small text fields are held in memory, each bounded;
the decoder's buffer is bounded too, so no input makes memory grow with it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import (
    Data,
    Epilogue,
    Event,
    Field,
    File,
    MultipartDecoder,
    NeedData,
    Preamble,
    State,
)

from flickrhub_api.errors import UnsupportedMediaType
from flickrhub_core.errors import InvalidRequest

#: Part headers and the space between parts may not grow past this.
MAX_HEADER_BYTES = 16 * 1024
MAX_PARTS = 64
MAX_FILENAME = 255
#: What completes a boundary line: ``--`` (the last one) or optional blanks and a line break.
_BOUNDARY_END = re.compile(rb"--|[ \t]*(\r\n|\n|\r)")
_MAX_BOUNDARY_TAIL = 64
_TOKEN = re.compile(r"^[A-Za-z0-9!#$&^_.+-]{1,127}/[A-Za-z0-9!#$&^_.+-]{1,127}$")


def malformed(reason: str) -> InvalidRequest:
    return InvalidRequest(
        "Invalid request", details=[{"field": "body", "message": f"malformed multipart: {reason}"}]
    )


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` content type, or 415."""
    mimetype, options = parse_options_header(content_type or "")
    if mimetype.lower() != "multipart/form-data":
        raise UnsupportedMediaType(
            "send the photo as multipart/form-data", details={"content_type": mimetype}
        )
    boundary = options.get("boundary", "")
    if not boundary or len(boundary) > 200 or not boundary.isascii():
        raise malformed("missing or invalid boundary")
    return boundary.encode("ascii")


@dataclass
class Part:
    """One form part. Read it (``text``) or stream it (``chunks``) at most once."""

    name: str
    filename: str | None
    content_type: str | None
    _reader: MultipartReader

    @property
    def is_file(self) -> bool:
        return self.filename is not None

    def chunks(self) -> AsyncIterator[bytes]:
        return self._reader._part_data(self)

    async def text(self, max_bytes: int) -> str:
        """The part as UTF-8 text; longer than ``max_bytes`` is a 400."""
        data = bytearray()
        async for chunk in self.chunks():
            data.extend(chunk)
            if len(data) > max_bytes:
                raise InvalidRequest(
                    "Invalid request",
                    details=[
                        {"field": self.name, "message": f"at most {max_bytes} bytes"},
                    ],
                )
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest(
                "Invalid request", details=[{"field": self.name, "message": "must be UTF-8 text"}]
            ) from None


class MultipartReader:
    """Parts one after another: ``while (part := await reader.next_part()) is not None``.

    Moving to the next part skips whatever of the current one was not read.
    """

    def __init__(self, body: AsyncIterable[bytes], boundary: bytes) -> None:
        self._body = body.__aiter__()
        self._decoder = MultipartDecoder(boundary, max_parts=MAX_PARTS)
        self._current: Part | None = None
        self._in_data = False
        self._done = False
        self._body_done = False

    async def _event(self) -> Event:
        while True:
            if self._boundary_undecided():
                await self._feed()
                continue
            try:
                event = self._decoder.next_event()
            except (ValueError, AttributeError, IndexError) as exc:
                # ValueError covers UnicodeDecodeError; the others are how the decoder
                # fails on some hostile inputs.
                raise malformed("truncated or invalid body") from exc
            if not isinstance(event, NeedData):
                return event
            if self._decoder.state not in (State.DATA, State.DATA_START) and (
                len(self._decoder.buffer) > MAX_HEADER_BYTES
            ):
                raise malformed("part headers too long")
            if self._body_done:
                raise malformed("truncated body")
            await self._feed()

    async def _feed(self) -> None:
        try:
            chunk = await self._body.__anext__()
        except StopAsyncIteration:
            self._body_done = True
            self._decoder.receive_data(None)
        else:
            self._decoder.receive_data(chunk)

    def _boundary_undecided(self) -> bool:
        """Whether part data ends in a boundary that the next bytes may turn into
        the closing one (``--b-`` so far).

        Werkzeug's decoder (3.1.x) gives the line break before such a boundary out
        as data when a chunk ends there: the photo would gain a byte. Reading on
        until the boundary is complete avoids it.
        """
        if self._body_done or self._decoder.state not in (State.DATA, State.DATA_START):
            return False
        buffer = self._decoder.buffer
        marker = b"--" + self._decoder.boundary
        at = buffer.rfind(marker)
        if at == -1:
            return False
        tail = bytes(buffer[at + len(marker) :])
        return len(tail) < _MAX_BOUNDARY_TAIL and not _BOUNDARY_END.match(tail)

    async def _part_data(self, part: Part) -> AsyncIterator[bytes]:
        if part is not self._current or not self._in_data:
            return
        while self._in_data:
            event = await self._event()
            if not isinstance(event, Data):
                raise malformed("unexpected event in part data")
            if not event.more_data:
                self._in_data = False
            if event.data:
                yield event.data

    async def next_part(self) -> Part | None:
        """The next part, or None after the last one."""
        if self._done:
            return None
        if self._current is not None:
            async for _ in self._part_data(self._current):
                pass
            self._current = None
        while True:
            event = await self._event()
            if isinstance(event, Preamble):
                continue
            if isinstance(event, Epilogue):
                self._done = True
                return None
            if isinstance(event, Field | File):
                break
            raise malformed("unexpected data between parts")
        filename = event.filename if isinstance(event, File) else None
        part = Part(
            name=event.name or "",
            filename=filename,
            content_type=clean_content_type(event.headers.get("content-type")),
            _reader=self,
        )
        self._current = part
        self._in_data = True
        return part


def clean_content_type(value: str | None) -> str | None:
    """A plain ``type/subtype`` (parameters dropped), or None if it is not one."""
    if not value:
        return None
    mimetype = value.split(";", 1)[0].strip().lower()
    return mimetype if _TOKEN.match(mimetype) else None


def sanitize_filename(raw: str | None) -> str:
    """A safe display name: the last path segment, no control characters, at most
    255 characters (the extension kept). It is only ever a label: blob stores key
    their files by id, never by this name."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = name.strip().strip(".").strip()
    if not name:
        return "photo"
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: MAX_FILENAME - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_FILENAME]
    return name
