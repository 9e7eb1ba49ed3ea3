"""How FlickrClient.call builds signed REST requests and reads their answers."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from flickrhub_core.errors import InvalidRequest
from flickrhub_core.flickr import CallRecord, Credentials, Endpoints, FlickrClient
from tests.flickr.flickr_server_check import FlickrCheck

ClientFactory = Callable[..., FlickrClient]
OK = {"stat": "ok"}


def capture(
    seen: list[httpx.Request], body: bytes | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=body or json.dumps(OK).encode())

    return handler


async def test_read_is_signed_get_with_json_format_in_query(
    make_client: ClientFactory, creds: Credentials, flickr_check: FlickrCheck
) -> None:
    seen: list[httpx.Request] = []
    client = make_client(capture(seen))
    await client.call(creds, "flickr.photos.getInfo", {"photo_id": "7986395865"})
    (request,) = seen
    assert request.method == "GET"
    assert request.url.path == "/services/rest/"
    assert flickr_check.query(request) == [
        ("method", "flickr.photos.getInfo"),
        ("format", "json"),
        ("nojsoncallback", "1"),
        ("photo_id", "7986395865"),
    ]
    assert request.content == b""
    flickr_check.verify(request, creds, [])


async def test_oauth_travels_in_authorization_header_only(
    make_client: ClientFactory, creds: Credentials, flickr_check: FlickrCheck
) -> None:
    seen: list[httpx.Request] = []
    await make_client(capture(seen)).call(creds, "flickr.test.login", {})
    oauth = flickr_check.oauth(seen[0])
    assert oauth["oauth_token"] == creds.token
    assert oauth["oauth_consumer_key"] == creds.consumer_key
    assert oauth["oauth_signature_method"] == "HMAC-SHA1"
    assert oauth["oauth_version"] == "1.0"
    assert not any(k.startswith("oauth_") for k, _ in flickr_check.query(seen[0]))


async def test_write_is_signed_post_with_form_body(
    make_client: ClientFactory, creds: Credentials, flickr_check: FlickrCheck
) -> None:
    seen: list[httpx.Request] = []
    params = {"photo_id": "1", "title": "Jon Snow & Ghost", "description": "100% *wolf*"}
    await make_client(capture(seen)).call(creds, "flickr.photos.setMeta", params)
    (request,) = seen
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.url.query == b""
    form = flickr_check.form(request)
    assert form == [
        ("method", "flickr.photos.setMeta"),
        ("format", "json"),
        ("nojsoncallback", "1"),
        *params.items(),
    ]
    flickr_check.verify(request, creds, form)


async def test_side_effecting_read_perm_method_is_posted(
    make_client: ClientFactory, creds: Credentials
) -> None:
    seen: list[httpx.Request] = []
    await make_client(capture(seen)).call(creds, "flickr.push.subscribe", {"topic": "contacts"})
    assert seen[0].method == "POST"


async def test_read_may_be_forced_to_post(
    make_client: ClientFactory, creds: Credentials, flickr_check: FlickrCheck
) -> None:
    seen: list[httpx.Request] = []
    client = make_client(capture(seen))
    await client.call(creds, "flickr.photos.search", {"text": "x" * 3000}, http_method="post")
    assert seen[0].method == "POST"
    flickr_check.verify(seen[0], creds, flickr_check.form(seen[0]))


async def test_write_forced_to_get_is_refused(
    make_client: ClientFactory, creds: Credentials
) -> None:
    client = make_client(capture([]))
    with pytest.raises(ValueError, match="POST"):
        await client.call(creds, "flickr.photos.delete", {"photo_id": "1"}, http_method="GET")


@pytest.mark.parametrize("param", ["method", "format", "nojsoncallback", "oauth_token"])
async def test_reserved_parameters_are_refused(
    make_client: ClientFactory, creds: Credentials, param: str
) -> None:
    client = make_client(capture([]))
    with pytest.raises(InvalidRequest, match=param):
        await client.call(creds, "flickr.test.echo", {param: "x"})


async def test_check_token_gets_the_users_token_as_a_signed_argument(
    make_client: ClientFactory, creds: Credentials, flickr_check: FlickrCheck
) -> None:
    seen: list[httpx.Request] = []
    await make_client(capture(seen)).call(creds, "flickr.auth.oauth.checkToken", {})
    (request,) = seen
    assert ("oauth_token", creds.token) in flickr_check.query(request)
    assert flickr_check.oauth(request)["oauth_token"] == creds.token
    base = flickr_check.verify(request, creds, [])
    assert base.count(f"oauth_token%3D{creds.token}") == 2  # argument and protocol parameter


async def test_check_token_refuses_a_caller_supplied_oauth_token(
    make_client: ClientFactory, creds: Credentials
) -> None:
    client = make_client(capture([]))
    with pytest.raises(InvalidRequest, match="oauth_token"):
        await client.call(creds, "flickr.auth.oauth.checkToken", {"oauth_token": "other"})


async def test_non_ascii_and_reserved_characters_are_signed_as_sent(
    make_client: ClientFactory, creds: Credentials, flickr_check: FlickrCheck
) -> None:
    seen: list[httpx.Request] = []
    text = "Zagreb ☀ a+b=c&d/é ~'!*()"
    await make_client(capture(seen)).call(creds, "flickr.photos.search", {"text": text})
    assert dict(flickr_check.query(seen[0]))["text"] == text
    flickr_check.verify(seen[0], creds, [])


async def test_ok_answer_is_returned_parsed(
    make_client: ClientFactory, creds: Credentials, fixture_bytes: Callable[[str], bytes]
) -> None:
    body = fixture_bytes("rest_flickr.test.login.json")
    result = await make_client(capture([], body)).call(creds, "flickr.test.login", {})
    assert result == {
        "user": {"id": "78733179@N04", "username": {"_content": "@janko-m"}},
        "stat": "ok",
    }


async def test_successful_call_is_reported(
    make_client: ClientFactory, creds: Credentials, records: list[CallRecord]
) -> None:
    await make_client(capture([])).call(creds, "flickr.test.null", {})
    (record,) = records
    assert (record.kind, record.method, record.http_status, record.ok) == (
        "rest",
        "flickr.test.null",
        200,
        True,
    )
    assert record.flickr_code is None
    assert record.duration_s >= 0


async def test_check_tickets_joins_ids_and_returns_states(
    make_client: ClientFactory,
    creds: Credentials,
    fixture_bytes: Callable[[str], bytes],
    flickr_check: FlickrCheck,
) -> None:
    seen: list[httpx.Request] = []
    body = fixture_bytes("rest_flickr.photos.upload.checkTickets.json")
    client = make_client(capture(seen, body))
    result = await client.check_tickets(creds, ["78701040-72157636215045495", "2"])
    assert dict(flickr_check.query(seen[0]))["tickets"] == "78701040-72157636215045495,2"
    assert seen[0].method == "GET"
    assert result["uploader"]["ticket"][0]["complete"] == 1


async def test_check_tickets_answered_in_xml_lists_a_lone_ticket(
    make_client: ClientFactory, creds: Credentials
) -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="ok">\n<uploader>\n'
        b'<ticket id="78701040-72157636215045495" complete="1" photoid="10100858276" />\n'
        b"</uploader>\n</rsp>\n"
    )
    result = await make_client(capture([], body)).check_tickets(
        creds, ["78701040-72157636215045495"]
    )
    assert result["uploader"]["ticket"] == [
        {"id": "78701040-72157636215045495", "complete": "1", "photoid": "10100858276"}
    ]


async def test_one_connection_pool_serves_many_users(
    make_client: ClientFactory, creds: Credentials, flickr_check: FlickrCheck
) -> None:
    seen: list[httpx.Request] = []
    client = make_client(capture(seen))
    other = Credentials(creds.consumer_key, creds.consumer_secret, "other-token", "other-secret")
    await client.call(creds, "flickr.test.login", {})
    await client.call(other, "flickr.test.login", {})
    assert [flickr_check.oauth(r)["oauth_token"] for r in seen] == [creds.token, "other-token"]
    flickr_check.verify(seen[1], other, [])


async def test_rest_url_without_trailing_slash_is_signed_as_requested(
    endpoints: Endpoints, creds: Credentials, flickr_check: FlickrCheck
) -> None:
    from dataclasses import replace

    seen: list[httpx.Request] = []
    bare = replace(endpoints, rest_url="https://api.flickr.com/services/rest")
    async with FlickrClient(bare, transport=httpx.MockTransport(capture(seen))) as client:
        await client.call(creds, "flickr.test.echo", {})
    assert seen[0].url.path == "/services/rest"
    flickr_check.verify(seen[0], creds, [])
