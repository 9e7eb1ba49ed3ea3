"""Hostile input against the real ``flickrhub run``: a file that is not an image, and
request lines and headers past the HTTP server's limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Running, start_flickrhub, stop_flickrhub
from tests.e2e.helpers import connect_account, outcome
from tests.helpers import raw_http

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("hostile")
    running = start_flickrhub(tmp, tmp / "data")
    try:
        yield running
    finally:
        stop_flickrhub(running)


@pytest.fixture(scope="module")
def user(hub: Running) -> str:
    return connect_account(hub.api)


def blobs(hub: Running) -> list[Path]:
    root = hub.data_dir / "blobs"
    return sorted(root.iterdir()) if root.exists() else []


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("notes.txt", b"just some text, not a photo\n", "text/plain"),
        ("evil.jpg", b"<?php system($_GET['c']); ?>", "image/jpeg"),
        ("empty-ish.png", b"\x89PNG", "image/png"),
    ],
    ids=["text", "php named jpg", "truncated png"],
)
def test_a_file_flickr_does_not_recognise_fails_its_job_and_leaves_no_bytes(
    hub: Running, user: str, name: str, content: bytes, content_type: str
) -> None:
    """The API does not sniff (Flickr takes videos and more than the sandbox knows):
    the upload is accepted, Flickr refuses it (code 5), the job fails at once without
    a retry, and its bytes are deleted."""
    response = httpx.post(
        f"{hub.api}/api/v1/flickr/upload",
        data={"user_id": user},
        files={"photo": (name, content, content_type)},
    )
    assert response.status_code == 202, response.text
    job = outcome(hub.api, response.json()["data"]["job_id"], user)
    assert job["state"] == "failed"
    assert job["attempts"] == 1
    assert job["error"]["code"] == "ERR_FLICKR_API"
    assert job["error"]["flickr_code"] == 5
    assert job["error"]["retryable"] is False
    assert not job["dead_lettered"]
    assert blobs(hub) == []


@pytest.mark.parametrize(
    "head",
    [
        b"GET /api/v1/flickr/jobs?user_id=" + b"x" * 1_000_000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /api/v1/flickr/jobs?"
        + b"&".join(b"k%d=v" % i for i in range(10_000))
        + b" HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * 200_000 + b"\r\n\r\n",
    ],
    ids=["a 1 MB query value", "10 000 query parameters", "a 200 KB header"],
)
def test_a_request_head_past_the_servers_limit_is_a_431(hub: Running, head: bytes) -> None:
    """Refused by the HTTP server before the API sees it (no envelope: nothing ran)."""
    answer = raw_http(hub.api, head)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert httpx.get(f"{hub.api}/healthz").status_code == 200
