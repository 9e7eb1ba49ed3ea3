"""OAuth 1.0a signature verification on every endpoint, and how failures look."""

from __future__ import annotations

import time
from urllib.parse import quote, unquote

import httpx
from sandbox_helpers import Credentials, signed

from flickrhub_core.sandbox import oauth
from flickrhub_core.sandbox.testing import SandboxServer

ECHO = {"method": "flickr.test.echo", "format": "json", "nojsoncallback": "1"}


def test_base_string_and_signature_match_rfc5849_example() -> None:
    params = oauth.RequestParams(
        query=[("file", "vacation.jpg"), ("size", "original")],
        header=[
            ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
            ("oauth_token", "nnch734d00sl2jdk"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131202"),
            ("oauth_nonce", "chapoH"),
        ],
        body=[],
    )
    base = oauth.base_string("GET", "http://photos.example.net/photos", params.ordered())
    assert base == (
        "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key"
        "%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26oauth_signature_method%3DHMAC-SHA1"
        "%26oauth_timestamp%3D137131202%26oauth_token%3Dnnch734d00sl2jdk%26size%3Doriginal"
    )
    assert (
        oauth.sign(base, "kd94hf93k423kf44", "pfkkdhi9sl3r4s00") == "MdpQcU8iPSUjWoN/UDMsK2sui9I="
    )


def test_signature_matches_flickr_sdk_vector() -> None:
    params = [
        ("method", "flickr.test.echo"),
        ("foo", "bar"),
        ("oauth_consumer_key", "consumer key"),
        ("oauth_nonce", "p2m2bnHdXVIsQH0FUv0oN9XrJU57ak7dSSpHU36mn4k="),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "499166400"),
        ("oauth_token", "oauth token"),
        ("oauth_version", "1.0"),
    ]
    base = oauth.base_string("GET", "https://api.flickr.com/services/rest", params)
    assert (
        oauth.sign(base, "consumer secret", "oauth token secret") == "Dz9rJCs/jKRPMeLztpj7T9Ur9m0="
    )


def test_header_signed_get_is_accepted(
    sandbox: SandboxServer, http: httpx.Client, consumer: Credentials
) -> None:
    response = signed(http, consumer, "GET", sandbox.rest_url, ECHO, where="header")
    assert response.status_code == 200
    assert response.json()["api_auth_is_oauth"] == {"_content": "1"}


def test_query_signed_get_is_accepted(
    sandbox: SandboxServer, http: httpx.Client, consumer: Credentials
) -> None:
    response = signed(http, consumer, "GET", sandbox.rest_url, ECHO, where="query")
    assert response.json()["stat"] == "ok"


def test_body_signed_post_is_accepted(
    sandbox: SandboxServer, http: httpx.Client, consumer: Credentials
) -> None:
    response = signed(http, consumer, "POST", sandbox.rest_url, ECHO, where="body")
    assert response.json()["stat"] == "ok"


def test_path_without_trailing_slash_is_its_own_endpoint(
    sandbox: SandboxServer, http: httpx.Client, consumer: Credentials
) -> None:
    response = signed(http, consumer, "GET", f"{sandbox.base_url}/services/rest", ECHO)
    assert response.json()["stat"] == "ok"


def test_signature_for_other_path_variant_is_rejected(
    sandbox: SandboxServer, http: httpx.Client, consumer: Credentials
) -> None:
    client = consumer.client()
    uri, headers, _ = client.sign(f"{sandbox.base_url}/services/rest/?method=flickr.test.echo")
    response = http.get(uri.replace("/services/rest/?", "/services/rest?"), headers=headers)
    assert response.status_code == 401
    assert f"GET&http%3A%2F%2F127.0.0.1%3A{sandbox.port}%2Fservices%2Frest&method" in response.text


