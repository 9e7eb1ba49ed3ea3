"""``/sandbox/calls``: how often each call reached the sandbox, for exactly-once checks."""

from __future__ import annotations

from typing import Any

import httpx
from sandbox_helpers import PNG_1X1, Credentials, rest, signed_multipart

from flickrhub_core.sandbox.calls import CallLog
from flickrhub_core.sandbox.testing import SandboxServer


def calls(http: httpx.Client, sandbox: SandboxServer, **params: str) -> Any:
    response = http.get(f"{sandbox.base_url}/sandbox/calls", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_counts_start_at_zero(sandbox: SandboxServer, http: httpx.Client) -> None:
    assert calls(http, sandbox) == {"total": 0, "methods": {}}
    assert calls(http, sandbox, method="flickr.test.echo") == {
        "method": "flickr.test.echo",
        "count": 0,
    }


def test_rest_calls_are_counted_per_method_and_value(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    for n in ("1", "2", "2"):
        rest(http, writer, sandbox.base_url, "flickr.test.echo", n=n)
    rest(http, writer, sandbox.base_url, "flickr.test.login")
    assert calls(http, sandbox) == {
        "total": 4,
        "methods": {"flickr.test.echo": 3, "flickr.test.login": 1},
    }
    assert calls(http, sandbox, method="flickr.test.echo", param="n") == {
        "method": "flickr.test.echo",
        "count": 3,
        "param": "n",
        "values": {"1": 1, "2": 2},
    }


def test_faulted_calls_count_too(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    http.post(
        f"{sandbox.base_url}/sandbox/faults",
        json={"error_rate_105": 1.0, "methods": ["flickr.test.echo"], "count": 1},
    ).raise_for_status()
    assert rest(http, writer, sandbox.base_url, "flickr.test.echo", n="x")["stat"] == "fail"
    assert rest(http, writer, sandbox.base_url, "flickr.test.echo", n="x")["stat"] == "ok"
    assert calls(http, sandbox, method="flickr.test.echo", param="n")["values"] == {"x": 2}


def test_uploads_are_counted_without_the_photo_or_oauth_fields(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    response = signed_multipart(http, writer, sandbox.upload_url, {"title": "t1"}, PNG_1X1)
    assert "<photoid>" in response.text
    assert calls(http, sandbox, method="upload", param="title")["values"] == {"t1": 1}
    assert calls(http, sandbox, method="upload", param="oauth_token")["values"] == {}


def test_delete_and_reset_clear_the_counts(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    rest(http, writer, sandbox.base_url, "flickr.test.echo")
    assert http.delete(f"{sandbox.base_url}/sandbox/calls").json() == {"cleared": True}
    assert calls(http, sandbox)["total"] == 0
    rest(http, writer, sandbox.base_url, "flickr.test.echo")
    http.post(f"{sandbox.base_url}/sandbox/reset").raise_for_status()
    assert calls(http, sandbox)["total"] == 0


def test_only_the_recent_calls_keep_their_parameters() -> None:
    log = CallLog(keep=2)
    for n in ("1", "2", "3"):
        log.record("flickr.test.echo", {"n": n, "oauth_nonce": "x", "api_key": "k"})
    assert log.describe("flickr.test.echo", "n") == {
        "method": "flickr.test.echo",
        "count": 3,
        "param": "n",
        "values": {"2": 1, "3": 1},
    }
    assert all(params == {"n": n} for (_, params), n in zip(log.recent, "23", strict=True))
