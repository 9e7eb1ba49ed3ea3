"""Hostile uploads: path traversal in file names, oversized photos, bodies that are not
a form. A photo is stored under ``data/blobs`` by id (never by its name), a refused
upload leaves no bytes and no job, and nothing is ever written outside that directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from quart import Quart

from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import StoredToken
from tests.hostile.conftest import (
    ALICE,
    MAX_UPLOAD,
    UPLOAD,
    Client,
    Form,
    Untouched,
    blob_files,
    fields_of,
    post_form,
    send,
    snapshot,
)

PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8

TRAVERSALS = {
    "dot-dot slash": (b"../../etc/passwd", "passwd"),
    # A backslash in a quoted header value escapes the next character (RFC 9110):
    # the parser drops it, leaving no separator at all.
    "dot-dot backslash": (b"..\\..\\windows\\win.ini", "windowswin.ini"),
    "absolute path": (b"/etc/cron.d/evil", "evil"),
    "windows drive": (b"C:\\Windows\\evil.jpg", "C:Windowsevil.jpg"),
    "escaped backslashes": (b"..\\\\..\\\\win.ini", "win.ini"),
    "NUL in the name": (b"cat.jpg\x00.sh", "cat.jpg.sh"),
    "only dots": (b"..", "photo"),
    "percent-encoded": (b"..%2F..%2Fetc%2Fpasswd", "%2F..%2Fetc%2Fpasswd"),
    "RTL override": ("gpj.\u202eexe.jpg".encode(), "gpj.exe.jpg"),
    "home": (b"~/.ssh/authorized_keys", "authorized_keys"),
    "very long": (b"a" * 1000 + b".jpg", "a" * 251 + ".jpg"),
}


def files_under(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


@pytest.mark.parametrize(("raw", "kept"), TRAVERSALS.values(), ids=list(TRAVERSALS))
async def test_a_file_name_is_only_a_label(
    app: Quart,
    rt: Runtime,
    user: StoredToken,
    tmp_path: Path,
    blob_dir: Path,
    raw: bytes,
    kept: str,
) -> None:
    before = files_under(tmp_path)
    form = Form().field("user_id", "alice-user").file(PHOTO, filename=raw)
    status, envelope = await post_form(app, form)
    assert status == 202, envelope
    job = await rt.jobs.get(envelope["data"]["job_id"])
    assert job is not None and job.blob_id is not None
    info = await rt.blobs.stat(job.blob_id)
    assert info is not None
    assert info.filename == kept
    assert not any(ch in info.filename for ch in "/\\\x00") and not info.filename.startswith(".")
    # The only new files are the photo and its metadata, named by the blob's id.
    new = files_under(tmp_path) - before
    assert {path.parent for path in new} == {blob_dir}
    assert {path.name for path in new} == {job.blob_id, f"{job.blob_id}.json"}
    assert [chunk async for chunk in rt.blobs.open(job.blob_id)] == [PHOTO]


async def test_traversal_in_a_path_parameter_is_a_404(client: Client, untouched: Untouched) -> None:
    for path in (
        "/api/v1/flickr/jobs/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/flickr/jobs/%2e%2e",
        "/api/v1/accounts/..%5C..%5Cwin.ini",
        "/api/v1/flickr/batches/%2Fetc%2Fpasswd",
    ):
        response = await client.get(path, headers=ALICE)
        assert response.status_code == 404, path
    await untouched.check()


@pytest.mark.parametrize("user_first", [True, False], ids=["user_id first", "photo first"])
async def test_an_oversized_photo_is_a_413_and_leaves_nothing(
    app: Quart, untouched: Untouched, blob_dir: Path, user_first: bool
) -> None:
    big = PHOTO + b"x" * MAX_UPLOAD
    form = Form()
    if user_first:
        form.field("user_id", "alice-user").file(big)
    else:
        form.file(big).field("user_id", "alice-user")
    status, envelope = await post_form(app, form)
    assert status == 413
    assert envelope["error"]["code"] == "ERR_PAYLOAD_TOO_LARGE"
    assert blob_files(blob_dir) == []  # no photo, no temp file
    await untouched.check()


async def test_a_body_far_over_the_limit_is_a_413_before_it_is_read(
    client: Client, untouched: Untouched, blob_dir: Path
) -> None:
    form = Form().field("user_id", "alice-user").file(b"x" * (3 * 1024 * 1024))
    status, envelope = await send(client, UPLOAD, form.end(), content_type=form.content_type)
    assert status == 413
    assert envelope["error"]["code"] == "ERR_PAYLOAD_TOO_LARGE"
    assert blob_files(blob_dir) == []
    await untouched.check()


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"user_id": "alice-user"}', "application/json", 415),
        (b"user_id=alice-user", "application/x-www-form-urlencoded", 415),
        (b"photo bytes", "image/jpeg", 415),
        (b"--B\r\nnot a part\r\n", "multipart/form-data; boundary=B", 400),
        (b"", "multipart/form-data", 400),
        (
            b'--B\r\nContent-Disposition: form-data; name="photo"; filename="a"\r\n\r\nxx',
            "multipart/form-data; boundary=B",
            400,
        ),
    ],
    ids=["json", "urlencoded", "raw image", "garbage parts", "no boundary", "truncated"],
)
async def test_a_body_that_is_not_a_complete_form_is_refused(
    client: Client,
    untouched: Untouched,
    blob_dir: Path,
    body: bytes,
    content_type: str,
    status: int,
) -> None:
    answered, envelope = await send(client, UPLOAD, body, content_type=content_type)
    assert answered == status, envelope
    assert blob_files(blob_dir) == []
    await untouched.check()


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ([("user_id", "nobody")], "ERR_TOKEN_NOT_FOUND"),
        ([("user_id", "alice-user"), ("is_public", "7")], "is_public"),
        ([("user_id", "alice-user"), ("no_such_field", "1")], "no_such_field"),
        ([("user_id", "alice-user"), ("user_id", "alice-user")], "user_id"),
        ([("user_id", "alice-user"), ("meta", "[1]")], "meta"),
        ([("user_id", "alice-user"), ("callback_url", "file:///etc/passwd")], "callback_url"),
    ],
    ids=["unknown user", "bad choice", "unknown field", "repeated field", "bad meta", "file url"],
)
async def test_a_refused_upload_deletes_the_photo_it_stored(
    app: Quart, untouched: Untouched, blob_dir: Path, fields: list[tuple[str, str]], problem: str
) -> None:
    form = Form().file(PHOTO)  # the photo first: it is stored before the fields are read
    for name, value in fields:
        form.field(name, value)
    status, envelope = await post_form(app, form)
    assert status in (400, 404)
    assert problem in (envelope["error"]["code"], *fields_of(envelope))
    assert blob_files(blob_dir) == []
    await untouched.check()


async def test_a_replayed_upload_keeps_one_photo(
    app: Quart, rt: Runtime, user: StoredToken, tmp_path: Path, blob_dir: Path
) -> None:
    headers = {**ALICE, "Idempotency-Key": "upload-once"}
    form = Form().field("user_id", "alice-user").file(PHOTO)
    first = await post_form(app, form, headers=headers)
    after_first = await snapshot(rt, tmp_path)
    second = await post_form(
        app, Form().field("user_id", "alice-user").file(PHOTO), headers=headers
    )
    assert (first[0], second[0]) == (202, 202)
    assert second[1]["data"]["idempotent_replay"] is True
    assert await snapshot(rt, tmp_path) == after_first  # the second photo was dropped
