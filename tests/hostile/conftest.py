"""Fixtures for hostile-input tests: the API over file-backed stores (the ``local``
plugin: tokens in SQLite, photos as files under ``data/blobs``), two API clients,
and a snapshot of everything a request could leave behind."""

from __future__ import annotations

import json
import secrets
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from quart import Quart
from quart.typing import TestClientProtocol

import flickrhub_local
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import JobQuery, StoredToken

ALICE_KEY = "alice-key-0123456789abcdef"
BOB_KEY = "bob-key-0123456789abcdef"
ALICE = {"X-API-Key": ALICE_KEY}
BOB = {"X-API-Key": BOB_KEY}
OWNERS = ("alice", "bob")
#: Photos larger than this are refused (413).
MAX_UPLOAD = 64 * 1024
REST = "/api/v1/flickr/rest"
UPLOAD = "/api/v1/flickr/upload"
Client = TestClientProtocol


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"  # the shared settings fixture's FLICKRHUB_DATA_DIR


@pytest.fixture
def blob_dir(data_dir: Path) -> Path:
    return data_dir / flickrhub_local.BLOB_DIR


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime(
        ("local", flickrhub_local),
        api_keys=SecretStr(f"alice={ALICE_KEY},bob={BOB_KEY}"),
        max_upload_bytes=MAX_UPLOAD,
        client_rate_limit_per_minute=0,
    )


@pytest.fixture
async def app(rt: Runtime) -> AsyncIterator[Quart]:
    from flickrhub_api import create_app

    app = create_app(rt)
    async with app.test_app():
        yield app


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()


async def connect(rt: Runtime, user_id: str, owner: str = "alice") -> StoredToken:
    token = StoredToken(
        user_id=user_id,
        owner=owner,
        consumer_key="key",
        consumer_secret="secret",
        token=f"access-{user_id}",
        token_secret="access-secret",
        user_nsid=f"{zlib.crc32(user_id.encode())}@N01",
        username=user_id,
    )
    await rt.tokens.put(token)
    return token


@pytest.fixture
async def user(rt: Runtime, app: Quart) -> StoredToken:
    """A connected Flickr account of the client ``alice``."""
    return await connect(rt, "alice-user")


# --- what a request leaves behind -------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Every job (and its state), every stored account, every file under the test's
    directory (photos are files under ``data/blobs``)."""

    jobs: frozenset[tuple[str, str, str]]
    tokens: frozenset[tuple[str, str]]
    files: frozenset[str]


async def snapshot(rt: Runtime, root: Path) -> Snapshot:
    jobs = set()
    tokens = set()
    for owner in OWNERS:
        for job in await rt.jobs.list(JobQuery(owner=owner, limit=10_000)):
            jobs.add((owner, job.id, job.state.value))
        tokens |= {(owner, token.user_id) for token in await rt.tokens.list(owner)}
    return Snapshot(frozenset(jobs), frozenset(tokens), frozenset(files_in(root)))


def files_in(root: Path) -> set[str]:
    """The files under ``root`` (SQLite's journal files come and go: left out)."""
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and not path.name.endswith(("-wal", "-shm", "-journal"))
    }


def blob_files(blob_dir: Path) -> list[str]:
    """What the blob directory holds: photos, their metadata, temp files."""
    return sorted(path.name for path in blob_dir.iterdir()) if blob_dir.exists() else []


@dataclass
class Untouched:
    """``await untouched.check()`` asserts nothing changed since the fixture was made."""

    rt: Runtime
    root: Path
    before: Snapshot | None = None

    async def take(self) -> None:
        self.before = await snapshot(self.rt, self.root)

    async def check(self) -> None:
        assert self.before is not None
        after = await snapshot(self.rt, self.root)
        assert after.jobs == self.before.jobs, "a job was created or changed"
        assert after.tokens == self.before.tokens, "an account was created or removed"
        assert after.files == self.before.files, "a file was written or removed"


@pytest.fixture
async def untouched(rt: Runtime, app: Quart, user: StoredToken, tmp_path: Path) -> Untouched:
    """The state after the app started and ``alice`` connected one account."""
    state = Untouched(rt, tmp_path)
    await state.take()
    return state


# --- requests ---------------------------------------------------------------------------


async def send(
    client: Client,
    path: str,
    body: bytes | str,
    *,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
    method: str = "POST",
) -> tuple[int, dict[str, Any]]:
    """Send ``body`` as is; the answer must be a JSON envelope."""
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    response = await client.open(
        path,
        method=method,
        data=data,
        headers={"Content-Type": content_type, **(headers if headers is not None else ALICE)},
    )
    assert response.mimetype == "application/json", response.mimetype
    envelope: dict[str, Any] = json.loads(await response.get_data())
    assert set(envelope) == {"request_id", "data", "error"}
    return response.status_code, envelope


def fields_of(envelope: dict[str, Any]) -> list[str]:
    """The fields an error's ``fields`` name."""
    fields = envelope["error"].get("fields")
    return [item["field"] for item in fields] if isinstance(fields, list) else []


@dataclass
class Form:
    """A ``multipart/form-data`` body built by hand (any filename, any bytes)."""

    boundary: str = field(default_factory=lambda: secrets.token_hex(12))
    body: bytearray = field(default_factory=bytearray)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def field(self, name: str, value: str) -> Form:
        self.body += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        ).encode()
        self.body += value.encode() + b"\r\n"
        return self

    def file(self, data: bytes, *, filename: bytes | str = b"cat.jpg") -> Form:
        raw = filename.encode() if isinstance(filename, str) else filename
        self.body += f'--{self.boundary}\r\nContent-Disposition: form-data; name="photo"; '.encode()
        self.body += b'filename="' + raw + b'"\r\nContent-Type: image/jpeg\r\n\r\n' + data + b"\r\n"
        return self

    def end(self) -> bytes:
        return bytes(self.body) + f"--{self.boundary}--\r\n".encode()

    def chunks(self, size: int = 16 * 1024) -> Iterator[bytes]:
        data = self.end()
        for start in range(0, len(data), size):
            yield data[start : start + size]


async def post_form(
    app: Quart, form: Form, *, path: str = UPLOAD, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """Stream ``form`` chunk by chunk, without a Content-Length, as a real client may."""
    client = app.test_client()
    request_headers = {"Content-Type": form.content_type, **(headers or ALICE)}
    async with client.request(path, method="POST", headers=request_headers) as connection:
        for chunk in form.chunks():
            await connection.send(chunk)
        await connection.send_complete()
    response = await connection.as_response()
    envelope: dict[str, Any] = json.loads(await response.get_data())
    return response.status_code, envelope
