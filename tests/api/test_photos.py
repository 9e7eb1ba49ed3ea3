"""Upload and replace: the photo streamed into the blob store, nothing left on refusal."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterable, Iterator
from typing import Any

import pytest
from quart import Quart

from flickrhub_core.memory import MemoryBlobStore
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import BlobInfo, StoredToken
from tests.api.conftest import Client

UPLOAD = "/api/v1/flickr/upload"
REPLACE = "/api/v1/flickr/replace"
LIMIT = 4 * 1024 * 1024
CHUNK = 64 * 1024


class RecordingBlobStore(MemoryBlobStore):
    """The memory store, counting what it was given and showing what it holds."""

    def __init__(self) -> None:
        super().__init__()
        self.puts = 0
        self.chunk_sizes: list[int] = []

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        filename: str,
        content_type: str | None,
        max_bytes: int | None = None,
    ) -> BlobInfo:
        self.puts += 1

        async def recorded() -> Any:
            async for chunk in chunks:
                self.chunk_sizes.append(len(chunk))
                yield chunk

        return await super().put(
            recorded(), filename=filename, content_type=content_type, max_bytes=max_bytes
        )

    @property
    def ids(self) -> list[str]:
        return list(self._blobs)


@pytest.fixture
def rt(make_runtime: Any) -> Runtime:
    runtime: Runtime = make_runtime(max_upload_bytes=LIMIT)
    runtime.backends.blobs = RecordingBlobStore()
    return runtime


@pytest.fixture
def blobs(rt: Runtime) -> RecordingBlobStore:
    assert isinstance(rt.blobs, RecordingBlobStore)
    return rt.blobs


Fields = list[tuple[str, str]]


class Form:
    """A multipart body, built part by part, streamable in chunks."""

    def __init__(self) -> None:
        self.boundary = f"----hub{uuid.uuid4().hex}"
        self.body = bytearray()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def field(self, name: str, value: str) -> Form:
        self.body += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
        return self

    def fields(self, fields: Fields) -> Form:
        for name, value in fields:
            self.field(name, value)
        return self

    def file(self, data: bytes, *, name: str = "photo", filename: str = "cat.jpg") -> Form:
        self.body += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
        ).encode()
        self.body += data + b"\r\n"
        return self

    def end(self) -> bytes:
        return bytes(self.body) + f"--{self.boundary}--\r\n".encode()

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        data = self.end()
        for start in range(0, len(data), size):
            yield data[start : start + size]


async def post_stream(
    app: Quart, path: str, chunks: Iterator[bytes], content_type: str
) -> tuple[int, dict[str, Any]]:
    """POST a body chunk by chunk (chunked: no Content-Length), as a real client streams."""
    import json

    client = app.test_client()
    async with client.request(path, method="POST", headers={"Content-Type": content_type}) as conn:
        for chunk in chunks:
            await conn.send(chunk)
        await conn.send_complete()
    response = await conn.as_response()
    return response.status_code, json.loads(await response.get_data())


async def post_form(app: Quart, path: str, form: Form) -> tuple[int, dict[str, Any]]:
    return await post_stream(app, path, form.chunks(), form.content_type)


def photo(size: int) -> bytes:
    return os.urandom(size)


async def test_upload_streams_the_photo_into_the_blob_store(
    app: Quart, rt: Runtime, blobs: RecordingBlobStore, user: StoredToken
) -> None:
    data = photo(3 * 1024 * 1024 + 17)
    form = Form().fields([("user_id", "user-1"), ("title", "Cat"), ("is_public", "1")])
    status, body = await post_form(app, UPLOAD, form.file(data))
    assert status == 202, body
    job = await rt.jobs.get(body["data"]["job_id"])
    assert job is not None
    assert job.target == "upload"
    assert job.method is None
    assert job.params == {"title": "Cat", "is_public": "1"}
    assert job.blob_id is not None
    info = await rt.blobs.stat(job.blob_id)
    assert info is not None
    assert info.size == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.filename == "cat.jpg"
    assert info.content_type == "image/jpeg"
    assert max(blobs.chunk_sizes) < len(data)  # streamed, not read whole
    assert body["data"]["queue"] == "flickr_upload"


async def test_fields_may_follow_the_photo(app: Quart, rt: Runtime, user: StoredToken) -> None:
    form = Form().file(photo(1000)).fields([("title", "After"), ("user_id", "user-1")])
    status, body = await post_form(app, UPLOAD, form)
    assert status == 202, body
    job = await rt.jobs.get(body["data"]["job_id"])
    assert job is not None and job.params == {"title": "After"}


async def test_an_invalid_field_is_a_400_and_leaves_no_blob(
    app: Quart, blobs: RecordingBlobStore, user: StoredToken
) -> None:
    form = Form().fields([("user_id", "user-1"), ("is_public", "7")]).file(photo(5000))
    status, body = await post_form(app, UPLOAD, form)
    assert status == 400
    assert body["error"]["fields"][0]["field"] == "is_public"
    assert blobs.puts == 1
    assert blobs.ids == []


async def test_an_unknown_field_is_a_400(
    app: Quart, blobs: RecordingBlobStore, user: StoredToken
) -> None:
    form = Form().fields([("user_id", "user-1"), ("method", "flickr.x")]).file(photo(10))
    status, body = await post_form(app, UPLOAD, form)
    assert status == 400
    assert body["error"]["fields"][0]["field"] == "method"
    assert blobs.ids == []


async def test_unknown_user_after_the_photo_is_a_404_and_leaves_no_blob(
    app: Quart, blobs: RecordingBlobStore
) -> None:
    form = Form().file(photo(5000)).field("user_id", "nobody")
    status, body = await post_form(app, UPLOAD, form)
    assert status == 404
    assert body["error"]["code"] == "ERR_TOKEN_NOT_FOUND"
    assert blobs.ids == []


@pytest.mark.parametrize("user_first", [True, False])
async def test_an_upload_checks_the_account_without_reading_its_token(
    app: Quart, sealed_user: StoredToken, user_first: bool
) -> None:
    form = Form().field("user_id", "user-1").file(photo(100))
    if not user_first:
        form = Form().file(photo(100)).field("user_id", "user-1")
    status, body = await post_form(app, UPLOAD, form)
    assert status == 202, body


async def test_unknown_user_before_the_photo_stores_nothing(
    app: Quart, blobs: RecordingBlobStore
) -> None:
    form = Form().field("user_id", "nobody").file(photo(5000))
    status, _ = await post_form(app, UPLOAD, form)
    assert status == 404
    assert blobs.puts == 0


async def test_a_photo_over_the_limit_is_a_413_and_leaves_no_blob(
    app: Quart, blobs: RecordingBlobStore, user: StoredToken
) -> None:
    form = Form().field("user_id", "user-1").file(photo(LIMIT + 1))
    status, body = await post_form(app, UPLOAD, form)
    assert status == 413
    assert body["error"]["code"] == "ERR_PAYLOAD_TOO_LARGE"
    assert body["error"]["details"] == {"max_bytes": LIMIT}
    assert blobs.ids == []


async def test_a_body_over_the_limit_is_a_413_before_any_parsing(
    app: Quart, blobs: RecordingBlobStore
) -> None:
    client = app.test_client()
    form = Form().field("user_id", "user-1")
    response = await client.post(
        UPLOAD,
        data=b"x" * (LIMIT + 2 * 1024 * 1024),
        headers={"Content-Type": form.content_type},
    )
    assert response.status_code == 413
    assert blobs.puts == 0


async def test_a_missing_photo_is_a_400(app: Quart, user: StoredToken) -> None:
    status, body = await post_form(app, UPLOAD, Form().field("user_id", "user-1"))
    assert status == 400
    assert body["error"]["fields"][0]["field"] == "photo"


async def test_an_empty_photo_is_a_400_and_leaves_no_blob(
    app: Quart, blobs: RecordingBlobStore, user: StoredToken
) -> None:
    status, body = await post_form(app, UPLOAD, Form().field("user_id", "user-1").file(b""))
    assert status == 400
    assert body["error"]["fields"][0]["message"] == "the photo is empty"
    assert blobs.ids == []


async def test_a_missing_user_id_is_a_400_and_leaves_no_blob(
    app: Quart, blobs: RecordingBlobStore
) -> None:
    status, body = await post_form(app, UPLOAD, Form().file(photo(100)))
    assert status == 400
    assert body["error"]["fields"][0]["field"] == "user_id"
    assert blobs.ids == []


async def test_two_photos_are_refused(
    app: Quart, blobs: RecordingBlobStore, user: StoredToken
) -> None:
    form = Form().field("user_id", "user-1").file(photo(10)).file(photo(10))
    status, _ = await post_form(app, UPLOAD, form)
    assert status == 400
    assert blobs.ids == []


async def test_a_file_under_another_name_is_refused(
    app: Quart, blobs: RecordingBlobStore, user: StoredToken
) -> None:
    form = Form().field("user_id", "user-1").file(photo(10), name="image")
    status, body = await post_form(app, UPLOAD, form)
    assert status == 400
    assert body["error"]["fields"][0]["field"] == "image"


async def test_a_json_body_is_a_415(client: Client, user: StoredToken) -> None:
    response = await client.post(UPLOAD, json={"user_id": "user-1"})
    assert response.status_code == 415
    assert (await response.get_json())["error"]["code"] == "ERR_UNSUPPORTED_MEDIA_TYPE"


async def test_a_truncated_body_is_a_400_and_leaves_no_blob(
    app: Quart, blobs: RecordingBlobStore, user: StoredToken
) -> None:
    form = Form().field("user_id", "user-1").file(photo(200_000))
    truncated = form.end()[:150_000]
    status, body = await post_stream(app, UPLOAD, iter([truncated]), form.content_type)
    assert status == 400
    assert "malformed multipart" in body["error"]["fields"][0]["message"]
    assert blobs.ids == []


async def test_a_traversal_filename_is_sanitised(
    app: Quart, rt: Runtime, user: StoredToken
) -> None:
    form = Form().field("user_id", "user-1").file(photo(10), filename="../../etc/pass\x01wd.jpg")
    status, body = await post_form(app, UPLOAD, form)
    assert status == 202, body
    job = await rt.jobs.get(body["data"]["job_id"])
    assert job is not None and job.blob_id is not None
    info = await rt.blobs.stat(job.blob_id)
    assert info is not None and info.filename == "passwd.jpg"


async def test_replace_requires_photo_id(
    app: Quart, blobs: RecordingBlobStore, user: StoredToken
) -> None:
    status, body = await post_form(app, REPLACE, Form().field("user_id", "user-1").file(photo(10)))
    assert status == 400
    assert body["error"]["fields"] == [{"field": "photo_id", "message": "photo_id is required"}]
    assert blobs.ids == []


async def test_replace_enqueues_a_replace_job(app: Quart, rt: Runtime, user: StoredToken) -> None:
    form = Form().fields([("user_id", "user-1"), ("photo_id", "5301")]).file(photo(100))
    status, body = await post_form(app, REPLACE, form)
    assert status == 202, body
    assert body["data"]["queue"] == "flickr_replace"
    job = await rt.jobs.get(body["data"]["job_id"])
    assert job is not None
    assert job.target == "replace"
    assert job.params == {"photo_id": "5301"}


async def test_upload_carries_callback_url_and_meta(
    app: Quart, rt: Runtime, user: StoredToken
) -> None:
    form = Form().fields(
        [("user_id", "user-1"), ("callback_url", "https://x.test/cb"), ("meta", '{"a": 1}')]
    )
    status, body = await post_form(app, UPLOAD, form.file(photo(10)))
    assert status == 202, body
    job = await rt.jobs.get(body["data"]["job_id"])
    assert job is not None
    assert (job.callback_url, job.meta, job.params) == ("https://x.test/cb", {"a": 1}, {})


async def test_an_idempotent_replay_keeps_only_the_first_photo(
    app: Quart, blobs: RecordingBlobStore, user: StoredToken
) -> None:
    client = app.test_client()
    form = Form().field("user_id", "user-1").file(photo(1000))
    headers = {"Content-Type": form.content_type, "Idempotency-Key": "upload-1"}
    first = await client.post(UPLOAD, data=form.end(), headers=headers)
    again = await client.post(UPLOAD, data=form.end(), headers=headers)
    assert first.status_code == again.status_code == 202
    first_id = (await first.get_json())["data"]["job_id"]
    assert (await again.get_json())["data"]["job_id"] == first_id
    assert blobs.puts == 2
    assert len(blobs.ids) == 1


async def test_cancelling_a_queued_upload_drops_its_photo(
    app: Quart, blobs: RecordingBlobStore, user: StoredToken
) -> None:
    status, body = await post_form(app, UPLOAD, Form().field("user_id", "user-1").file(b"x"))
    assert status == 202
    response = await app.test_client().post(f"/api/v1/flickr/jobs/{body['data']['job_id']}/cancel")
    assert response.status_code == 200
    assert blobs.ids == []


async def test_a_client_leaving_mid_request_leaves_no_blob(
    app: Quart, blobs: RecordingBlobStore, user: StoredToken
) -> None:
    import asyncio

    form = Form().field("user_id", "user-1").file(photo(50_000))
    partial = form.end()[: -len(f"--{form.boundary}--\r\n")] + f"--{form.boundary}\r\n".encode()
    client = app.test_client()
    async with client.request(
        UPLOAD, method="POST", headers={"Content-Type": form.content_type}
    ) as conn:
        await conn.send(partial)
        for _ in range(100):
            if blobs.ids:
                break
            await asyncio.sleep(0.01)
        assert blobs.ids  # the photo was stored ...
        await conn.disconnect()
    assert blobs.ids == []  # ... and dropped when the client went away


async def test_a_broker_that_refuses_the_upload_leaves_no_blob(
    app: Quart, rt: Runtime, blobs: RecordingBlobStore, user: StoredToken
) -> None:
    async def refuse(queue: str, body: bytes) -> None:
        raise ConnectionError("broker down")

    rt.broker.publish = refuse  # type: ignore[method-assign]
    status, _ = await post_form(app, UPLOAD, Form().field("user_id", "user-1").file(b"x"))
    assert status == 503
    assert blobs.ids == []
