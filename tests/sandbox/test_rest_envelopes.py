"""REST response formats and Flickr's error codes, checked against the recorded fixtures."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import httpx
import pytest
from defusedxml import ElementTree
from sandbox_helpers import Credentials, keyless_oauth_header, oauth_dance, rest, signed

from flickrhub_core.sandbox.testing import SandboxServer


def fixture_text(name: str) -> str:
    return resources.files("flickrhub_core.sandbox").joinpath("fixtures", name).read_text("utf-8")


def fixture(name: str) -> Any:
    return json.loads(fixture_text(name))


def anon(http: httpx.Client, sandbox: SandboxServer, **params: str) -> httpx.Response:
    return http.get(sandbox.rest_url, params={"api_key": sandbox.consumer[0], **params})


def test_json_with_nojsoncallback_is_plain_json(sandbox: SandboxServer, http: httpx.Client) -> None:
    response = anon(
        http, sandbox, method="flickr.test.echo", format="json", nojsoncallback="1", foo="bar"
    )
    assert response.headers["content-type"] == "application/json"
    assert response.json()["foo"] == {"_content": "bar"}
    assert response.json()["stat"] == "ok"


def test_json_without_nojsoncallback_is_jsonp(sandbox: SandboxServer, http: httpx.Client) -> None:
    response = anon(http, sandbox, method="flickr.test.echo", format="json")
    assert response.text.startswith("jsonFlickrApi({")
    assert response.text.endswith("})")
    assert json.loads(response.text[len("jsonFlickrApi(") : -1])["stat"] == "ok"


def test_jsoncallback_names_the_wrapper(sandbox: SandboxServer, http: httpx.Client) -> None:
    response = anon(http, sandbox, method="flickr.test.echo", format="json", jsoncallback="cb_1")
    assert response.text.startswith("cb_1({")


def test_unsafe_jsoncallback_falls_back_to_flickr_default(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    response = anon(
        http, sandbox, method="flickr.test.echo", format="json", jsoncallback="alert(1);x"
    )
    assert response.text.startswith("jsonFlickrApi({")


def test_default_format_is_xml(sandbox: SandboxServer, http: httpx.Client) -> None:
    response = anon(http, sandbox, method="flickr.photos.getInfo", photo_id="7986395865")
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.text.startswith('<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="ok">')
    rsp = ElementTree.fromstring(response.text)
    photo = rsp.find("photo")
    assert photo is not None
    assert photo.get("id") == "7986395865"
    assert photo.findtext("title") == "Game of Thrones"
    assert [tag.get("raw") for tag in photo.iter("tag")] == ["Test"]


def test_xml_failure_document_is_byte_exact(sandbox: SandboxServer, http: httpx.Client) -> None:
    response = anon(http, sandbox, method="flickr.photos.getInfo", photo_id="1", format="rest")
    assert response.text == (
        '<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="fail">\n'
        '\t<err code="1" msg="Photo not found" />\n</rsp>\n'
    )


def test_missing_photo_id_matches_recorded_failure(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    response = anon(
        http, sandbox, method="flickr.photos.getInfo", format="json", nojsoncallback="1"
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.json() == fixture("rest_error_code1_photo_not_found.json")


def test_json_is_printed_like_flickr(sandbox: SandboxServer, http: httpx.Client) -> None:
    response = anon(
        http,
        sandbox,
        method="flickr.photos.getInfo",
        photo_id="8130464513",
        format="json",
        nojsoncallback="1",
    )
    assert '{"photo":{"id":"8130464513", "secret":"780e01decd"' in response.text
    assert "https:\\/\\/www.flickr.com\\/photos\\/" in response.text


def test_unknown_method_is_112(sandbox: SandboxServer, http: httpx.Client) -> None:
    response = anon(
        http, sandbox, method="flickr.nonExistingMethod", format="json", nojsoncallback="1"
    )
    assert response.json() == {
        "stat": "fail",
        "code": 112,
        "message": 'Method "flickr.nonExistingMethod" not found',
    }


def test_unknown_format_is_111(sandbox: SandboxServer, http: httpx.Client) -> None:
    response = anon(http, sandbox, method="flickr.test.echo", format="soap")
    assert '<err code="111" msg="Format &quot;soap&quot; not found" />' in response.text


def test_missing_api_key_is_100_invalid_format(sandbox: SandboxServer, http: httpx.Client) -> None:
    response = http.get(
        sandbox.rest_url,
        params={"method": "flickr.test.echo", "format": "json", "nojsoncallback": "1"},
    )
    assert response.json() == {
        "stat": "fail",
        "code": 100,
        "message": "Invalid API Key (Key has invalid format)",
    }


@pytest.mark.parametrize(
    ("fmt", "content_type", "body"),
    [
        (
            {"format": "json", "nojsoncallback": "1"},
            "text/plain; charset=utf-8",
            '{"stat":"fail", "code":100, "message":"Invalid API Key (Key has invalid format)"}',
        ),
        ({}, "text/xml; charset=utf-8", fixture_text("upload_fail_code100.xml")),
    ],
    ids=["json", "rest"],
)
def test_oauth_without_consumer_key_and_empty_api_key_is_100_invalid_format(
    sandbox: SandboxServer,
    http: httpx.Client,
    reader: Credentials,
    fmt: dict[str, str],
    content_type: str,
    body: str,
) -> None:
    # As recorded: every OAuth parameter but oauth_consumer_key, and `api_key` empty.
    response = http.get(
        sandbox.rest_url,
        params={**fmt, "api_key": "", "method": "flickr.test.null"},
        headers={"Authorization": keyless_oauth_header(reader.token)},
    )
    assert (response.status_code, response.headers["content-type"]) == (200, content_type)
    assert response.text == body


def test_signed_echo_has_flickr_oauth_members(
    sandbox: SandboxServer, http: httpx.Client, reader: Credentials
) -> None:
    echo = rest(http, reader, sandbox.base_url, "flickr.test.echo")
    recorded = fixture("rest_flickr.test.echo.json")
    assert set(recorded) - {"api_key"} <= set(echo)
    assert echo["api_sig"] == echo["oauth_signature"]
    assert echo["auth_token"] == {"_content": reader.token}
    assert echo["api_auth_is_oauth"] == {"_content": "1"}


def test_login_matches_recorded_shape(
    sandbox: SandboxServer, http: httpx.Client, reader: Credentials
) -> None:
    assert rest(http, reader, sandbox.base_url, "flickr.test.login") == fixture(
        "rest_flickr.test.login.json"
    )


def test_login_without_token_when_signed_is_parameter_absent(
    sandbox: SandboxServer, http: httpx.Client, consumer: Credentials
) -> None:
    response = signed(http, consumer, "POST", sandbox.rest_url, {"method": "flickr.test.login"})
    assert response.status_code == 400
    assert response.text == "oauth_problem=parameter_absent&oauth_parameters_absent=oauth_token"


def test_login_unsigned_is_99(sandbox: SandboxServer, http: httpx.Client) -> None:
    response = anon(http, sandbox, method="flickr.test.login", format="json", nojsoncallback="1")
    assert response.json()["code"] == 99
    assert (
        response.json()["message"]
        == "Insufficient permissions. Method requires read privileges; none granted."
    )


def test_write_method_with_read_token_is_99(
    sandbox: SandboxServer, http: httpx.Client, reader: Credentials
) -> None:
    answer = rest(
        http, reader, sandbox.base_url, "flickr.photos.setMeta", photo_id="8130464513", title="x"
    )
    assert answer == {
        "stat": "fail",
        "code": 99,
        "message": "Insufficient permissions. Method requires write privileges; read granted.",
    }


def test_revoked_token_is_98(
    sandbox: SandboxServer, http: httpx.Client, reader: Credentials
) -> None:
    assert (
        http.post(
            f"{sandbox.base_url}/sandbox/tokens/revoke", json={"oauth_token": reader.token}
        ).status_code
        == 200
    )
    answer = rest(http, reader, sandbox.base_url, "flickr.test.login")
    assert answer == {"stat": "fail", "code": 98, "message": "Invalid auth token"}


def test_token_of_another_consumer_is_98(make_sandbox: Any, http: httpx.Client) -> None:
    sandbox = make_sandbox(consumers={"key-one": "secret-one", "key-two": "secret-two"})
    creds = oauth_dance(http, sandbox.base_url, "key-one", "secret-one")
    borrowed = Credentials("key-two", "secret-two", creds.token, creds.token_secret)
    assert rest(http, borrowed, sandbox.base_url, "flickr.test.login")["code"] == 98


def test_write_method_over_get_is_refused(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    params = {
        "method": "flickr.photos.setMeta",
        "photo_id": "8130464513",
        "title": "x",
        "format": "json",
        "nojsoncallback": "1",
    }
    response = signed(http, writer, "GET", sandbox.rest_url, params)
    assert response.json() == {
        "stat": "fail",
        "code": 116,
        "message": "The POST method is now required for all setters",
    }


@pytest.mark.parametrize(
    ("method", "params", "code", "message"),
    [
        ("flickr.people.getInfo", {"user_id": "1@N01"}, 1, "User not found"),
        (
            "flickr.photos.setMeta",
            {"photo_id": "8130464513"},
            2,
            "At least one of title or description must be set",
        ),
        ("flickr.photos.setMeta", {"photo_id": "1", "title": "t"}, 1, "Photo not found"),
        (
            "flickr.photosets.addPhoto",
            {"photoset_id": "1", "photo_id": "8130464513"},
            1,
            "Photoset not found",
        ),
        ("flickr.photosets.create", {"primary_photo_id": "8130464513"}, 1, "No title specified"),
        ("flickr.photos.search", {"user_id": "1@N01"}, 2, "Unknown user"),
    ],
)
def test_method_specific_error_codes(
    sandbox: SandboxServer,
    http: httpx.Client,
    writer: Credentials,
    method: str,
    params: dict[str, str],
    code: int,
    message: str,
) -> None:
    assert rest(http, writer, sandbox.base_url, method, **params) == {
        "stat": "fail",
        "code": code,
        "message": message,
    }


def test_post_form_params_reach_the_method(sandbox: SandboxServer, http: httpx.Client) -> None:
    response = http.post(
        f"{sandbox.base_url}/services/rest",
        data={
            "api_key": sandbox.consumer[0],
            "method": "flickr.test.echo",
            "x": "y",
            "format": "json",
            "nojsoncallback": "1",
        },
    )
    assert response.json()["x"] == {"_content": "y"}
