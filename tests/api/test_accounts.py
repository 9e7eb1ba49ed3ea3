"""Connected accounts: list, read and revoke them; only the caller's; never a secret."""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from quart import Quart
from structlog.testing import capture_logs

from flickrhub_core.jobs import JobState
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import StoredToken
from tests.api.conftest import REST, Client, FakeFlickr, connect

#: The module (``flickrhub_api.routes.accounts`` the attribute is its blueprint).
accounts = importlib.import_module("flickrhub_api.routes.accounts")
ACCOUNTS = "/api/v1/accounts"
#: What :func:`connect` stores as the token's secrets.
SECRETS = ("access-token", "access-secret", '"secret"')
PUBLIC_FIELDS = {"user_id", "user_nsid", "username", "fullname", "perms", "connected_at"}


async def body_of(response: Any) -> dict[str, Any]:
    text = await response.get_data(as_text=True)
    for secret in SECRETS:
        assert secret not in text, text
    body: dict[str, Any] = await response.get_json()
    return body


async def enqueue(client: Client, user_id: str) -> str:
    response = await client.post(
        REST, json={"method": "flickr.photos.search", "params": {"tags": "x"}, "user_id": user_id}
    )
    assert response.status_code == 202, await response.get_data(as_text=True)
    job_id: str = (await response.get_json())["data"]["job_id"]
    return job_id


async def test_the_list_is_empty_before_any_account_is_connected(client: Client) -> None:
    response = await client.get(ACCOUNTS)
    assert response.status_code == 200
    assert (await body_of(response))["data"] == []


async def test_the_list_shows_the_callers_accounts_without_secrets(
    client: Client, rt: Runtime, app: Quart
) -> None:
    first = await connect(rt, "user-1", nsid="1@N01")
    await connect(rt, "user-2", nsid="2@N01")
    await connect(rt, "theirs", owner="another-client", nsid="3@N01")

    body = await body_of(await client.get(ACCOUNTS))

    assert [a["user_id"] for a in body["data"]] == ["user-1", "user-2"]
    account = body["data"][0]
    assert set(account) == PUBLIC_FIELDS
    assert account == {
        "user_id": "user-1",
        "user_nsid": "1@N01",
        "username": "someone",
        "fullname": "",
        "perms": "write",
        "connected_at": first.created_at.isoformat().replace("+00:00", "Z"),
    }


async def test_one_account_is_read_by_its_user_id(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    response = await client.get(f"{ACCOUNTS}/{user.user_id}")
    assert response.status_code == 200
    data = (await body_of(response))["data"]
    assert data["user_id"] == user.user_id
    assert set(data) == PUBLIC_FIELDS


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_an_unknown_or_another_clients_account_is_not_found(
    client: Client, rt: Runtime, app: Quart, method: str
) -> None:
    await connect(rt, "theirs", owner="another-client")

    for user_id in ("theirs", "nobody"):
        response = await client.open(f"{ACCOUNTS}/{user_id}", method=method)
        assert response.status_code == 404
        assert (await body_of(response))["error"]["code"] == "ERR_TOKEN_NOT_FOUND"
    assert await rt.tokens.get("theirs") is not None


async def test_revoking_deletes_the_token_and_cancels_only_queued_jobs(
    client: Client, rt: Runtime, app: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts, "CANCEL_PAGE", 2)  # several pages
    await connect(rt, "user-1")
    await connect(rt, "user-2", nsid="2@N01")
    queued = [await enqueue(client, "user-1") for _ in range(5)]
    running = await rt.jobs.get(await enqueue(client, "user-1"))
    assert running is not None
    running.state = JobState.RUNNING
    await rt.jobs.save(running)
    other_user_job = await enqueue(client, "user-2")

    response = await client.delete(f"{ACCOUNTS}/user-1")

    assert response.status_code == 200
    assert (await body_of(response))["data"] == {
        "user_id": "user-1",
        "revoked": True,
        "cancelled_jobs": 5,
    }
    assert await rt.tokens.get("user-1") is None
    for job_id in queued:
        job = await rt.jobs.get(job_id)
        assert job is not None and job.state is JobState.CANCELLED
    still_running = await rt.jobs.get(running.id)
    assert still_running is not None and still_running.state is JobState.RUNNING
    untouched = await rt.jobs.get(other_user_job)
    assert untouched is not None and untouched.state is JobState.QUEUED
    assert await rt.tokens.get("user-2") is not None


async def test_a_revoked_account_is_gone_for_every_route(client: Client, user: StoredToken) -> None:
    assert (await client.delete(f"{ACCOUNTS}/{user.user_id}")).status_code == 200

    assert (await client.get(f"{ACCOUNTS}/{user.user_id}")).status_code == 404
    assert (await body_of(await client.get(ACCOUNTS)))["data"] == []
    assert (await client.delete(f"{ACCOUNTS}/{user.user_id}")).status_code == 404
    response = await client.post(REST, json={"method": "flickr.test.echo", "user_id": user.user_id})
    assert response.status_code == 404


async def test_post_revoke_is_an_alias_of_delete(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    job_id = await enqueue(client, user.user_id)

    response = await client.post(f"{ACCOUNTS}/{user.user_id}/revoke")

    assert response.status_code == 200
    assert (await body_of(response))["data"]["cancelled_jobs"] == 1
    assert await rt.tokens.get(user.user_id) is None
    job = await rt.jobs.get(job_id)
    assert job is not None and job.state is JobState.CANCELLED


async def test_revoking_drops_the_users_cached_reads(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    await rt.cache.set(user.user_id, "some-read", b"{}", 60)

    await client.delete(f"{ACCOUNTS}/{user.user_id}")

    assert await rt.cache.get(user.user_id, "some-read") is None


async def test_revoking_is_logged_without_secrets(client: Client, user: StoredToken) -> None:
    with capture_logs() as events:
        await client.delete(f"{ACCOUNTS}/{user.user_id}")

    [event] = [e for e in events if e["event"] == "account_revoked"]
    assert event["user_id"] == user.user_id
    assert event["cancelled_jobs"] == 0
    text = repr(events)
    assert "access-token" not in text and "access-secret" not in text


async def test_perms_chosen_at_start_reach_flickr_and_the_account(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    response = await client.post("/api/v1/auth/start", json={"perms": "read"})
    started = (await response.get_json())["data"]
    assert parse_qs(urlsplit(started["authorize_url"]).query)["perms"] == ["read"]
    response = await client.post(
        "/api/v1/auth/complete",
        json={
            "oauth_token": started["oauth_token"],
            "oauth_verifier": "good-verifier",
            "state": started["state"],
        },
    )
    user_id = (await response.get_json())["data"]["user_id"]

    account = (await body_of(await client.get(f"{ACCOUNTS}/{user_id}")))["data"]

    assert account["perms"] == "read"
    assert account["user_nsid"] == fake_flickr.nsid
    assert account["username"] == fake_flickr.username
    text = await (await client.get(ACCOUNTS)).get_data(as_text=True)
    assert "access-req-" not in text  # the fake's access token


async def test_openapi_documents_the_accounts_routes(app: Quart) -> None:
    spec = await (await app.test_client().get("/openapi.json")).get_json()

    listing = spec["paths"]["/api/v1/accounts"]["get"]
    assert "200" in listing["responses"]
    one = spec["paths"]["/api/v1/accounts/{user_id}"]
    assert {"200", "404"} <= set(one["get"]["responses"])
    assert {"200", "404"} <= set(one["delete"]["responses"])
    assert "post" in spec["paths"]["/api/v1/accounts/{user_id}/revoke"]
    assert "AccountView" in str(spec["components"])
