"""Huge inputs: too many params, values, keys or calls are a 400; bodies over the
limit a 413; nothing is stored. (Request lines and headers past the HTTP server's
own limit: see ``test_real_server.py``.)"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.hostile.conftest import ALICE, REST, Client, Untouched, fields_of, send

CALL: dict[str, Any] = {"user_id": "alice-user", "method": "flickr.test.echo"}


async def test_10_000_params_are_a_400(client: Client, untouched: Untouched) -> None:
    params = {f"k{i}": "v" for i in range(10_000)}
    status, envelope = await send(client, REST, json.dumps({**CALL, "params": params}))
    assert status == 400
    assert envelope["error"]["fields"] == [{"field": "params", "message": "at most 100 params"}]
    await untouched.check()


async def test_a_1_mb_value_is_a_413(client: Client, untouched: Untouched) -> None:
    body = json.dumps({**CALL, "params": {"text": "x" * (1024 * 1024)}})
    status, envelope = await send(client, REST, body)
    assert status == 413
    assert envelope["error"]["code"] == "ERR_PAYLOAD_TOO_LARGE"
    await untouched.check()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"text": "x" * 10_001}, "params.text"),
        ({"k" * 101: "v"}, "params." + "k" * 101),
    ],
    ids=["a 10 001-character value", "a 101-character key"],
)
async def test_an_oversized_param_is_a_400(
    client: Client, untouched: Untouched, params: dict[str, str], field: str
) -> None:
    status, envelope = await send(client, REST, json.dumps({**CALL, "params": params}))
    assert status == 400
    assert fields_of(envelope) == [field]
    await untouched.check()


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("user_id", 201),
        ("method", 201),
        ("target", 41),
        ("callback_url", 2049),
        ("callback_secret", 1001),
    ],
)
async def test_an_overlong_field_is_a_400(
    client: Client, untouched: Untouched, name: str, size: int
) -> None:
    value = "https://example.com/" + "a" * size if name == "callback_url" else "a" * size
    status, envelope = await send(client, REST, json.dumps({**CALL, name: value}))
    assert status == 400
    assert fields_of(envelope) == [name]
    await untouched.check()


async def test_a_batch_of_101_calls_is_a_400_and_queues_nothing(
    client: Client, untouched: Untouched
) -> None:
    body = json.dumps({"calls": [CALL] * 101})
    status, envelope = await send(client, "/api/v1/flickr/batch", body)
    assert status == 400
    assert fields_of(envelope) == ["calls"]
    await untouched.check()


async def test_10_000_query_parameters_are_ignored_not_fatal(
    client: Client, untouched: Untouched
) -> None:
    query = "&".join(f"k{i}=v" for i in range(10_000))
    response = await client.get(f"/api/v1/flickr/jobs?{query}", headers=ALICE)
    assert response.status_code == 200
    await untouched.check()


async def test_an_overlong_query_value_is_a_400(client: Client, untouched: Untouched) -> None:
    response = await client.get(
        "/api/v1/flickr/jobs",
        query_string={"user_id": "u" * 20_000},
        headers=ALICE,
    )
    assert response.status_code == 400
    assert fields_of(await response.get_json()) == ["user_id"]
    await untouched.check()
