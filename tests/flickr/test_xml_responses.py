"""Upload/replace XML answers become Flickr's JSON shape; hostile XML is refused."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from flickrhub_core.errors import FlickrApiError, FlickrError, FlickrHttpError
from flickrhub_core.flickr import (
    BytesPhoto,
    Credentials,
    FlickrClient,
    MalformedResponse,
    parse_xml_envelope,
)
from flickrhub_core.flickr.responses import envelope_error

ClientFactory = Callable[..., FlickrClient]
PHOTO = BytesPhoto("cat.jpg", b"\xff\xd8\xff\xe0 jpeg bytes", "image/jpeg")

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<rsp stat="ok"><photoid>&lol4;</photoid></rsp>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rsp [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rsp stat="ok"><photoid>&xxe;</photoid></rsp>"""


def test_upload_ok_fixture_parses_to_photoid_content(fixture_bytes: Callable[[str], bytes]) -> None:
    assert parse_xml_envelope(fixture_bytes("upload_ok.xml")) == {
        "stat": "ok",
        "photoid": {"_content": "10100858276"},
    }


def test_replace_ok_fixture_keeps_new_secrets_as_members(
    fixture_bytes: Callable[[str], bytes],
) -> None:
    assert parse_xml_envelope(fixture_bytes("replace_ok.xml")) == {
        "stat": "ok",
        "photoid": {
            "secret": "f408b81374",
            "originalsecret": "95e713eb4e",
            "_content": "10100895983",
        },
    }


def test_async_upload_answer_parses_to_ticketid() -> None:
    body = b'<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="ok">\n<ticketid>78701040-72157636215117185</ticketid>\n</rsp>\n'
    assert parse_xml_envelope(body)["ticketid"] == {"_content": "78701040-72157636215117185"}


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("upload_fail_code100.xml", 100, "Invalid API Key (Key has invalid format)"),
        ("replace_fail_code1.xml", 1, "Not a pro account"),
    ],
)
def test_fail_fixtures_yield_code_and_message(
    fixture_bytes: Callable[[str], bytes], name: str, code: int, message: str
) -> None:
    envelope = parse_xml_envelope(fixture_bytes(name))
    assert envelope == {"stat": "fail", "err": {"code": str(code), "msg": message}}
    assert envelope_error(envelope) == (code, message)


def test_repeated_children_become_a_list() -> None:
    body = (
        b'<rsp stat="ok"><uploader><ticket id="128" complete="1" photoid="2995" />'
        b'<ticket id="129" complete="0" /><ticket id="131" invalid="1" /></uploader></rsp>'
    )
    assert parse_xml_envelope(body)["uploader"]["ticket"] == [
        {"id": "128", "complete": "1", "photoid": "2995"},
        {"id": "129", "complete": "0"},
        {"id": "131", "invalid": "1"},
    ]


def test_nested_text_elements_use_content() -> None:
    body = b'<rsp stat="ok"><user id="1"><username>@janko-m</username></user></rsp>'
    assert parse_xml_envelope(body)["user"] == {"id": "1", "username": {"_content": "@janko-m"}}


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "xxe"])
def test_xml_with_a_dtd_is_refused_as_hostile(body: bytes) -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_xml_envelope(body)
    assert info.value.hostile


@pytest.mark.parametrize(
    "body",
    [b"<rsp stat='ok'><photoid>1</rsp>", b"<html><body>502</body></html>", b"not xml"],
    ids=["truncated", "html", "text"],
)
def test_broken_or_foreign_xml_is_malformed_not_hostile(body: bytes) -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_xml_envelope(body)
    assert not info.value.hostile


def xml_answer(body: bytes) -> Callable[[httpx.Request], httpx.Response]:
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    return lambda request: httpx.Response(200, content=body, headers=headers)