def test_bad_signature_is_401_with_flickr_debug_base_string(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    key, _ = sandbox.consumer
    response = signed(http, Credentials(key, "wrong-secret"), "POST", sandbox.rest_url, ECHO)
    assert response.status_code == 401
    assert response.headers["content-type"] == "text/plain;charset=UTF-8"
    problem, _, sbs = response.text.partition("&debug_sbs=")
    assert problem == "oauth_problem=signature_invalid"
    assert sbs.startswith(f"POST&http%3A%2F%2F127.0.0.1%3A{sandbox.port}%2Fservices%2Frest%2F&")
    assert f"oauth_consumer_key%3D{key}" in sbs
    assert "method%3Dflickr.test.echo" in sbs


def test_tampered_parameter_is_rejected(
    sandbox: SandboxServer, http: httpx.Client, consumer: Credentials
) -> None:
    client = consumer.client()
    uri, headers, _ = client.sign(f"{sandbox.rest_url}?method=flickr.test.echo&foo=1")
    response = http.get(uri.replace("foo=1", "foo=2"), headers=headers)
    assert response.status_code == 401


def test_unknown_consumer_key_on_rest_is_code_100(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    response = signed(http, Credentials("nobody", "secret"), "GET", sandbox.rest_url, ECHO)
    assert response.status_code == 200
    assert response.json() == {
        "stat": "fail",
        "code": 100,
        "message": "Invalid API Key (Key not found)",
    }


def test_unsigned_call_with_unknown_api_key_is_code_100(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    response = http.get(sandbox.rest_url, params={**ECHO, "api_key": "nobody"})
    assert response.json()["code"] == 100


def test_unknown_consumer_key_on_oauth_endpoint_is_401(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    creds = Credentials("nobody", "secret")
    response = signed(
        http, creds, "GET", f"{sandbox.oauth_url}/request_token", {}, callback_uri="oob"
    )
    assert response.status_code == 401
    assert response.text == "oauth_problem=consumer_key_unknown"


def test_stale_timestamp_is_refused(
    sandbox: SandboxServer, http: httpx.Client, consumer: Credentials
) -> None:
    stale = str(int(time.time()) - 3600)
    response = signed(http, consumer, "GET", sandbox.rest_url, ECHO, timestamp=stale)
    assert response.status_code == 401
    assert response.text.startswith("oauth_problem=timestamp_refused")


def test_replayed_nonce_is_refused(
    sandbox: SandboxServer, http: httpx.Client, consumer: Credentials
) -> None:
    client = consumer.client(nonce="fixednonce123", timestamp=str(int(time.time())))
    uri, headers, _ = client.sign(f"{sandbox.rest_url}?method=flickr.test.echo")
    assert http.get(uri, headers=headers).status_code == 200
    replay = http.get(uri, headers=headers)
    assert replay.status_code == 401
    assert replay.text == "oauth_problem=nonce_used"


def test_missing_signature_parameter_is_parameter_absent(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    key, _ = sandbox.consumer
    response = http.get(sandbox.rest_url, params={**ECHO, "oauth_consumer_key": key})
    assert response.status_code == 400
    assert response.text.startswith("oauth_problem=parameter_absent&oauth_parameters_absent=")
    assert "oauth_signature" in unquote(response.text)


def test_multipart_rest_call_signs_its_text_fields(
    sandbox: SandboxServer, http: httpx.Client, consumer: Credentials
) -> None:
    from urllib.parse import urlencode

    fields = {**ECHO, "foo": "multi part"}
    _, headers, _ = consumer.client().sign(
        sandbox.rest_url,
        http_method="POST",
        body=urlencode(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    files = {"ignored": ("a.bin", b"\x00\x01", "application/octet-stream")}
    response = http.post(
        sandbox.rest_url,
        data=fields,
        files=files,
        headers={"Authorization": headers["Authorization"]},
    )
    assert response.json()["foo"] == {"_content": "multi part"}


def test_callback_with_escaped_query_verifies_in_header(
    sandbox: SandboxServer, http: httpx.Client, consumer: Credentials
) -> None:
    callback = "http://127.0.0.1:9/cb?next=%2Fhome%20page&x=1"
    response = signed(
        http, consumer, "POST", f"{sandbox.oauth_url}/request_token", {}, callback_uri=callback
    )
    assert response.status_code == 200, response.text


def test_callback_signed_by_oauthlib_in_query_verifies(
    sandbox: SandboxServer, http: httpx.Client, consumer: Credentials
) -> None:
    callback = "http://127.0.0.1:9/cb?next=" + quote("/a b", safe="")
    response = signed(
        http,
        consumer,
        "GET",
        f"{sandbox.oauth_url}/request_token",
        {},
        where="query",
        callback_uri=callback,
    )
    assert response.status_code == 200, response.text


def test_oauth_params_as_multipart_fields_verify(
    sandbox: SandboxServer, http: httpx.Client, consumer: Credentials
) -> None:
    """Flickr's Node SDK sends write calls as multipart with the oauth_* values as fields."""
    from urllib.parse import parse_qsl, urlencode

    _, _, body = consumer.client("body").sign(
        sandbox.rest_url,
        http_method="POST",
        body=urlencode(ECHO),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    fields = dict(parse_qsl(body))
    response = http.post(sandbox.rest_url, files={k: (None, v) for k, v in fields.items()})
    assert response.json()["api_auth_is_oauth"] == {"_content": "1"}
