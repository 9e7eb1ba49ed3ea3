"""API clients: keys, authentication, and each client seeing only its own things."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from pydantic import SecretStr
from quart import Quart
from structlog.testing import capture_logs

from flickrhub_api import create_app
from flickrhub_api.clients import ClientKeys
from flickrhub_api.context import current_owner
from flickrhub_core.errors import ConfigError
from flickrhub_core.jobs import JobState
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import JobQuery, StoredToken
from tests.api.conftest import REST, Client, FakeFlickr, connect
from tests.api.test_photos import Form

KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef"}
KEYS_SETTING = ",".join(f"{name}={key}" for name, key in KEYS.items())
JOBS = "/api/v1/flickr/jobs"
CALLBACK = "/api/v1/auth/callback"


def as_client(name: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[name]}


@pytest.fixture
def rt(make_runtime: Any) -> Runtime:
    """Every app of this module has the clients alice and bob."""
    runtime: Runtime = make_runtime(api_keys=SecretStr(KEYS_SETTING))
    return runtime


async def enqueue(client: Client, who: str, user_id: str = "user-1") -> str:
    response = await client.post(
        REST,
        json={"method": "flickr.test.echo", "user_id": user_id},
        headers=as_client(who),
    )
    assert response.status_code == 202, await response.get_data(as_text=True)
    job_id: str = (await response.get_json())["data"]["job_id"]
    return job_id


async def alices_user(rt: Runtime) -> StoredToken:
    return await connect(rt, "user-1", owner="alice")


# --- parsing the keys ---------------------------------------------------------------


def test_keys_are_kept_as_digests_only() -> None:
    keys = ClientKeys.parse(f" {KEYS_SETTING} ,")
    assert keys.enabled
    assert keys.names == ["alice", "bob"]
    assert KEYS["alice"] not in repr(keys)
    assert dict(keys.digests)["alice"] == hashlib.sha256(KEYS["alice"].encode()).digest()


def test_no_keys_means_no_authentication() -> None:
    assert not ClientKeys.parse(None).enabled
    assert not ClientKeys.parse("  ").enabled


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice=k1,just-a-secret-key", "entry 2 is not name=key"),
        ("al ice=k1", "entry 1 has an invalid client name"),
        (f"{'x' * 65}=k1", "entry 1 has an invalid client name"),
        ("=k1", "entry 1 has an invalid client name"),
        ("alice=k1,alice=k2", "client 'alice' is listed twice"),
        ("alice=same-secret,bob=same-secret", "clients 'alice' and 'bob' have the same key"),
        ("alice=", "the key of client 'alice' must be"),
        ("alice=two words", "the key of client 'alice' must be"),
        (",", "lists no name=key pair"),
    ],
)
def test_a_bad_key_list_is_one_line_without_the_key(raw: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ClientKeys.parse(raw)
    message = str(caught.value)
    assert message.startswith("FLICKRHUB_API_KEYS")
    assert expected in message
    assert "\n" not in message
    for secret in ("k1", "k2", "just-a-secret-key", "same-secret", "two words"):
        assert secret not in message


def test_the_app_refuses_to_start_with_a_bad_key_list(make_runtime: Any) -> None:
    runtime = make_runtime(api_keys=SecretStr("alice:hunter2"))
    with pytest.raises(ConfigError) as caught:
        create_app(runtime)
    assert "hunter2" not in str(caught.value)


def test_every_client_is_compared_whichever_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = ClientKeys.parse("a=key-a,b=key-b,c=key-c")
    calls: list[int] = []
    real = hmac.compare_digest

    def counting(x: bytes, y: bytes) -> bool:
        calls.append(1)
        return real(x, y)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    for presented, expected in [("key-a", "a"), ("key-c", "c"), ("nope", None)]:
        calls.clear()
        assert keys.authenticate(presented) == expected
        assert len(calls) == 3


# --- authentication -----------------------------------------------------------------


async def test_a_request_without_a_key_is_a_401_envelope(client: Client) -> None:
    response = await client.post(REST, json={"method": "flickr.test.echo", "user_id": "u"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = await response.get_json()
    assert body["data"] is None
    assert body["request_id"].startswith("req-")
    assert body["error"]["code"] == "ERR_UNAUTHORIZED"
    assert "X-API-Key" in body["error"]["message"]


async def test_a_wrong_key_is_a_401_that_does_not_echo_it(client: Client) -> None:
    response = await client.get(f"{JOBS}/x", headers={"X-API-Key": "guessed-key-123"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    text = await response.get_data(as_text=True)
    assert "guessed-key-123" not in text
    assert (await response.get_json())["error"]["code"] == "ERR_UNAUTHORIZED"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": KEYS["alice"]},
        {"Authorization": f"Bearer {KEYS['alice']}"},
        {"Authorization": f"bearer {KEYS['alice']}"},
    ],
)
async def test_the_key_is_accepted_in_either_header(
    client: Client, rt: Runtime, headers: dict[str, str]
) -> None:
    await alices_user(rt)
    response = await client.post(
        REST, json={"method": "flickr.test.echo", "user_id": "user-1"}, headers=headers
    )
    assert response.status_code == 202
    job = await rt.jobs.get((await response.get_json())["data"]["job_id"])
    assert job is not None
    assert job.owner == "alice"


async def test_a_basic_authorization_header_is_no_key(client: Client) -> None:
    response = await client.get(f"{JOBS}/x", headers={"Authorization": f"Basic {KEYS['alice']}"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "path", ["/healthz", "/health", "/readyz", "/metrics", "/openapi.json", "/docs"]
)
async def test_probes_metrics_and_docs_need_no_key(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200


async def test_the_oauth_callback_needs_no_key(client: Client) -> None:
    response = await client.get(CALLBACK, headers={"Accept": "application/json"})
    # Not a 401: the callback is reached (and refuses its missing parameters).
    assert response.status_code == 400


async def test_a_keyless_path_cannot_act_as_a_client(rt: Runtime) -> None:
    app = create_app(rt)

    @app.get("/ui/whoami")
    async def whoami() -> str:
        return current_owner()

    async with app.test_app():
        response = await app.test_client().get("/ui/whoami")
    assert response.status_code == 401
    assert (await response.get_json())["error"]["code"] == "ERR_UNAUTHORIZED"


async def test_without_keys_every_request_is_the_default_owner(
    make_runtime: Any,
) -> None:
    runtime: Runtime = make_runtime()
    app = create_app(runtime)
    async with app.test_app():
        await connect(runtime)
        response = await app.test_client().post(
            REST, json={"method": "flickr.test.echo", "user_id": "user-1"}
        )
        assert response.status_code == 202
        job = await runtime.jobs.get((await response.get_json())["data"]["job_id"])
    assert job is not None
    assert job.owner == "default"


async def test_the_access_log_names_the_client(client: Client) -> None:
    with capture_logs() as events:
        await client.get(f"{JOBS}/nothing", headers=as_client("bob"))
    [event] = [e for e in events if e["event"] == "api_request"]
    assert event["client"] == "bob"
    assert KEYS["bob"] not in repr(events)


# --- isolation: another client's things do not exist -----------------------------------


async def test_another_clients_user_cannot_be_used_for_a_call(client: Client, rt: Runtime) -> None:
    await alices_user(rt)
    response = await client.post(
        REST, json={"method": "flickr.test.echo", "user_id": "user-1"}, headers=as_client("bob")
    )
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "ERR_TOKEN_NOT_FOUND"


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/api/v1/flickr/upload", [("user_id", "user-1")]),
        ("/api/v1/flickr/replace", [("user_id", "user-1"), ("photo_id", "123")]),
    ],
)
async def test_another_clients_user_cannot_upload_or_replace(
    app: Quart, rt: Runtime, path: str, fields: list[tuple[str, str]]
) -> None:
    await alices_user(rt)
    form = Form().fields(fields).file(b"\xff\xd8 not really a jpeg")
    response = await app.test_client().post(
        path,
        data=form.end(),
        headers={"Content-Type": form.content_type, **as_client("bob")},
    )
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "ERR_TOKEN_NOT_FOUND"
    assert await rt.jobs.list(JobQuery(owner="bob")) == []


async def test_another_clients_job_status_is_not_found(client: Client, rt: Runtime) -> None:
    await alices_user(rt)
    job_id = await enqueue(client, "alice")
    response = await client.post(
        f"{JOBS}/status", json={"job_id": job_id, "user_id": "user-1"}, headers=as_client("bob")
    )
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "ERR_JOB_NOT_FOUND"
    mine = await client.post(
        f"{JOBS}/status", json={"job_id": job_id, "user_id": "user-1"}, headers=as_client("alice")
    )
    assert mine.status_code == 200


async def test_another_clients_job_is_not_found(client: Client, rt: Runtime) -> None:
    await alices_user(rt)
    job_id = await enqueue(client, "alice")
    for query in ("", "?user_id=user-1", "?wait=0.2"):
        response = await client.get(f"{JOBS}/{job_id}{query}", headers=as_client("bob"))
        assert response.status_code == 404
        assert (await response.get_json())["error"]["code"] == "ERR_JOB_NOT_FOUND"
    assert (await client.get(f"{JOBS}/{job_id}", headers=as_client("alice"))).status_code == 200


async def test_another_clients_job_cannot_be_cancelled(client: Client, rt: Runtime) -> None:
    await alices_user(rt)
    job_id = await enqueue(client, "alice")
    response = await client.post(f"{JOBS}/{job_id}/cancel", json={}, headers=as_client("bob"))
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "ERR_JOB_NOT_FOUND"
    job = await rt.jobs.get(job_id)
    assert job is not None
    assert job.state is JobState.QUEUED


async def test_idempotency_keys_are_per_client(client: Client, rt: Runtime) -> None:
    await alices_user(rt)
    await connect(rt, "user-2", owner="bob", nsid="2@N01")
    headers = {"Idempotency-Key": "same-key"}
    first = await client.post(
        REST,
        json={"method": "flickr.test.echo", "user_id": "user-1"},
        headers={**headers, **as_client("alice")},
    )
    second = await client.post(
        REST,
        json={"method": "flickr.test.echo", "user_id": "user-2"},
        headers={**headers, **as_client("bob")},
    )
    assert first.status_code == second.status_code == 202
    first_id = (await first.get_json())["data"]["job_id"]
    second_body = await second.get_json()
    assert second_body["data"]["job_id"] != first_id
    assert second_body["data"]["idempotent_replay"] is False


# --- OAuth: the account goes to the client that started it ------------------------------


def callback_mode(rt: Runtime) -> None:
    rt.settings = rt.settings.model_copy(
        update={"oauth_mode": "callback", "callback_url": "https://app.test/back"}
    )


async def start_as(client: Client, who: str) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/start", json={}, headers=as_client(who))
    assert response.status_code == 200, await response.get_data(as_text=True)
    data: dict[str, Any] = (await response.get_json())["data"]
    return data


async def test_the_callback_gives_the_account_to_the_client_that_started_it(
    client: Client, rt: Runtime, fake_flickr: FakeFlickr
) -> None:
    callback_mode(rt)
    started = await start_as(client, "alice")
    response = await client.get(
        CALLBACK,
        query_string={
            "oauth_token": started["oauth_token"],
            "oauth_verifier": "good-verifier",
            "state": started["state"],
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    user_id = (await response.get_json())["data"]["user_id"]
    token = await rt.tokens.get(user_id)
    assert token is not None
    assert token.owner == "alice"
    call = {"method": "flickr.test.echo", "user_id": user_id}
    assert (await client.post(REST, json=call, headers=as_client("bob"))).status_code == 404
    assert (await client.post(REST, json=call, headers=as_client("alice"))).status_code == 202


async def test_another_client_cannot_complete_or_burn_an_authorisation(
    client: Client, rt: Runtime, fake_flickr: FakeFlickr
) -> None:
    started = await start_as(client, "alice")
    body = {
        "oauth_token": started["oauth_token"],
        "oauth_verifier": "good-verifier",
        "state": started["state"],
    }
    stolen = await client.post("/api/v1/auth/complete", json=body, headers=as_client("bob"))
    assert stolen.status_code == 400
    assert (await stolen.get_json())["error"]["code"] == "ERR_INVALID_STATE"
    mine = await client.post("/api/v1/auth/complete", json=body, headers=as_client("alice"))
    assert mine.status_code == 200
    token = await rt.tokens.get((await mine.get_json())["data"]["user_id"])
    assert token is not None
    assert token.owner == "alice"
