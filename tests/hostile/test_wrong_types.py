"""Every field of ``POST /rest`` with a value of the wrong type: a 400 whose details
name that field, and no job."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.hostile.conftest import REST, Client, Untouched, fields_of, send

VALID: dict[str, Any] = {"user_id": "alice-user", "method": "flickr.test.echo"}

WRONG: list[tuple[str, Any, str]] = [
    # (field, value, the field the details name)
    ("user_id", 42, "user_id"),
    ("user_id", None, "user_id"),
    ("user_id", ["alice-user"], "user_id"),
    ("user_id", {"id": "alice-user"}, "user_id"),
    ("user_id", True, "user_id"),
    ("user_id", "", "user_id"),
    ("method", 42, "method"),
    ("method", ["flickr.test.echo"], "method"),
    ("method", {"name": "flickr.test.echo"}, "method"),
    ("method", False, "method"),
    ("method", "", "method"),
    ("params", "a=b", "params"),
    ("params", ["a", "b"], "params"),
    ("params", 42, "params"),
    ("params", {"nested": {"a": "b"}}, "params.nested"),
    ("params", {"list": [[1, 2]]}, "params.list"),
    ("params", {"null": None}, "params.null"),
    ("target", 42, "target"),
    ("target", ["rest"], "target"),
    ("target", None, "target"),
    ("target", "", "target"),
    ("callback_url", 42, "callback_url"),
    ("callback_url", ["https://example.com/"], "callback_url"),
    ("callback_url", "ftp://example.com/", "callback_url"),
    ("callback_url", "javascript:alert(1)", "callback_url"),
    ("callback_secret", 42, "callback_secret"),
    ("callback_secret", {"k": "v"}, "callback_secret"),
    ("meta", "a string", "meta"),
    ("meta", [1, 2], "meta"),
    ("meta", 42, "meta"),
    ("cache", "yes", "cache"),
    ("cache", "false", "cache"),
    ("cache", 1, "cache"),
    ("cache", None, "cache"),
]


@pytest.mark.parametrize(
    ("name", "value", "named"),
    WRONG,
    ids=[f"{name}={json.dumps(value)}" for name, value, _ in WRONG],
)
async def test_a_wrong_type_is_a_400_naming_the_field(
    client: Client, untouched: Untouched, name: str, value: Any, named: str
) -> None:
    status, envelope = await send(client, REST, json.dumps({**VALID, name: value}))
    assert status == 400, envelope
    assert envelope["error"]["code"] == "ERR_INVALID_REQUEST"
    assert named in fields_of(envelope), envelope["error"]
    await untouched.check()


async def test_every_wrong_field_of_one_request_is_named(
    client: Client, untouched: Untouched
) -> None:
    body = {"user_id": 1, "method": 2, "params": "x", "meta": [], "cache": "no"}
    status, envelope = await send(client, REST, json.dumps(body))
    assert status == 400
    assert set(fields_of(envelope)) == {"user_id", "method", "params", "meta", "cache"}
    await untouched.check()


async def test_the_valid_request_itself_is_accepted(client: Client, untouched: Untouched) -> None:
    status, envelope = await send(client, REST, json.dumps(VALID))
    assert status == 202, envelope
