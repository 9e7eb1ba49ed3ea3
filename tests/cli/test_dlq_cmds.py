"""``flickrhub dlq list | show | replay | purge`` against a scripted API (httpx
MockTransport): what they send, what they print, and their exit status."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from flickrhub_core.cli import dlq_cmds
from flickrhub_core.cli.client import ApiClient
from tests.cli.conftest import Invoke

API = "http://flickrhub.test"
DLQ = "/api/v1/admin/dlq"


def envelope(
    data: Any = None, error: dict[str, Any] | None = None, status: int = 200
) -> httpx.Response:
    return httpx.Response(status, json={"request_id": "req-1", "data": data, "error": error})


def dead(job_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "target": "rest",
        "method": "flickr.photos.getInfo",
        "user_id": "u-1",
        "attempts": 3,
        "max_attempts": 3,
        "created_at": "2026-01-01T10:00:00Z",
        "dead_at": "2026-01-01T10:00:05Z",
        "reason": "HTTP 502 from Flickr",
        "error": {"code": "ERR_FLICKR_HTTP", "message": "HTTP 502 from Flickr"},
        "in_dlq": True,
        "replay_of": None,
        "replayed_by": None,
        "purged_at": None,
        "params": {"photo_id": "42"},
        **extra,
    }


class FakeApi:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        #: Answers of successive ``POST /dlq/purge`` calls.
        self.purges: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path, method = request.url.path, request.method
        if (method, path) == ("GET", DLQ):
            if request.url.params.get("cursor") == "c2":
                return envelope({"jobs": [dead("j3")], "next_cursor": None})
            return envelope({"jobs": [dead("j1"), dead("j2", method=None)], "next_cursor": "c2"})
        if (method, path) == ("GET", f"{DLQ}/j1"):
            return envelope(dead("j1", replayed_by="n1", in_dlq=False))
        if (method, path) == ("POST", f"{DLQ}/j1/replay"):
            return envelope(
                {"job_id": "n1", "replay_of": "j1", "state": "queued", "queue": "flickr_rest"},
                status=202,
            )
        if (method, path) == ("POST", f"{DLQ}/j9/replay"):
            error = {"code": "ERR_ALREADY_REPLAYED", "message": "job j9 was replayed already"}
            return envelope(error=error, status=409)
        if (method, path) == ("POST", f"{DLQ}/replay"):
            body = json.loads(request.content)
            ids = ["j1", "j2"] if body.get("all") else body["job_ids"]
            errors = [
                {"job_id": i, "code": "ERR_DEAD_LETTER_NOT_FOUND", "message": "no dead letter"}
                for i in ids
                if i == "nope"
            ]
            replayed = [{"job_id": i, "new_job_id": f"new-{i}"} for i in ids if i != "nope"]
            data = {"replayed": replayed, "errors": errors, "more": False, "messages_removed": 1}
            return envelope(data, status=202)
        if (method, path) == ("DELETE", f"{DLQ}/j1"):
            return envelope({"job_id": "j1", "purged": True, "messages_removed": 1})
        if (method, path) == ("POST", f"{DLQ}/purge"):
            return envelope(self.purges.pop(0))
        return envelope(error={"code": "ERR_NOT_FOUND", "message": "no route"}, status=404)

    def json_of(self, index: int) -> Any:
        return json.loads(self.requests[index].content)


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> Callable[[], FakeApi]:
    def install() -> FakeApi:
        api = FakeApi()

        def client(api_url: str | None, client_key: str | None) -> ApiClient:
            assert api_url == API
            return ApiClient(api_url, api_key=client_key, transport=httpx.MockTransport(api))

        monkeypatch.setattr(dlq_cmds, "_client", client)
        return api

    return install


def test_list_prints_a_table_and_the_next_page(
    invoke: Invoke, fake_api: Callable[[], FakeApi]
) -> None:
    api = fake_api()
    result = invoke("dlq", "list", "--api", API, "--limit", "2", "--client-key", "k")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["JOB_ID", "METHOD", "USER_ID", "ATTEMPTS", "DEAD_AT", "REASON"]
    assert lines[1].split()[:4] == ["j1", "flickr.photos.getInfo", "u-1", "3/3"]
    assert lines[2].split()[:2] == ["j2", "rest"]  # no method: the target
    assert lines[1].endswith("HTTP 502 from Flickr")
    assert result.stderr == "More: flickrhub dlq list --cursor c2\n"
    request = api.requests[0]
    assert request.url.params["limit"] == "2"
    assert request.headers["X-API-Key"] == "k"

    result = invoke("dlq", "list", "--api", API, "--cursor", "c2", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["jobs"][0]["job_id"] == "j3"


def test_show(invoke: Invoke, fake_api: Callable[[], FakeApi]) -> None:
    fake_api()
    result = invoke("dlq", "show", "j1", "--api", API)
    assert result.exit_code == 0, result.output
    shown = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert shown["error"] == "ERR_FLICKR_HTTP: HTTP 502 from Flickr"
    assert shown["replayed_by"] == "n1" and shown["in_dlq"] == "no"
    assert shown["params"] == '{"photo_id": "42"}'
    assert shown["purged_at"] == "-"
    result = invoke("dlq", "show", "j1", "--api", API, "--json")
    assert json.loads(result.stdout)["replayed_by"] == "n1"


def test_show_of_an_unknown_job_is_one_line(
    invoke: Invoke, fake_api: Callable[[], FakeApi]
) -> None:
    fake_api()
    result = invoke("dlq", "show", "zzz", "--api", API)
    assert result.exit_code == 2
    assert result.stderr == "flickrhub: error: ERR_NOT_FOUND: no route\n"


def test_replay_one(invoke: Invoke, fake_api: Callable[[], FakeApi]) -> None:
    api = fake_api()
    result = invoke("dlq", "replay", "j1", "--api", API)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split() == ["j1", "n1"]
    assert api.requests[0].url.path == f"{DLQ}/j1/replay"


def test_replaying_twice_is_one_line(invoke: Invoke, fake_api: Callable[[], FakeApi]) -> None:
    fake_api()
    result = invoke("dlq", "replay", "j9", "--api", API)
    assert result.exit_code == 2
    assert "ERR_ALREADY_REPLAYED: job j9 was replayed already" in result.stderr


def test_replay_several_reports_those_left_and_exits_1(
    invoke: Invoke, fake_api: Callable[[], FakeApi]
) -> None:
    api = fake_api()
    result = invoke("dlq", "replay", "j1", "nope", "j2", "--api", API)
    assert result.exit_code == 1
    assert [line.split() for line in result.stdout.splitlines()[1:]] == [
        ["j1", "new-j1"],
        ["j2", "new-j2"],
    ]
    assert result.stderr == "flickrhub: nope: ERR_DEAD_LETTER_NOT_FOUND: no dead letter\n"
    assert api.json_of(0) == {"job_ids": ["j1", "nope", "j2"]}


def test_replay_all(invoke: Invoke, fake_api: Callable[[], FakeApi]) -> None:
    api = fake_api()
    result = invoke("dlq", "replay", "--all", "--api", API, "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["replayed"]) == 2
    assert api.json_of(0) == {"all": True}


@pytest.mark.parametrize("args", [(), ("j1", "--all")])
def test_replay_needs_ids_or_all(invoke: Invoke, args: tuple[str, ...]) -> None:
    result = invoke("dlq", "replay", *args, "--api", API)
    assert result.exit_code == 2
    assert "JOB_ID" in result.stderr


def test_purge_asks_first(invoke: Invoke, fake_api: Callable[[], FakeApi]) -> None:
    api = fake_api()
    result = invoke("dlq", "purge", "j1", "--api", API, input="n\n")
    assert result.exit_code == 1
    assert "Purge 1 dead letter(s)?" in result.stderr
    assert api.requests == []
    result = invoke("dlq", "purge", "j1", "--api", API, input="y\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Purged 1 dead letter(s).\n"
    assert api.requests[0].method == "DELETE"


def test_purge_all_goes_on_while_there_are_more(
    invoke: Invoke, fake_api: Callable[[], FakeApi]
) -> None:
    api = fake_api()
    api.purges = [
        {"purged": ["a", "b"], "errors": [], "more": True, "messages_removed": 2},
        {"purged": ["c"], "errors": [], "more": False, "messages_removed": 1},
    ]
    result = invoke("dlq", "purge", "--all", "--yes", "--api", API, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "purged": ["a", "b", "c"],
        "errors": [],
        "more": False,
        "messages_removed": 3,
    }
    assert [api.json_of(i) for i in range(2)] == [{"all": True}, {"all": True}]


def test_purge_several_with_an_error(invoke: Invoke, fake_api: Callable[[], FakeApi]) -> None:
    api = fake_api()
    error = {"job_id": "r", "code": "ERR_ALREADY_REPLAYED", "message": "replayed as n"}
    api.purges = [{"purged": ["a"], "errors": [error], "more": False, "messages_removed": 1}]
    result = invoke("dlq", "purge", "a", "r", "-y", "--api", API)
    assert result.exit_code == 1
    assert result.stdout == "Purged 1 dead letter(s).\n"
    assert result.stderr == "flickrhub: r: ERR_ALREADY_REPLAYED: replayed as n\n"
    assert api.json_of(0) == {"job_ids": ["a", "r"]}
