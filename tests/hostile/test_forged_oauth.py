"""Forged and replayed OAuth callbacks: each is a 400 ``ERR_INVALID_STATE``, stores no
account, and never uses up the real user's pending authorisation, which can still
be finished afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart

from flickrhub_core.runtime import Runtime
from tests.api.conftest import FakeFlickr
from tests.helpers import answer_flickr_with
from tests.hostile.conftest import ALICE, BOB, Client, Untouched

START = "/api/v1/auth/start"
COMPLETE = "/api/v1/auth/complete"
CALLBACK = "/api/v1/auth/callback"


@pytest.fixture
async def flickr(rt: Runtime, app: Quart) -> FakeFlickr:
    fake = FakeFlickr()
    await answer_flickr_with(rt, fake.handle)
    return fake


@pytest.fixture
async def started(client: Client, flickr: FakeFlickr, untouched: Untouched) -> dict[str, Any]:
    """Alice's pending authorisation (a request token and its state)."""
    response = await client.post(START, json={"perms": "write"}, headers=ALICE)
    assert response.status_code == 200
    data: dict[str, Any] = (await response.get_json())["data"]
    return data


def callback_query(started: dict[str, Any], **overrides: str) -> dict[str, str]:
    query = {
        "oauth_token": started["oauth_token"],
        "oauth_verifier": "good-verifier",
        "state": started["state"],
    }
    query.update(overrides)
    return query


async def refused(response: Any) -> None:
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["code"] == "ERR_INVALID_STATE"
    assert error["message"] == "invalid_state_or_token"


async def still_pending(client: Client, started: dict[str, Any]) -> None:
    """The rightful callback still connects the account."""
    response = await client.get(CALLBACK, query_string=callback_query(started))
    assert response.status_code == 200, await response.get_data(as_text=True)


@pytest.mark.parametrize(
    "forged",
    [
        {"oauth_token": "req-999"},
        {"state": "forged-state"},
        {"state": ""},
        {"oauth_token": "req-999", "state": "forged-state"},
    ],
    ids=["unknown token", "wrong state", "empty state", "unknown token and state"],
)
async def test_a_forged_callback_is_refused_and_the_real_one_survives(
    client: Client, untouched: Untouched, started: dict[str, Any], forged: dict[str, str]
) -> None:
    response = await client.get(CALLBACK, query_string=callback_query(started, **forged))
    if forged.get("state") == "":
        assert response.status_code == 400  # a required field: ERR_INVALID_REQUEST
    else:
        await refused(response)
    await untouched.check()  # no account
    await still_pending(client, started)


async def test_a_callback_with_the_state_of_another_authorisation_is_refused(
    client: Client, untouched: Untouched, started: dict[str, Any]
) -> None:
    other = await (await client.post(START, json={}, headers=BOB)).get_json()
    crossed = callback_query(started, state=other["data"]["state"])
    await refused(await client.get(CALLBACK, query_string=crossed))
    await untouched.check()
    await still_pending(client, started)


async def test_a_replayed_callback_is_refused_and_connects_nothing_more(
    client: Client, rt: Runtime, started: dict[str, Any]
) -> None:
    first = await client.get(CALLBACK, query_string=callback_query(started))
    assert first.status_code == 200
    accounts = await rt.tokens.list("alice")
    await refused(await client.get(CALLBACK, query_string=callback_query(started)))
    await refused(await client.post(COMPLETE, json=callback_query(started), headers=ALICE))
    assert await rt.tokens.list("alice") == accounts


async def test_another_client_cannot_complete_alices_authorisation(
    client: Client, rt: Runtime, untouched: Untouched, started: dict[str, Any]
) -> None:
    stolen = callback_query(started)
    await refused(await client.post(COMPLETE, json=stolen, headers=BOB))
    await untouched.check()
    assert await rt.tokens.list("bob") == []
    response = await client.post(COMPLETE, json=stolen, headers=ALICE)
    assert response.status_code == 200


async def test_a_wrong_state_on_complete_is_refused_and_the_real_one_survives(
    client: Client, untouched: Untouched, started: dict[str, Any]
) -> None:
    await refused(
        await client.post(COMPLETE, json=callback_query(started, state="x"), headers=ALICE)
    )
    await untouched.check()
    await still_pending(client, started)


async def test_a_verifier_flickr_rejects_stores_nothing_and_the_real_one_survives(
    client: Client, untouched: Untouched, started: dict[str, Any]
) -> None:
    """Flickr refused the verifier, not the request token: the user may still finish."""
    response = await client.get(
        CALLBACK, query_string=callback_query(started, oauth_verifier="bad")
    )
    assert response.status_code == 400
    assert (await response.get_json())["error"]["details"] == {"oauth_problem": "verifier_invalid"}
    await untouched.check()
    await still_pending(client, started)


async def test_a_forged_callback_in_a_browser_gets_the_error_page(
    client: Client, untouched: Untouched, started: dict[str, Any]
) -> None:
    response = await client.get(
        CALLBACK,
        query_string=callback_query(started, state="forged"),
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "invalid_state_or_token" in await response.get_data(as_text=True)
    await untouched.check()
    await still_pending(client, started)
