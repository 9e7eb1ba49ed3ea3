"""Unicode and control characters in method, params and user_id: refused (400), not
found (404) or kept as data, never a 500; what comes back is the same text, JSON
escaped, and no error message repeats the input outside a JSON string."""

from __future__ import annotations

import json

import pytest
from quart import Quart

from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import StoredToken
from tests.hostile.conftest import ALICE, REST, Client, Untouched, connect, send

NASTY = {
    "NUL": "a\x00b",
    "RTL override": "abc\u202edcba",
    "emoji": "\U0001f600\U0001f4f7",
    "zero-width joiner": "a\u200db",
    "BOM": "\ufeffa",
    "newline and tab": "a\nb\tc",
    "DEL and C1": "a\x7f\x85b",
    "script tag": "<script>alert(1)</script>",
    "combining": "e\u0301\u0301\u0301",
}
CALL = {"user_id": "alice-user", "method": "flickr.test.echo"}


@pytest.mark.parametrize("text", NASTY.values(), ids=list(NASTY))
async def test_in_the_method_it_is_a_400(client: Client, untouched: Untouched, text: str) -> None:
    status, envelope = await send(client, REST, json.dumps({**CALL, "method": f"flickr.{text}"}))
    assert status == 400
    assert envelope["error"]["fields"][0]["field"] == "method"
    await untouched.check()


@pytest.mark.parametrize("text", NASTY.values(), ids=list(NASTY))
async def test_in_a_user_id_it_is_an_unknown_user(
    client: Client, untouched: Untouched, text: str
) -> None:
    status, envelope = await send(client, REST, json.dumps({**CALL, "user_id": text}))
    assert status == 404
    assert envelope["error"]["code"] == "ERR_TOKEN_NOT_FOUND"
    assert text not in json.dumps(envelope["error"], ensure_ascii=False)  # not echoed
    await untouched.check()


@pytest.mark.parametrize("text", NASTY.values(), ids=list(NASTY))
async def test_in_the_path_it_is_a_404(client: Client, untouched: Untouched, text: str) -> None:
    from urllib.parse import quote

    for path in ("/api/v1/accounts/", "/api/v1/flickr/jobs/", "/api/v1/flickr/batches/"):
        response = await client.get(path + quote(text, safe=""), headers=ALICE)
        assert response.status_code == 404, path
        assert response.mimetype == "application/json"
    await untouched.check()


@pytest.mark.parametrize("text", NASTY.values(), ids=list(NASTY))
async def test_in_params_and_meta_it_is_data_kept_exactly(
    client: Client, user: StoredToken, text: str
) -> None:
    body = {**CALL, "params": {"text": text, f"key{text}": "v"}, "meta": {text: text}}
    status, envelope = await send(client, REST, json.dumps(body))
    assert status == 202, envelope
    response = await client.get(envelope["data"]["status_url"], headers=ALICE)
    raw = await response.get_data()
    job = json.loads(raw)["data"]
    assert job["meta"] == {text: text}
    # Control characters travel escaped: the raw answer holds none of them.
    assert not any(byte < 0x20 for byte in raw)


async def test_a_user_id_made_of_unicode_works_when_it_exists(
    client: Client, rt: Runtime, app: Quart
) -> None:
    await connect(rt, "\U0001f600-\u202e-user")
    status, envelope = await send(
        client, REST, json.dumps({**CALL, "user_id": "\U0001f600-\u202e-user"})
    )
    assert status == 202, envelope


@pytest.mark.parametrize("value", ["caf\u00e9", "a b", "a\x00b", "\U0001f600"])
async def test_a_non_ascii_idempotency_key_is_a_400(
    client: Client, untouched: Untouched, value: str
) -> None:
    headers = {**ALICE, "Idempotency-Key": value.encode("utf-8").decode("latin-1")}
    status, envelope = await send(client, REST, json.dumps(CALL), headers=headers)
    assert status == 400
    assert envelope["error"]["fields"][0]["field"] == "Idempotency-Key"
    await untouched.check()


async def test_a_lone_surrogate_in_the_user_id_is_a_400(
    client: Client, untouched: Untouched
) -> None:
    status, envelope = await send(
        client, REST, '{"user_id": "\\udc80", "method": "flickr.test.echo"}'
    )
    assert status == 400
    assert envelope["error"]["fields"][0]["field"] == "body"
    await untouched.check()


async def test_the_callback_page_escapes_what_it_shows(
    client: Client, untouched: Untouched
) -> None:
    response = await client.get(
        "/api/v1/auth/callback",
        query_string={
            "oauth_token": "<script>x</script>",
            "oauth_verifier": "v",
            "state": "\u202e<b>",
        },
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 400
    page = await response.get_data(as_text=True)
    assert "<script>x" not in page and "<b>" not in page
    await untouched.check()
