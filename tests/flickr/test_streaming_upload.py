"""Photos stream to Flickr chunk by chunk: memory stays flat whatever their size."""

from __future__ import annotations

import hashlib
import re
import tracemalloc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from flickrhub_core.flickr import (
    BytesPhoto,
    Credentials,
    FlickrClient,
    MultipartBody,
    PhotoSizeMismatch,
)

ClientFactory = Callable[..., FlickrClient]
MB = 1024 * 1024
CHUNK = 64 * 1024
OK_XML = b'<rsp stat="ok"><ticketid>78701040-72157636215117185</ticketid></rsp>'


@dataclass
class GeneratedPhoto:
    """A photo that exists only as chunks computed on demand (like a blob-store read)."""

    size: int | None
    filename: str = "big photo.jpg"
    content_type: str | None = "image/jpeg"
    produced: int = 0
    real_size: int | None = None

    def chunk(self, index: int) -> bytes:
        return bytes([index % 251]) * CHUNK

    async def chunks(self) -> AsyncIterator[bytes]:
        total = self.real_size if self.real_size is not None else self.size
        assert total is not None
        for index in range(total // CHUNK):
            self.produced += 1
            yield self.chunk(index)

    def sha256(self) -> str:
        digest = hashlib.sha256()
        total = self.real_size if self.real_size is not None else self.size
        assert total is not None
        for index in range(total // CHUNK):
            digest.update(self.chunk(index))
        return digest.hexdigest()


@dataclass
class StreamingRecorder(httpx.AsyncBaseTransport):
    """A Flickr stand-in that reads the body as it arrives, never as a whole.

    httpx.MockTransport would read the body into memory first; this one keeps
    only the head, the tail, a hash of the photo part and proof of interleaving.
    """

    photo: GeneratedPhoto
    headers: httpx.Headers | None = None
    head: bytes = b""
    tail: bytes = b""
    total: int = 0
    chunks: int = 0
    biggest_chunk: int = 0
    max_lead: int = 0
    body_hash: str = ""
    chunk_types: set[str] = field(default_factory=set)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.headers = request.headers
        digest = hashlib.sha256()
        assert isinstance(request.stream, httpx.AsyncByteStream)
        async for chunk in request.stream:
            self.chunk_types.add(type(chunk).__name__)
            if len(self.head) < 4096:
                self.head += chunk[: 4096 - len(self.head)]
            self.tail = (self.tail + chunk)[-256:]
            digest.update(chunk)
            self.total += len(chunk)
            self.chunks += 1
            self.biggest_chunk = max(self.biggest_chunk, len(chunk))
            # How far the photo source ran ahead of what reached "the wire".
            self.max_lead = max(self.max_lead, self.photo.produced - (self.chunks - 1))
        self.body_hash = digest.hexdigest()
        return httpx.Response(200, content=OK_XML)


def expected_body_hash(head: bytes, photo: GeneratedPhoto, tail: bytes) -> str:
    digest = hashlib.sha256(head)
    total = photo.real_size if photo.real_size is not None else photo.size
    assert total is not None
    for index in range(total // CHUNK):
        digest.update(photo.chunk(index))
    digest.update(tail)
    return digest.hexdigest()


async def test_20mb_photo_streams_without_being_materialised(
    make_client: ClientFactory, creds: Credentials
) -> None:
    photo = GeneratedPhoto(size=20 * MB)
    recorder = StreamingRecorder(photo)
    client = make_client(recorder)
    fields = {"title": "Big", "tags": "huge test", "async": "1"}

    tracemalloc.start()
    try:
        result = await client.upload(creds, photo, fields)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result == {"stat": "ok", "ticketid": {"_content": "78701040-72157636215117185"}}
    assert recorder.chunks >= 20 * MB // CHUNK
    assert recorder.biggest_chunk <= CHUNK + 4096
    assert recorder.max_lead <= 2, "the photo was read ahead of the upload"
    assert peak < 4 * MB, f"peak traced memory {peak} bytes"


async def test_known_size_sends_exact_content_length(
    make_client: ClientFactory, creds: Credentials
) -> None:
    photo = GeneratedPhoto(size=20 * MB)
    recorder = StreamingRecorder(photo)
    await make_client(recorder).upload(creds, photo, {"title": "Big"})
    assert recorder.headers is not None
    assert int(recorder.headers["Content-Length"]) == recorder.total
    assert "Transfer-Encoding" not in recorder.headers


async def test_parts_are_text_fields_in_order_then_the_photo(
    make_client: ClientFactory, creds: Credentials
) -> None:
    photo = GeneratedPhoto(size=20 * MB)
    recorder = StreamingRecorder(photo)
    await make_client(recorder).upload(creds, photo, {"title": "Big", "tags": "a b", "async": "1"})
    assert recorder.headers is not None
    match = re.fullmatch(r"multipart/form-data; boundary=(\S+)", recorder.headers["Content-Type"])
    assert match
    b = match.group(1)
    head = (
        f'--{b}\r\nContent-Disposition: form-data; name="title"\r\n\r\nBig\r\n'
        f'--{b}\r\nContent-Disposition: form-data; name="tags"\r\n\r\na b\r\n'
        f'--{b}\r\nContent-Disposition: form-data; name="async"\r\n\r\n1\r\n'
        f'--{b}\r\nContent-Disposition: form-data; name="photo"; filename="big photo.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    tail = f"\r\n--{b}--\r\n".encode()
    assert recorder.head.startswith(head)
    assert recorder.tail.endswith(tail)
    assert recorder.total == len(head) + 20 * MB + len(tail)
    assert recorder.body_hash == expected_body_hash(head, photo, tail)


async def test_unknown_size_streams_chunked(make_client: ClientFactory, creds: Credentials) -> None:
    photo = GeneratedPhoto(size=None, real_size=2 * MB)
    recorder = StreamingRecorder(photo)
    await make_client(recorder).upload(creds, photo, {})
    assert recorder.headers is not None
    assert recorder.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in recorder.headers


@pytest.mark.parametrize("real_size", [1 * MB, 3 * MB], ids=["short", "long"])
async def test_photo_not_matching_its_size_is_refused(
    make_client: ClientFactory, creds: Credentials, real_size: int
) -> None:
    photo = GeneratedPhoto(size=2 * MB, real_size=real_size)
    recorder = StreamingRecorder(photo)
    with pytest.raises(PhotoSizeMismatch):
        await make_client(recorder).upload(creds, photo, {})
    assert recorder.total <= 2 * MB + 4096, "no more than the declared size went out"


async def test_body_can_be_iterated_again_for_a_retry() -> None:
    body = MultipartBody([("title", "t")], BytesPhoto("a.jpg", b"abc" * 100_000, "image/jpeg"))
    first = b"".join([chunk async for chunk in body])
    second = b"".join([chunk async for chunk in body])
    assert first == second
    assert len(first) == body.content_length


def test_filename_quotes_and_newlines_cannot_break_the_part_header() -> None:
    photo = BytesPhoto('evil".jpg\r\nX-Injected: 1', b"x")
    body = MultipartBody([], photo, boundary="b0undary")
    assert body.content_type == "multipart/form-data; boundary=b0undary"
    head = body._head.decode()
    assert 'filename="evil%22.jpg%0D%0AX-Injected: 1"' in head
    assert "\r\nX-Injected" not in head


def test_content_type_defaults_to_octet_stream() -> None:
    head = MultipartBody([], BytesPhoto("raw.bin", b"x"))._head
    assert b"Content-Type: application/octet-stream\r\n" in head
