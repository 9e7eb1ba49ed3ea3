"""The client commands against a scripted API (httpx MockTransport): what they send,
what they print, and their exit status. The real API is exercised in test_e2e."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flickrhub_core.cli import client_cmds
from flickrhub_core.cli.client import ApiClient
from tests.cli.conftest import Invoke

API = "http://flickrhub.test"


def envelope(
    data: Any = None, error: dict[str, Any] | None = None, status: int = 200
) -> httpx.Response:
    return httpx.Response(status, json={"request_id": "req-1", "data": data, "error": error})


def job(state: str, attempts: int = 1, **extra: Any) -> dict[str, Any]:
    return {"job_id": "job-1", "state": state, "attempts": attempts, "max_attempts": 3, **extra}


class FakeApi:
    """Answers like the API; ``states`` are the successive job records a poll returns."""

    def __init__(self, states: list[dict[str, Any]] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.states: Iterator[dict[str, Any]] = iter(states or [job("completed")])
        self.last: dict[str, Any] | None = None
        self.mode = "oob"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/api/v1/flickr/rest" and json.loads(request.content)["method"] == "bad":
            error = {
                "code": "ERR_INVALID_REQUEST",
                "message": "Invalid request",
                "details": ["method: must be a Flickr method", "userId is required"],
                "fields": [{"field": "method", "message": "must be a Flickr method"}],
            }
            return envelope(error=error, status=400)
        if path == "/api/v1/flickr/rest":
            return envelope({"job_id": "job-1"}, status=202)
        if path in ("/api/v1/flickr/upload", "/api/v1/flickr/replace"):
            return envelope({"job_id": "job-1"}, status=202)
        if path == "/api/v1/flickr/jobs/job-1":
            self.last = next(self.states, self.last)
            return envelope(self.last)
        if path == "/api/v1/auth/start":
            return envelope(
                {
                    "authorize_url": "http://sandbox.test/services/oauth/authorize?oauth_token=rt&perms=write",
                    "oauth_token": "rt",
                    "state": "st",
                    "mode": self.mode,
                }
            )
        if path == "/api/v1/auth/complete":
            body = json.loads(request.content)
            if body != {"oauth_token": "rt", "oauth_verifier": "123-456", "state": "st"}:
                return envelope(error={"code": "ERR_INVALID_STATE", "message": "bad"}, status=400)
            return envelope({"user_id": "u-1", "user_nsid": "1@N00", "username": "ann"})
        return envelope(error={"code": "ERR_NOT_FOUND", "message": "no route"}, status=404)

    def json_of(self, index: int) -> Any:
        return json.loads(self.requests[index].content)


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeApi]:
    def install(states: list[dict[str, Any]] | None = None) -> FakeApi:
        api = FakeApi(states)

        def client(api_url: str | None, client_key: str | None) -> ApiClient:
            assert api_url == API
            return ApiClient(api_url, api_key=client_key, transport=httpx.MockTransport(api))

        monkeypatch.setattr(client_cmds, "_client", client)
        return api

    return install


def test_call_without_wait_prints_the_job_id(
    invoke: Invoke, fake_api: Callable[..., FakeApi]
) -> None:
    api = fake_api()
    result = invoke("call", "flickr.test.echo", "foo=bar", "n=3", "--user", "u-1", "--api", API)
    assert result.exit_code == 0, result.output
    assert result.stdout == "job-1\n"
    assert api.json_of(0) == {
        "method": "flickr.test.echo",
        "params": {"foo": "bar", "n": "3"},
        "user_id": "u-1",
        "target": "rest",
    }


def test_call_wait_shows_each_state_and_prints_the_result(
    invoke: Invoke, fake_api: Callable[..., FakeApi]
) -> None:
    states = [
        job("queued", 0),
        job("running", 1),
        job("retrying", 1, error={"code": "ERR_FLICKR_HTTP", "message": "HTTP 502"}),
        job("running", 2),
        job("completed", 2, result={"stat": "ok", "foo": {"_content": "bar"}}),
    ]
    api = fake_api(states)
    result = invoke(
        "call", "flickr.test.echo", "foo=bar", "--user", "u-1", "--api", API, "--wait", "--no-cache"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"stat": "ok", "foo": {"_content": "bar"}}
    assert result.stderr.splitlines() == [
        "job job-1: queued",
        "job job-1: running (attempt 1/3)",
        "job job-1: retrying (attempt 1/3): HTTP 502",
        "job job-1: running (attempt 2/3)",
        "job job-1: completed",
    ]
    assert api.json_of(0)["cache"] is False
    assert api.requests[1].url.params["wait"] == "2"
    assert api.requests[1].url.params["user_id"] == "u-1"


def test_call_wait_on_a_failed_job_exits_1_with_the_error(
    invoke: Invoke, fake_api: Callable[..., FakeApi]
) -> None:
    failed = job("failed", 1, error={"code": "ERR_FLICKR_API", "message": "Photo not found"})
    fake_api([failed])
    result = invoke(
        "call", "flickr.photos.getInfo", "photo_id=1", "--user", "u", "--api", API, "--wait"
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "ERR_FLICKR_API: Photo not found" in result.stderr


def test_api_errors_are_one_line(invoke: Invoke, fake_api: Callable[..., FakeApi]) -> None:
    fake_api()
    result = invoke("status", "nope", "--api", API)
    assert result.exit_code == 2
    assert result.stderr == "flickrhub: error: ERR_NOT_FOUND: no route\n"


def test_a_refused_request_prints_every_problem(
    invoke: Invoke, fake_api: Callable[..., FakeApi]
) -> None:
    fake_api()
    result = invoke("call", "bad", "--user", "u-1", "--api", API)
    assert result.exit_code == 2
    assert result.stderr == (
        "flickrhub: error: ERR_INVALID_REQUEST: Invalid request "
        "(method: must be a Flickr method; userId is required)\n"
    )


def test_param_without_equals_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("call", "flickr.test.echo", "foo", "--user", "u", "--api", API)
    assert result.exit_code == 2
    assert "'foo' is not key=value" in result.stderr


def test_unreachable_api_is_one_line(invoke: Invoke) -> None:
    result = invoke("status", "job-1", "--api", "http://127.0.0.1:9")
    assert result.exit_code == 2
    assert result.stderr.startswith("flickrhub: error: cannot reach http://127.0.0.1:9/")
    assert len(result.stderr.splitlines()) == 1


def test_auth_prints_url_reads_verifier_and_prints_user_id(
    invoke: Invoke, fake_api: Callable[..., FakeApi]
) -> None:
    fake_api()
    result = invoke("auth", "--api", API, input="123-456\n")
    assert result.exit_code == 0, result.output
    assert "oauth/authorize?oauth_token=rt" in result.stderr
    assert "Paste the verifier code" in result.stderr
    assert "ann" in result.stderr
    assert result.stdout == "u-1\n"


def test_auth_in_callback_mode_prints_the_url_without_prompting(
    invoke: Invoke, fake_api: Callable[..., FakeApi]
) -> None:
    fake_api().mode = "callback"
    result = invoke("auth", "--api", API)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("http://sandbox.test/services/oauth/authorize?oauth_token=rt")
    assert "Paste" not in result.stderr


def multipart_fields(request: httpx.Request) -> dict[str, bytes]:
    boundary = re.search(r"boundary=(\S+)", request.headers["content-type"]).group(1)  # type: ignore[union-attr]
    fields = {}
    for part in request.content.split(f"--{boundary}".encode())[1:-1]:
        head, _, body = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]+)"', head).group(1).decode()  # type: ignore[union-attr]
        fields[name] = body[:-2]  # the CRLF before the next boundary
    return fields


def test_upload_streams_the_file_as_multipart(
    invoke: Invoke, fake_api: Callable[..., FakeApi], tmp_path: Path
) -> None:
    api = fake_api([job("completed", 1, result={"photoid": "42"})])
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 2000)
    result = invoke(
        "upload",
        str(photo),
        "--user",
        "u-1",
        "--title",
        "A cat",
        "--tags",
        "cat pet",
        "--private",
        "--api",
        API,
        "--wait",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"photoid": "42"}
    assert "Uploading cat.jpg" in result.stderr
    request = api.requests[0]
    assert request.url.path == "/api/v1/flickr/upload"
    assert int(request.headers["content-length"]) == len(request.content)
    fields = multipart_fields(request)
    assert fields == {
        "user_id": b"u-1",
        "title": b"A cat",
        "tags": b"cat pet",
        "is_public": b"0",
        "photo": photo.read_bytes(),
    }
    assert b'filename="cat.jpg"\r\nContent-Type: image/jpeg' in request.content


def test_replace_sends_the_photo_id(
    invoke: Invoke, fake_api: Callable[..., FakeApi], tmp_path: Path
) -> None:
    api = fake_api()
    photo = tmp_path / "new.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    result = invoke("replace", str(photo), "--user", "u-1", "--photo-id", "42", "--api", API)
    assert result.exit_code == 0, result.output
    assert result.stdout == "job-1\n"
    fields = multipart_fields(api.requests[0])
    assert api.requests[0].url.path == "/api/v1/flickr/replace"
    assert fields["photo_id"] == b"42"
    assert fields["photo"] == photo.read_bytes()


def test_status_wait_times_out_in_one_line(
    invoke: Invoke, fake_api: Callable[..., FakeApi]
) -> None:
    fake_api([job("running", 1)])
    result = invoke("status", "job-1", "--api", API, "--wait", "--timeout", "0.3")
    assert result.exit_code == 2
    assert "job job-1 still running after 0.3 s" in result.stderr
