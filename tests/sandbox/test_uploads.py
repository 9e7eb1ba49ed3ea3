"""Upload and replace: streamed multipart, Flickr's XML answers and error codes, async tickets."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

import httpx
import pytest
from defusedxml import ElementTree
from sandbox_helpers import (
    JPEG_HEADER,
    PNG_1X1,
    Credentials,
    keyless_oauth_header,
    rest,
    signed_multipart,
)

from flickrhub_core.sandbox.testing import SandboxServer

XML_HEAD = '<?xml version="1.0" encoding="utf-8" ?>\n'


def upload(
    http: httpx.Client,
    sandbox: SandboxServer,
    creds: Credentials,
    photo: bytes | None,
    **fields: str,
) -> httpx.Response:
    return signed_multipart(http, creds, sandbox.upload_url, fields, photo)


def error_of(response: httpx.Response) -> tuple[str, str]:
    err = ElementTree.fromstring(response.text).find("err")
    assert err is not None, response.text
    return err.get("code", ""), err.get("msg", "")


def test_sync_upload_answers_like_flickr(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    response = upload(http, sandbox, writer, PNG_1X1, title="Hello", tags="a b")
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    match = re.fullmatch(
        re.escape(XML_HEAD) + r'<rsp stat="ok">\n<photoid>(\d+)</photoid>\n</rsp>\n', response.text
    )
    assert match is not None, response.text
    info = rest(http, writer, sandbox.base_url, "flickr.photos.getInfo", photo_id=match.group(1))[
        "photo"
    ]
    assert info["title"] == {"_content": "Hello"}
    assert info["owner"]["nsid"] == writer.user_nsid
    assert [t["_content"] for t in info["tags"]["tag"]] == ["a", "b"]


def test_uploaded_photo_is_searchable_with_defaults(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    response = signed_multipart(
        http, writer, sandbox.upload_url, {}, JPEG_HEADER + b"\x00" * 100, filename="IMG_0001.jpg"
    )
    photo_id = ElementTree.fromstring(response.text).findtext("photoid")
    found = rest(
        http, writer, sandbox.base_url, "flickr.photos.search", user_id="me", extras="o_dims"
    )["photos"]["photo"]
    mine = next(p for p in found if p["id"] == photo_id)
    assert mine["title"] == "IMG_0001"
    assert (mine["o_width"], mine["o_height"]) == ("640", "480")
    assert mine["ispublic"] == 1


def test_private_upload_is_hidden_from_others(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    response = upload(http, sandbox, writer, PNG_1X1, is_public="0")
    photo_id = ElementTree.fromstring(response.text).findtext("photoid") or ""
    anon = http.get(
        sandbox.rest_url,
        params={"api_key": writer.key, "method": "flickr.photos.getInfo", "photo_id": photo_id},
    )
    assert error_of(anon) == ("1", "Photo not found")


def test_async_upload_returns_ticket_that_completes(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    response = upload(http, sandbox, writer, PNG_1X1, title="later", **{"async": "1"})
    ticket = ElementTree.fromstring(response.text).findtext("ticketid") or ""
    assert re.fullmatch(r"78701040-\d{17}", ticket)
    pending = rest(
        http, writer, sandbox.base_url, "flickr.photos.upload.checkTickets", tickets=ticket
    )
    assert pending["uploader"]["ticket"] == [{"id": ticket, "complete": 0}]
    time.sleep(0.4)
    done = rest(
        http, writer, sandbox.base_url, "flickr.photos.upload.checkTickets", tickets=ticket
    )["uploader"]["ticket"][0]
    assert done["complete"] == 1
    info = rest(http, writer, sandbox.base_url, "flickr.photos.getInfo", photo_id=done["photoid"])
    assert info["photo"]["title"] == {"_content": "later"}


@pytest.mark.parametrize("endpoint", ["upload", "replace"])
def test_oauth_without_consumer_key_and_empty_api_key_matches_recorded_code_100(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials, endpoint: str
) -> None:
    # As recorded: every OAuth parameter but oauth_consumer_key, and `api_key` empty.
    url = f"{sandbox.base_url}/services/{endpoint}/?format=json&nojsoncallback=1&api_key"
    response = http.post(
        url,
        data={"photo_id": "8130464513"} if endpoint == "replace" else {},
        files={"photo": ("photo.png", PNG_1X1, "image/png")},
        headers={"Authorization": keyless_oauth_header(writer.token)},
    )
    recorded = resources.files("flickrhub_core.sandbox").joinpath(
        "fixtures", "upload_fail_code100.xml"
    )
    assert (response.status_code, response.headers["content-type"]) == (
        200,
        "text/xml; charset=utf-8",
    )
    assert response.content == recorded.read_bytes()


def test_upload_without_photo_is_code_2(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    assert error_of(upload(http, sandbox, writer, None, title="x")) == ("2", "No photo specified")


def test_empty_photo_is_code_4(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    assert error_of(upload(http, sandbox, writer, b"")) == ("4", "Filesize was zero")


def test_non_image_is_code_5(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    assert error_of(upload(http, sandbox, writer, b"%PDF-1.4 not a photo")) == (
        "5",
        "Filetype was not recognised",
    )


def test_too_large_photo_is_code_8(make_sandbox: Any, http: httpx.Client) -> None:
    from sandbox_helpers import oauth_dance

    sandbox = make_sandbox(max_upload_bytes=1000)
    creds = oauth_dance(http, sandbox.base_url, *sandbox.consumer)
    response = upload(http, sandbox, creds, PNG_1X1 + b"\x00" * 2000)
    assert error_of(response) == ("8", "Filesize was too large")


def test_upload_with_read_token_is_99(
    sandbox: SandboxServer, http: httpx.Client, reader: Credentials
) -> None:
    code, message = error_of(upload(http, sandbox, reader, PNG_1X1))
    assert code == "99"
    assert "write" in message


def test_upload_with_unknown_key_is_xml_code_100(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    response = upload(http, sandbox, Credentials("nobody", "secret"), PNG_1X1)
    assert response.text == (
        XML_HEAD
        + '<rsp stat="fail">\n\t<err code="100" msg="Invalid API Key (Key not found)" />\n</rsp>\n'
    )


def test_upload_signature_covers_text_fields_but_not_photo(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    from urllib.parse import urlencode

    _, headers, _ = writer.client().sign(
        sandbox.upload_url,
        http_method="POST",
        body=urlencode({"title": "signed"}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    tampered = http.post(
        sandbox.upload_url,
        data={"title": "changed"},
        files={"photo": ("a.png", PNG_1X1)},
        headers={"Authorization": headers["Authorization"]},
    )
    assert tampered.status_code == 401
    assert "title%3Dsigned" not in tampered.text
    assert "title%3Dchanged" in tampered.text
    assert "photo" not in tampered.text.split("debug_sbs=")[1]


def test_large_upload_is_streamed_and_hashed(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    chunk = JPEG_HEADER + bytes(range(256)) * 4096
    size = 20 * 1024 * 1024  # beyond Quart's default 16 MB body limit

    def body() -> Iterator[bytes]:
        sent = 0
        while sent < size:
            piece = chunk[: size - sent]
            sent += len(piece)
            yield piece

    digest = hashlib.sha256(b"".join(body())).hexdigest()
    from urllib.parse import urlencode

    boundary = "sandboxboundary"
    _, headers, _ = writer.client().sign(
        sandbox.upload_url,
        http_method="POST",
        body=urlencode({"title": "big"}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    def multipart() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nbig\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="big.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        yield from body()
        yield f"\r\n--{boundary}--\r\n".encode()

    response = http.post(
        sandbox.upload_url,
        content=multipart(),
        headers={
            "Authorization": headers["Authorization"],
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    photo_id = ElementTree.fromstring(response.text).findtext("photoid") or ""
    stored = sandbox.state.library.photos[photo_id]
    assert (stored.size_bytes, stored.sha256) == (size, digest)


def test_replace_gives_new_secrets(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    before = rest(http, writer, sandbox.base_url, "flickr.photos.getInfo", photo_id="10100895983")[
        "photo"
    ]["secret"]
    response = signed_multipart(
        http, writer, sandbox.replace_url, {"photo_id": "10100895983"}, PNG_1X1
    )
    match = re.fullmatch(
        re.escape(XML_HEAD)
        + r'<rsp stat="ok">\n<photoid secret="([0-9a-f]{10})" originalsecret="([0-9a-f]{10})">10100895983</photoid>\n</rsp>\n',
        response.text,
    )
    assert match is not None, response.text
    after = rest(http, writer, sandbox.base_url, "flickr.photos.getInfo", photo_id="10100895983")[
        "photo"
    ]["secret"]
    assert after == match.group(1) != before


def test_async_replace_changes_secret_on_completion(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    response = signed_multipart(
        http, writer, sandbox.replace_url, {"photo_id": "8130464513", "async": "1"}, PNG_1X1
    )
    ticket = ElementTree.fromstring(response.text).findtext("ticketid") or ""
    time.sleep(0.4)
    done = rest(
        http, writer, sandbox.base_url, "flickr.photos.upload.checkTickets", tickets=ticket
    )["uploader"]["ticket"][0]
    assert (done["complete"], done["photoid"]) == (1, "8130464513")
    info = rest(http, writer, sandbox.base_url, "flickr.photos.getInfo", photo_id="8130464513")[
        "photo"
    ]
    assert info["secret"] != "780e01decd"


def test_replace_unknown_photo_is_code_2(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    response = signed_multipart(http, writer, sandbox.replace_url, {"photo_id": "1"}, PNG_1X1)
    assert error_of(response) == ("2", "No photo specified")


def test_replace_without_photo_id_is_code_2(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    response = signed_multipart(http, writer, sandbox.replace_url, {}, PNG_1X1)
    assert error_of(response) == ("2", "No photo specified")


def test_replace_someone_elses_photo_is_code_2(sandbox: SandboxServer, http: httpx.Client) -> None:
    from sandbox_helpers import oauth_dance

    other = oauth_dance(http, sandbox.base_url, *sandbox.consumer, username="mallory")
    response = signed_multipart(
        http, other, sandbox.replace_url, {"photo_id": "8130464513"}, PNG_1X1
    )
    assert error_of(response) == ("2", "No photo specified")


def test_replace_without_photo_is_code_2(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    response = signed_multipart(http, writer, sandbox.replace_url, {"photo_id": "8130464513"}, None)
    assert error_of(response) == ("2", "No photo specified")