async def upload_error(
    make_client: ClientFactory, creds: Credentials, body: bytes, *, replace: bool = False
) -> FlickrError:
    client = make_client(xml_answer(body))
    send = (
        client.replace(creds, PHOTO, "10100895983")
        if replace
        else client.upload(creds, PHOTO, {"title": "cat"})
    )
    with pytest.raises(FlickrError) as info:
        await send
    return info.value


async def test_upload_returns_parsed_xml(
    make_client: ClientFactory, creds: Credentials, fixture_bytes: Callable[[str], bytes]
) -> None:
    client = make_client(xml_answer(fixture_bytes("upload_ok.xml")))
    result = await client.upload(creds, PHOTO, {"title": "cat"})
    assert result == {"stat": "ok", "photoid": {"_content": "10100858276"}}


async def test_replace_returns_parsed_xml(
    make_client: ClientFactory, creds: Credentials, fixture_bytes: Callable[[str], bytes]
) -> None:
    client = make_client(xml_answer(fixture_bytes("replace_ok.xml")))
    result = await client.replace(creds, PHOTO, "10100895983")
    assert result["photoid"]["secret"] == "f408b81374"


async def test_upload_fail_code100_is_permanent_api_error(
    make_client: ClientFactory, creds: Credentials, fixture_bytes: Callable[[str], bytes]
) -> None:
    error = await upload_error(make_client, creds, fixture_bytes("upload_fail_code100.xml"))
    assert isinstance(error, FlickrApiError)
    assert (error.flickr_code, error.retryable, error.sent) == (100, False, False)


async def test_replace_fail_code1_is_permanent_api_error(
    make_client: ClientFactory, creds: Credentials, fixture_bytes: Callable[[str], bytes]
) -> None:
    body = fixture_bytes("replace_fail_code1.xml")
    error = await upload_error(make_client, creds, body, replace=True)
    assert isinstance(error, FlickrApiError)
    assert (error.flickr_code, error.retryable) == (1, False)
    assert "Not a pro account" in error.message


async def test_replace_of_no_usable_photo_2_is_permanent_and_did_nothing(
    make_client: ClientFactory, creds: Credentials
) -> None:
    body = b'<rsp stat="fail"><err code="2" msg="No photo specified" /></rsp>'
    error = await upload_error(make_client, creds, body, replace=True)
    assert isinstance(error, FlickrApiError)
    assert (error.flickr_code, error.retryable, error.sent) == (2, False, False)


async def test_upload_105_may_be_sent_again(make_client: ClientFactory, creds: Credentials) -> None:
    body = b'<rsp stat="fail"><err code="105" msg="Service currently unavailable" /></rsp>'
    error = await upload_error(make_client, creds, body)
    assert (error.retryable, error.sent) == (True, False)


async def test_upload_106_is_not_retried_since_upload_is_not_idempotent(
    make_client: ClientFactory, creds: Credentials
) -> None:
    body = b'<rsp stat="fail"><err code="106" msg="Write operation failed" /></rsp>'
    error = await upload_error(make_client, creds, body)
    assert (error.retryable, error.sent) == (False, True)


async def test_upload_general_failure_3_is_not_retryable(
    make_client: ClientFactory, creds: Credentials
) -> None:
    body = b'<rsp stat="fail"><err code="3" msg="General upload failure" /></rsp>'
    error = await upload_error(make_client, creds, body)
    assert error.retryable is False


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "xxe"])
async def test_hostile_upload_answer_is_non_retryable_http_error(
    make_client: ClientFactory, creds: Credentials, body: bytes
) -> None:
    error = await upload_error(make_client, creds, body)
    assert isinstance(error, FlickrHttpError)
    assert (error.retryable, error.sent) == (False, True)
    assert "lol" not in error.message and "passwd" not in error.message


async def test_garbled_upload_answer_is_retryable_but_may_have_run(
    make_client: ClientFactory, creds: Credentials
) -> None:
    error = await upload_error(make_client, creds, b"<html>502 Bad Gateway")
    assert isinstance(error, FlickrHttpError)
    assert (error.retryable, error.sent) == (True, True)
