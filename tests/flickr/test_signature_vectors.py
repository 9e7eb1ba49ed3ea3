"""The signer reproduces the published OAuth 1.0a vectors (flickr-api.md §7)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header, unescape

from flickrhub_core.flickr import (
    Credentials,
    authorization_header,
    hmac_sha1_signature,
    signature_base_string,
)

RFC_KEY, RFC_SECRET = "dpf43f3p2l4k3l03", "kd94hf93k423kf44"
SDK_NONCE = "p2m2bnHdXVIsQH0FUv0oN9XrJU57ak7dSSpHU36mn4k="
SDK_TS = "499166400"


@dataclass(frozen=True)
class Vector:
    method: str
    url: str
    params: list[tuple[str, str]]
    consumer_secret: str
    token_secret: str
    base: str
    signature: str


def _sdk_oauth(token: str | None = None) -> list[tuple[str, str]]:
    params = [
        ("oauth_consumer_key", "consumer key"),
        ("oauth_nonce", SDK_NONCE),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", SDK_TS),
        ("oauth_version", "1.0"),
    ]
    return [*params, ("oauth_token", token)] if token else params


V1 = Vector(
    "GET",
    "http://photos.example.net/photos?file=vacation.jpg&size=original",
    [
        ("oauth_consumer_key", RFC_KEY),
        ("oauth_token", "nnch734d00sl2jdk"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131202"),
        ("oauth_nonce", "chapoH"),
        ("realm", "Photos"),
    ],
    RFC_SECRET,
    "pfkkdhi9sl3r4s00",
    "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key"
    "%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26oauth_signature_method%3DHMAC-SHA1"
    "%26oauth_timestamp%3D137131202%26oauth_token%3Dnnch734d00sl2jdk%26size%3Doriginal",
    "MdpQcU8iPSUjWoN/UDMsK2sui9I=",
)
V2 = Vector(
    "POST",
    "https://photos.example.net/initiate",
    [
        ("oauth_consumer_key", RFC_KEY),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131200"),
        ("oauth_nonce", "wIjqoS"),
        ("oauth_callback", "http://printer.example.com/ready"),
    ],
    RFC_SECRET,
    "",
    "POST&https%3A%2F%2Fphotos.example.net%2Finitiate&oauth_callback%3Dhttp%253A%252F%252F"
    "printer.example.com%252Fready%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce"
    "%3DwIjqoS%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131200",
    "74KNZJeDHnMBp0EMJ9ZHt/XKycU=",
)
V3 = Vector(
    "POST",
    "https://photos.example.net/token",
    [
        ("oauth_consumer_key", RFC_KEY),
        ("oauth_token", "hh5s93j4hdidpola"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131201"),
        ("oauth_nonce", "walatlh"),
        ("oauth_verifier", "hfdp7dh39dks9884"),
    ],
    RFC_SECRET,
    "hdhd0244k9j7ao03",
    "POST&https%3A%2F%2Fphotos.example.net%2Ftoken&oauth_consumer_key%3Ddpf43f3p2l4k3l03"
    "%26oauth_nonce%3Dwalatlh%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp"
    "%3D137131201%26oauth_token%3Dhh5s93j4hdidpola%26oauth_verifier%3Dhfdp7dh39dks9884",
    "gKgrFCywp7rO0OXSjdot/IHF7IU=",
)
# Query with %-escapes, an empty value and a space; form body "c2&a3=2+q" decoded.
V4 = Vector(
    "POST",
    "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b",
    [
        ("c2", ""),
        ("a3", "2 q"),
        ("oauth_consumer_key", "9djdj82h48djs9d2"),
        ("oauth_token", "kkk9d7dh3k39sjv7"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131201"),
        ("oauth_nonce", "7d8f3e4a"),
        ("realm", "Example"),
    ],
    "j49sk3j29djd",
    "dh893hdasih9",
    "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5"
    "%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26"
    "oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp"
    "%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7",
    # The RFC prints bYT5CMsGcbgUdFHObYMEfcx6bsw=, which no HMAC reproduces (erratum).
    "r6/TJjbCOr97/+UU0NsvSne7s5g=",
)
V5 = Vector(
    "GET",
    "http://photos.example.net/photos?file=vacation.jpg&size=original",
    [
        ("oauth_consumer_key", RFC_KEY),
        ("oauth_token", "nnch734d00sl2jdk"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "1191242096"),
        ("oauth_nonce", "kllo9940pd9333jh"),
        ("oauth_version", "1.0"),
    ],
    RFC_SECRET,
    "pfkkdhi9sl3r4s00",
    "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key"
    "%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh%26oauth_signature_method"
    "%3DHMAC-SHA1%26oauth_timestamp%3D1191242096%26oauth_token%3Dnnch734d00sl2jdk"
    "%26oauth_version%3D1.0%26size%3Doriginal",
    "tR3+Ty81lMeYAr/Fid0kMTYa/WM=",
)
V8 = Vector(
    "GET",
    "https://api.flickr.com/services/rest",
    [("method", "flickr.test.echo"), ("foo", "bar"), *_sdk_oauth("oauth token")],
    "consumer secret",
    "oauth token secret",
    "GET&https%3A%2F%2Fapi.flickr.com%2Fservices%2Frest&foo%3Dbar%26method%3Dflickr.test.echo"
    "%26oauth_consumer_key%3Dconsumer%2520key%26oauth_nonce%3Dp2m2bnHdXVIsQH0FUv0oN9XrJU57ak7"
    "dSSpHU36mn4k%253D%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D499166400"
    "%26oauth_token%3Doauth%2520token%26oauth_version%3D1.0",
    "Dz9rJCs/jKRPMeLztpj7T9Ur9m0=",
)
V9 = Vector(
    "GET",
    "https://www.flickr.com/services/oauth/request_token",
    [("oauth_callback", "https://www.example.com/callback"), *_sdk_oauth()],
    "consumer secret",
    "",
    "GET&https%3A%2F%2Fwww.flickr.com%2Fservices%2Foauth%2Frequest_token&oauth_callback%3D"
    "https%253A%252F%252Fwww.example.com%252Fcallback%26oauth_consumer_key%3Dconsumer%2520key"
    "%26oauth_nonce%3Dp2m2bnHdXVIsQH0FUv0oN9XrJU57ak7dSSpHU36mn4k%253D%26oauth_signature_method"
    "%3DHMAC-SHA1%26oauth_timestamp%3D499166400%26oauth_version%3D1.0",
    "JC6IWgvysQg30vh3Xk6TjARQWps=",
)
V10 = Vector(
    "GET",
    "https://www.flickr.com/services/oauth/access_token",
    [("oauth_verifier", "verfier"), *_sdk_oauth("token")],
    "consumer secret",
    "tokenSecret",
    "GET&https%3A%2F%2Fwww.flickr.com%2Fservices%2Foauth%2Faccess_token&oauth_consumer_key%3D"
    "consumer%2520key%26oauth_nonce%3Dp2m2bnHdXVIsQH0FUv0oN9XrJU57ak7dSSpHU36mn4k%253D%26"
    "oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D499166400%26oauth_token%3Dtoken"
    "%26oauth_verifier%3Dverfier%26oauth_version%3D1.0",
    "7+3k1AWzUyxOoNO4rymh0Txz5FA=",
)
VECTORS = {"V1": V1, "V2": V2, "V3": V3, "V4": V4, "V5": V5, "V8": V8, "V9": V9, "V10": V10}

# V6/V7 (SDK7 test/oauth.ts): no oauth params, URL without a path. The SDK signs
# "http://www.example.com"; oauthlib (per RFC 2616 §5.1.2, and what a server sees on
# the request line) normalises the empty path to "/". Flickr URLs always have a path.
SDK_BARE_HOST_BASE = "GET&http%3A%2F%2Fwww.example.com&bar%3D456%26foo%3D123"


@pytest.mark.parametrize("name", VECTORS)
def test_base_string_matches_vector(name: str) -> None:
    v = VECTORS[name]
    assert signature_base_string(v.method, v.url, v.params) == v.base


@pytest.mark.parametrize("name", VECTORS)
def test_signature_matches_vector(name: str) -> None:
    v = VECTORS[name]
    base = signature_base_string(v.method, v.url, v.params)
    assert hmac_sha1_signature(base, v.consumer_secret, v.token_secret) == v.signature


def test_rfc_printed_v4_signature_is_the_erratum_not_ours() -> None:
    base = signature_base_string(V4.method, V4.url, V4.params)
    assert hmac_sha1_signature(base, V4.consumer_secret, V4.token_secret) != (
        "bYT5CMsGcbgUdFHObYMEfcx6bsw="
    )


@pytest.mark.parametrize(
    ("token_secret", "expected"),
    [("", "lNBTzyWRRHBuoXmgK13Nht5oiKs="), ("keyboard cat", "pytjoWTzMmvq13/Bai9YVX1tV9c=")],
    ids=["V6", "V7"],
)
def test_hmac_key_encodes_secrets_with_spaces(token_secret: str, expected: str) -> None:
    assert hmac_sha1_signature(SDK_BARE_HOST_BASE, "consumer secret", token_secret) == expected


def test_bare_host_url_is_signed_with_root_path() -> None:
    base = signature_base_string("GET", "http://www.example.com", [("foo", "123"), ("bar", "456")])
    assert base == "GET&http%3A%2F%2Fwww.example.com%2F&bar%3D456%26foo%3D123"


def _header_params(header: str) -> dict[str, str]:
    # oauthlib 4 returns header values still percent-encoded.
    return {k: unescape(v) for k, v in parse_authorization_header(header)}


@pytest.mark.parametrize(
    ("name", "creds", "url", "params", "extra"),
    [
        (
            "V8",
            Credentials("consumer key", "consumer secret", "oauth token", "oauth token secret"),
            "https://api.flickr.com/services/rest",
            [("method", "flickr.test.echo"), ("foo", "bar")],
            None,
        ),
        (
            "V9",
            Credentials("consumer key", "consumer secret"),
            "https://www.flickr.com/services/oauth/request_token",
            [],
            {"oauth_callback": "https://www.example.com/callback"},
        ),
        (
            "V10",
            Credentials("consumer key", "consumer secret", "token", "tokenSecret"),
            "https://www.flickr.com/services/oauth/access_token",
            [],
            {"oauth_verifier": "verfier"},
        ),
    ],
    ids=["V8", "V9", "V10"],
)
def test_authorization_header_carries_vector_signature(
    name: str,
    creds: Credentials,
    url: str,
    params: list[tuple[str, str]],
    extra: dict[str, str] | None,
) -> None:
    header = authorization_header(
        creds, "GET", url, params, oauth_extra=extra, nonce=SDK_NONCE, timestamp=SDK_TS
    )
    assert header.startswith("OAuth ")
    sent = _header_params(header)
    assert sent["oauth_signature"] == VECTORS[name].signature
    assert sent["oauth_nonce"] == SDK_NONCE
    assert sent["oauth_version"] == "1.0"


def test_authorization_header_uses_fresh_nonce_and_timestamp() -> None:
    creds = Credentials("k", "s", "t", "ts")
    first = _header_params(authorization_header(creds, "GET", "https://x.test/r/"))
    second = _header_params(authorization_header(creds, "GET", "https://x.test/r/"))
    assert first["oauth_nonce"] != second["oauth_nonce"]
    assert first["oauth_timestamp"].isdigit()


def test_trailing_slash_changes_the_signature() -> None:
    params = [("method", "flickr.test.echo"), ("oauth_nonce", "n")]
    with_slash = signature_base_string("GET", "https://api.flickr.com/services/rest/", params)
    without = signature_base_string("GET", "https://api.flickr.com/services/rest", params)
    assert with_slash != without
    assert "%2Fservices%2Frest%2F&" in with_slash


def test_non_default_port_is_signed() -> None:
    base = signature_base_string("GET", "http://127.0.0.1:8099/services/rest/", [])
    assert base == "GET&http%3A%2F%2F127.0.0.1%3A8099%2Fservices%2Frest%2F&"
