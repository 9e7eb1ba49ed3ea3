"""Malformed JSON bodies: a 400 naming the body (413 or 415 where that is the
problem), never a 500, and nothing stored."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import ALICE, REST, Client, Untouched, fields_of, send

CALL = '"user_id": "alice-user", "method": "flickr.test.echo"'


def call_with(extra: str) -> str:
    """The body of a valid call plus ``extra`` (raw JSON members)."""
    return "{" + CALL + ", " + extra + "}"


def nested(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


MALFORMED = {
    "truncated": '{"user_id": "alice-user", "meth',
    "trailing garbage": '{"user_id": "alice-user"} {"again": 1}',
    "trailing text": '{"user_id": "alice-user"}garbage',
    "single quotes": "{'user_id': 'alice-user'}",
    "comment": '{"user_id": "alice-user" /* hi */}',
    "NaN": call_with('"params": {"a": NaN}'),
    "Infinity": call_with('"params": {"a": -Infinity}'),
    "a 5000-digit number": call_with('"params": {"a": ' + "9" * 5000 + "}"),
    "invalid UTF-8": b'{"user_id": "alice-user", "method": "flickr.\xff\xfe"}',
    "control character in a string": '{"user_id": "alice\x01user"}',
    "unterminated string": '{"user_id": "alice-user}',
    "bare word": "hello",
}
REFUSED = {
    "a number too large for a float (1e400 is infinity)": (
        call_with('"params": {"a": 1e400}'),
        "numbers must be finite",
    ),
    "10 000 nested arrays": ("[" * 10_000 + "]" * 10_000, "nested deeper than 32 levels"),
    "10 000 nested objects in meta": (
        call_with('"meta": ' + nested(10_000)),
        "nested deeper than 32 levels",
    ),
    "500 nested objects in meta (under the parser's own limit)": (
        call_with('"meta": ' + nested(500)),
        "nested deeper than 32 levels",
    ),
    "a lone surrogate escape in a param": (
        call_with('"params": {"a": "\\ud800"}'),
        "strings must be valid Unicode (a lone surrogate escape)",
    ),
    "a lone surrogate escape in a key": (
        call_with('"meta": {"\\udfff": 1}'),
        "strings must be valid Unicode (a lone surrogate escape)",
    ),
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=list(MALFORMED))
async def test_malformed_json_is_a_400_naming_the_body(
    client: Client, untouched: Untouched, body: str | bytes
) -> None:
    status, envelope = await send(client, REST, body)
    assert status == 400
    assert envelope["error"]["code"] == "ERR_INVALID_REQUEST"
    assert envelope["error"]["fields"] == [{"field": "body", "message": "malformed JSON"}]
    await untouched.check()


@pytest.mark.parametrize(("body", "message"), REFUSED.values(), ids=list(REFUSED))
async def test_json_that_parses_but_cannot_be_kept_is_a_400(
    client: Client, untouched: Untouched, body: str, message: str
) -> None:
    status, envelope = await send(client, REST, body)
    assert status == 400
    assert envelope["error"]["fields"] == [{"field": "body", "message": message}]
    await untouched.check()


async def test_31_levels_of_meta_are_still_accepted(client: Client, untouched: Untouched) -> None:
    # meta itself is level 1 of the body: 30 more objects inside it reach the limit's edge.
    meta = nested(30)
    status, envelope = await send(client, REST, call_with('"meta": ' + meta))
    assert status == 202, envelope


@pytest.mark.parametrize(
    "body", ["[]", "[1, 2]", '"a string"', "42", "null", "true"], ids=lambda body: body
)
async def test_a_body_that_is_not_an_object_is_a_400(
    client: Client, untouched: Untouched, body: str
) -> None:
    status, envelope = await send(client, REST, body)
    assert status == 400
    assert envelope["error"]["fields"][0]["message"] == "the request body must be a JSON object"
    await untouched.check()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_a_body_that_is_not_json_is_a_415(
    client: Client, untouched: Untouched, content_type: str
) -> None:
    status, envelope = await send(client, REST, "{" + CALL + "}", content_type=content_type)
    assert status == 415
    assert envelope["error"]["code"] == "ERR_UNSUPPORTED_MEDIA_TYPE"
    await untouched.check()


async def test_a_body_over_the_json_limit_is_a_413(client: Client, untouched: Untouched) -> None:
    body = call_with('"meta": {"a": "' + "x" * (1024 * 1024) + '"}')
    status, envelope = await send(client, REST, body)
    assert status == 413
    assert envelope["error"]["details"] == {"max_bytes": 1024 * 1024}
    await untouched.check()


async def test_every_json_route_reads_the_body_the_same_way(
    client: Client, untouched: Untouched
) -> None:
    for path in (
        "/api/v1/auth/start",
        "/api/v1/auth/complete",
        "/api/v1/flickr/batch",
        "/api/v1/flickr/jobs/status",
        "/api/v1/flickr/jobs/some-job/cancel",
    ):
        status, envelope = await send(client, path, "[" * 5000, headers=ALICE)
        assert status == 400, path
        assert fields_of(envelope) == ["body"], path
    await untouched.check()
