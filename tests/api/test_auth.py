"""OAuth: start, complete (verifier) and callback (redirect), with state checks."""

from __future__ import annotations

import asyncio
import importlib
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from structlog.testing import capture_logs

from flickrhub_api.errors import REFUSED_VERIFIER_MESSAGE
from flickrhub_api.routes.auth import PENDING_TTL
from flickrhub_core.jobs import utcnow
from flickrhub_core.memory import MemoryRequestTokenStore
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import PendingAuth
from tests.api.conftest import Client, FakeFlickr

START = "/api/v1/auth/start"
COMPLETE = "/api/v1/auth/complete"
CALLBACK = "/api/v1/auth/callback"


async def start(client: Client, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post(START, json=body or {})
    assert response.status_code == 200, await response.get_data(as_text=True)
    data: dict[str, Any] = (await response.get_json())["data"]
    return data


async def complete(client: Client, started: dict[str, Any], **overrides: Any) -> Any:
    body = {
        "oauth_token": started["oauth_token"],
        "oauth_verifier": "good-verifier",
        "state": started["state"],
    }
    body.update(overrides)
    return await client.post(COMPLETE, json=body)


class RecordingRequestTokens(MemoryRequestTokenStore):
    """The memory store, noting the time to live of every pending authorisation put."""

    def __init__(self) -> None:
        super().__init__()
        self.ttls: list[float] = []

    async def put(self, pending: PendingAuth, ttl: float) -> None:
        self.ttls.append(ttl)
        await super().put(pending, ttl)


def callback_mode(rt: Runtime, url: str = "https://app.test/connected?from=hub") -> None:
    rt.settings = rt.settings.model_copy(update={"oauth_mode": "callback", "callback_url": url})


async def test_start_gives_the_authorize_url_and_state(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    data = await start(client)
    assert data["mode"] == "oob"
    assert data["perms"] == "write"
    assert data["expires_in"] == 600
    assert data["state"]
    query = parse_qs(urlsplit(data["authorize_url"]).query)
    assert query == {"oauth_token": [data["oauth_token"]], "perms": ["write"]}
    assert fake_flickr.callbacks == ["oob"]


async def test_start_accepts_an_empty_body(client: Client, fake_flickr: FakeFlickr) -> None:
    response = await client.post(START)
    assert response.status_code == 200


async def test_start_in_callback_mode_appends_state_to_the_callback_url(
    client: Client, rt: Runtime, fake_flickr: FakeFlickr
) -> None:
    callback_mode(rt)
    data = await start(client, {"perms": "read"})
    assert data["mode"] == "callback"
    assert data["perms"] == "read"
    sent = urlsplit(fake_flickr.callbacks[0])
    assert sent.netloc == "app.test"
    assert parse_qs(sent.query) == {"from": ["hub"], "state": [data["state"]]}


async def test_start_with_half_a_consumer_pair_is_refused(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    response = await client.post(START, json={"api_key": "k"})
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["message"] == "api_key and api_secret are required"
    assert error["fields"][0]["field"] == "api_secret"


async def test_start_without_any_consumer_key_says_so(
    client: Client, rt: Runtime, fake_flickr: FakeFlickr
) -> None:
    rt.consumer = None
    response = await client.post(START, json={})
    assert response.status_code == 400
    assert "no Flickr API key" in (await response.get_json())["error"]["fields"][0]["message"]


async def test_start_with_unknown_perms_is_refused(client: Client, fake_flickr: FakeFlickr) -> None:
    response = await client.post(START, json={"perms": "admin"})
    assert response.status_code == 400
    assert (await response.get_json())["error"]["fields"][0]["field"] == "perms"


async def test_start_while_flickr_is_down_is_a_502(client: Client, fake_flickr: FakeFlickr) -> None:
    fake_flickr.down = True
    response = await client.post(START, json={})
    assert response.status_code == 502
    assert (await response.get_json())["error"]["code"] == "ERR_FLICKR_UNAVAILABLE"


async def test_complete_connects_the_account(
    client: Client, rt: Runtime, fake_flickr: FakeFlickr
) -> None:
    started = await start(client, {"api_key": "their-key", "api_secret": "their-secret"})
    response = await complete(client, started)
    assert response.status_code == 200
    data = (await response.get_json())["data"]
    assert data["user_nsid"] == "21207597@N07"
    assert data["username"] == "jamalfanaian"
    assert data["fullname"] == "Jamal Fanaian"
    assert data["perms"] == "write"
    stored = await rt.tokens.get(data["user_id"])
    assert stored is not None
    assert stored.consumer_key == "their-key"
    assert stored.token == f"access-{started['oauth_token']}"
    assert stored.owner == "default"


async def test_complete_without_state_still_works_for_old_clients(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    started = await start(client)
    response = await complete(client, started, state=None)
    assert response.status_code == 200


async def test_complete_needs_token_and_verifier(client: Client) -> None:
    response = await client.post(COMPLETE, json={"oauth_token": "t"})
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["code"] == "ERR_INVALID_REQUEST"
    assert error["message"] == "oauth_token and oauth_verifier are required"


async def test_complete_with_a_too_long_verifier_says_it_is_too_long(client: Client) -> None:
    response = await client.post(COMPLETE, json={"oauth_token": "t", "oauth_verifier": "v" * 501})
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["message"] == "oauth_verifier is too long (at most 500 characters)"
    assert error["fields"] == [
        {
            "field": "oauth_verifier",
            "message": "oauth_verifier is too long (at most 500 characters)",
        }
    ]


async def test_complete_with_an_unknown_token_is_invalid_state(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    response = await client.post(COMPLETE, json={"oauth_token": "nope", "oauth_verifier": "v"})
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["code"] == "ERR_INVALID_STATE"
    assert error["message"] == "invalid_state_or_token"


async def test_a_request_token_is_used_once(client: Client, fake_flickr: FakeFlickr) -> None:
    started = await start(client)
    assert (await complete(client, started)).status_code == 200
    again = await complete(client, started)
    assert again.status_code == 400
    assert (await again.get_json())["error"]["code"] == "ERR_INVALID_STATE"


async def test_a_wrong_state_is_refused_and_the_right_one_still_works(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    started = await start(client)
    forged = await complete(client, started, state="forged")
    assert forged.status_code == 400
    assert (await forged.get_json())["error"]["code"] == "ERR_INVALID_STATE"
    assert (await complete(client, started)).status_code == 200


async def test_a_verifier_flickr_rejects_is_invalid_state_and_says_so(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    started = await start(client)
    response = await complete(client, started, oauth_verifier="wrong")
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["code"] == "ERR_INVALID_STATE"
    assert error["message"] == REFUSED_VERIFIER_MESSAGE
    assert error["details"] == {"oauth_problem": "verifier_invalid"}


async def test_a_mistyped_verifier_leaves_the_authorisation_usable(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    started = await start(client)
    assert (await complete(client, started, oauth_verifier="wrong")).status_code == 400
    assert (await complete(client, started, oauth_verifier="wrong again")).status_code == 400
    assert (await complete(client, started)).status_code == 200
    used = await complete(client, started)
    assert (await used.get_json())["error"]["message"] == "invalid_state_or_token"


async def test_a_mistyped_verifier_does_not_extend_the_authorisation(
    client: Client, rt: Runtime, fake_flickr: FakeFlickr, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RecordingRequestTokens()
    rt.backends.request_tokens = store
    started = await start(client)
    later = utcnow() + timedelta(seconds=100)
    # flickrhub_api.routes.auth, the module (the package names its blueprint "auth").
    auth_module = importlib.import_module("flickrhub_api.routes.auth")
    monkeypatch.setattr(auth_module, "utcnow", lambda: later)
    await complete(client, started, oauth_verifier="wrong")
    assert store.ttls[0] == PENDING_TTL
    assert PENDING_TTL - 101 < store.ttls[1] <= PENDING_TTL - 100


async def test_a_request_token_flickr_rejects_is_used_up(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    started = await start(client)
    fake_flickr.fail_with = (401, "oauth_problem=token_rejected")
    assert (await complete(client, started)).status_code == 400
    again = await complete(client, started)
    assert (await again.get_json())["error"]["message"] == "invalid_state_or_token"


async def test_of_two_concurrent_completions_one_connects(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    started = await start(client)
    answers = await asyncio.gather(complete(client, started), complete(client, started))
    assert sorted(answer.status_code for answer in answers) == [200, 400]


async def test_a_flickr_outage_during_complete_can_be_retried(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    started = await start(client)
    fake_flickr.fail_with = (503, "Service Unavailable")
    failed = await complete(client, started)
    assert failed.status_code == 502
    assert (await complete(client, started)).status_code == 200


async def test_reauthorising_the_same_account_keeps_its_user_id(
    client: Client, rt: Runtime, fake_flickr: FakeFlickr
) -> None:
    first = await (await complete(client, await start(client))).get_json()
    second = await (await complete(client, await start(client, {"perms": "delete"}))).get_json()
    assert second["data"]["user_id"] == first["data"]["user_id"]
    stored = await rt.tokens.get(first["data"]["user_id"])
    assert stored is not None
    assert stored.perms == "delete"
    assert len(await rt.tokens.list("default")) == 1


async def test_another_account_gets_another_user_id(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    first = await (await complete(client, await start(client))).get_json()
    fake_flickr.nsid = "99999999@N00"
    second = await (await complete(client, await start(client))).get_json()
    assert second["data"]["user_id"] != first["data"]["user_id"]


async def test_callback_answers_the_envelope(
    client: Client, rt: Runtime, fake_flickr: FakeFlickr
) -> None:
    callback_mode(rt)
    started = await start(client)
    response = await client.get(
        CALLBACK,
        query_string={
            "oauth_token": started["oauth_token"],
            "oauth_verifier": "good-verifier",
            "state": started["state"],
        },
    )
    assert response.status_code == 200
    data = (await response.get_json())["data"]
    assert data["status"] == "ok"
    assert data["user_id"]


async def test_callback_requires_state(client: Client, fake_flickr: FakeFlickr) -> None:
    started = await start(client)
    response = await client.get(
        CALLBACK,
        query_string={"oauth_token": started["oauth_token"], "oauth_verifier": "good-verifier"},
    )
    assert response.status_code == 400
    details = (await response.get_json())["error"]["fields"]
    assert [d["field"] for d in details] == ["state"]


async def test_callback_with_a_wrong_state_is_refused(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    started = await start(client)
    response = await client.get(
        CALLBACK,
        query_string={
            "oauth_token": started["oauth_token"],
            "oauth_verifier": "good-verifier",
            "state": "forged",
        },
    )
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "ERR_INVALID_STATE"


async def test_callback_renders_an_escaped_page_for_browsers(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    fake_flickr.username = "%3Cscript%3Ealert(1)%3C/script%3E"
    started = await start(client)
    response = await client.get(
        CALLBACK,
        query_string={
            "oauth_token": started["oauth_token"],
            "oauth_verifier": "good-verifier",
            "state": started["state"],
        },
        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    )
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    page = await response.get_data(as_text=True)
    assert "<script>" not in page
    assert "Jamal Fanaian" in page
    assert 'id="user-id"' in page


async def test_callback_error_page_for_browsers(client: Client, fake_flickr: FakeFlickr) -> None:
    response = await client.get(
        CALLBACK,
        query_string={"oauth_token": "nope", "oauth_verifier": "v", "state": "s"},
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 400
    assert "invalid_state_or_token" in await response.get_data(as_text=True)


async def test_auth_logs_hold_no_secret(client: Client, fake_flickr: FakeFlickr) -> None:
    with capture_logs() as events:
        started = await start(client, {"api_key": "their-key", "api_secret": "their-secret"})
        await complete(client, started)
        await complete(client, started)
    names = [e["event"] for e in events]
    assert "auth_start_success" in names
    assert "auth_complete_success" in names
    assert "auth_complete_failure" in names
    text = repr(events)
    for secret in ("their-secret", "req-secret", "access-secret", "good-verifier"):
        assert secret not in text
