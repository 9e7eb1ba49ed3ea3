"""Upload and replace sign every text field and never the photo (flickr-api.md §1.5)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from flickrhub_core.errors import InvalidRequest
from flickrhub_core.flickr import BytesPhoto, Credentials, FlickrClient, signature_base_string
from tests.flickr.flickr_server_check import FlickrCheck

ClientFactory = Callable[..., FlickrClient]
OK_XML = b'<rsp stat="ok"><photoid>1</photoid></rsp>'
FIELDS = {
    "title": "Jon Snow",
    "description": "A <b>wolf</b> & a crow",
    "tags": 'foo "central station"',
    "is_public": "1",
    "async": "0",
}


def test_multipart_base_string_has_text_fields_and_no_photo() -> None:
    oauth = [
        ("oauth_consumer_key", "ck"),
        ("oauth_nonce", "n0nce"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "1380985278"),
        ("oauth_token", "tok"),
        ("oauth_version", "1.0"),
    ]
    fields = [("title", "Jon Snow"), ("tags", "foo bar"), ("is_public", "1")]
    base = signature_base_string("POST", "https://up.flickr.com/services/upload/", fields + oauth)
    assert base == (
        "POST&https%3A%2F%2Fup.flickr.com%2Fservices%2Fupload%2F&is_public%3D1"
        "%26oauth_consumer_key%3Dck%26oauth_nonce%3Dn0nce%26oauth_signature_method%3DHMAC-SHA1"
        "%26oauth_timestamp%3D1380985278%26oauth_token%3Dtok%26oauth_version%3D1.0"
        "%26tags%3Dfoo%2520bar%26title%3DJon%2520Snow"
    )
    assert "photo%3D" not in base


def capture(seen: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=OK_XML, headers={"Content-Type": "text/xml"})

    return handler


async def test_upload_signature_verifies_over_text_fields_only(
    make_client: ClientFactory, creds: Credentials, flickr_check: FlickrCheck
) -> None:
    seen: list[httpx.Request] = []
    photo = BytesPhoto("jon.jpg", b"\xff\xd8 photo=bytes&more", "image/jpeg")
    await make_client(capture(seen)).upload(creds, photo, FIELDS)
    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", "https://up.flickr.com/services/upload/")
    parts = flickr_check.parts(request)
    fields = flickr_check.text_fields(parts)
    assert fields == list(FIELDS.items())
    base = flickr_check.verify(request, creds, fields)
    assert "photo%3D" not in base
    assert "title%3DJon%2520Snow" in base


async def test_upload_sends_oauth_in_header_not_in_parts(
    make_client: ClientFactory, creds: Credentials, flickr_check: FlickrCheck
) -> None:
    seen: list[httpx.Request] = []
    await make_client(capture(seen)).upload(creds, BytesPhoto("a.png", b"x"), {})
    names = [p.disposition["name"] for p in flickr_check.parts(seen[0])]
    assert names == ["photo"]
    assert flickr_check.oauth(seen[0])["oauth_token"] == creds.token


async def test_replace_signs_photo_id_and_async(
    make_client: ClientFactory, creds: Credentials, flickr_check: FlickrCheck
) -> None:
    seen: list[httpx.Request] = []
    client = make_client(capture(seen))
    await client.replace(creds, BytesPhoto("b.jpg", b"new image"), "10100895983", {"async": "1"})
    (request,) = seen
    assert str(request.url) == "https://up.flickr.com/services/replace/"
    fields = flickr_check.text_fields(flickr_check.parts(request))
    assert fields == [("photo_id", "10100895983"), ("async", "1")]
    flickr_check.verify(request, creds, fields)


@pytest.mark.parametrize("field", ["photo", "oauth_signature"])
async def test_upload_refuses_fields_it_sets_itself(
    make_client: ClientFactory, creds: Credentials, field: str
) -> None:
    client = make_client(capture([]))
    with pytest.raises(InvalidRequest, match=field):
        await client.upload(creds, BytesPhoto("a.jpg", b"x"), {field: "x"})
