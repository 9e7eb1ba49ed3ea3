"""The three-legged OAuth dance: token bodies, signed token requests, authorize URL."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from flickrhub_core.errors import FlickrHttpError, FlickrOAuthError
from flickrhub_core.flickr import (
    AccessToken,
    Credentials,
    FlickrClient,
    MalformedResponse,
    RequestToken,
    parse_access_token,
    parse_request_token,
)
from tests.flickr.flickr_server_check import FlickrCheck

ClientFactory = Callable[..., FlickrClient]
CONSUMER = Credentials("consumer-key-1", "consumer-secret-1")


def test_request_token_body_parses(fixture_bytes: Callable[[str], bytes]) -> None:
    assert parse_request_token(fixture_bytes("oauth_request_token.txt")) == RequestToken(
        token="72157636219488963-fc87c7acaa3c170b",
        secret="0baa4cc1b6d8d969",
        callback_confirmed=True,
    )


def test_access_token_body_is_percent_decoded(fixture_bytes: Callable[[str], bytes]) -> None:
    assert parse_access_token(fixture_bytes("oauth_access_token.txt")) == AccessToken(
        token="72157626318069415-087bfc7b5816092c",
        secret="a202d1f853ec69de",
        user_nsid="21207597@N07",
        username="jamalfanaian",
        fullname="Jamal Fanaian",
    )


def test_access_token_without_fullname_has_empty_fullname() -> None:
    body = "oauth_token=t&oauth_token_secret=s&user_nsid=1%40N07&username=u"
    assert parse_access_token(body).fullname == ""


def test_token_body_without_secret_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        parse_request_token("oauth_callback_confirmed=true&oauth_token=t")


def test_token_values_stay_out_of_repr(fixture_bytes: Callable[[str], bytes]) -> None:
    access = parse_access_token(fixture_bytes("oauth_access_token.txt"))
    request = parse_request_token(fixture_bytes("oauth_request_token.txt"))
    creds = Credentials("ck", "consumer-secret", access.token, access.secret)
    shown = f"{access!r} {request!r} {creds!r}"
    for secret in (access.token, access.secret, request.secret, "consumer-secret"):
        assert secret not in shown
    assert "21207597@N07" in repr(access)


def answer(
    seen: list[httpx.Request], status: int, body: bytes | str
) -> Callable[..., httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            status, content=body, headers={"Content-Type": "text/plain;charset=UTF-8"}
        )

    return handler


async def test_request_token_is_a_consumer_signed_get_with_callback(
    make_client: ClientFactory, fixture_bytes: Callable[[str], bytes], flickr_check: FlickrCheck
) -> None:
    seen: list[httpx.Request] = []
    client = make_client(answer(seen, 200, fixture_bytes("oauth_request_token.txt")))
    with_token = Credentials(CONSUMER.consumer_key, CONSUMER.consumer_secret, "user-tok", "sec")
    token = await client.get_request_token(with_token, "https://hub.example/cb?state=a%2Fb c")
    (request,) = seen
    assert (request.method, str(request.url)) == (
        "GET",
        "https://www.flickr.com/services/oauth/request_token",
    )
    oauth = flickr_check.oauth(request)
    assert oauth["oauth_callback"] == "https://hub.example/cb?state=a%2Fb c"
    assert "oauth_token" not in oauth
    flickr_check.verify(request, CONSUMER, [], token_secret="")
    assert token.token == "72157636219488963-fc87c7acaa3c170b"


async def test_out_of_band_callback_is_signed_as_oob(
    make_client: ClientFactory, fixture_bytes: Callable[[str], bytes], flickr_check: FlickrCheck
) -> None:
    seen: list[httpx.Request] = []
    client = make_client(answer(seen, 200, fixture_bytes("oauth_request_token.txt")))
    await client.get_request_token(CONSUMER, "oob")
    assert flickr_check.oauth(seen[0])["oauth_callback"] == "oob"


async def test_access_token_is_signed_with_request_token_secret_and_verifier(
    make_client: ClientFactory, fixture_bytes: Callable[[str], bytes], flickr_check: FlickrCheck
) -> None:
    seen: list[httpx.Request] = []
    client = make_client(answer(seen, 200, fixture_bytes("oauth_access_token.txt")))
    access = await client.get_access_token(CONSUMER, "req-token", "req-secret", "123-456-789")
    (request,) = seen
    assert request.url.path == "/services/oauth/access_token"
    oauth = flickr_check.oauth(request)
    assert (oauth["oauth_token"], oauth["oauth_verifier"]) == ("req-token", "123-456-789")
    flickr_check.verify(request, CONSUMER, [], token_secret="req-secret")
    assert access.user_nsid == "21207597@N07"


async def test_rejected_request_token_is_oauth_error(make_client: ClientFactory) -> None:
    client = make_client(answer([], 401, "oauth_problem=token_rejected"))
    with pytest.raises(FlickrOAuthError) as info:
        await client.get_access_token(CONSUMER, "used", "secret", "v")
    assert (info.value.problem, info.value.retryable) == ("token_rejected", False)


async def test_html_instead_of_token_is_retryable(make_client: ClientFactory) -> None:
    client = make_client(answer([], 200, "<html>Flickr is having a massage</html>"))
    with pytest.raises(FlickrHttpError) as info:
        await client.get_request_token(CONSUMER, "oob")
    assert info.value.retryable


@pytest.mark.parametrize("perms", ["read", "write", "delete"])
async def test_authorize_url_carries_token_and_perms(
    make_client: ClientFactory, perms: str
) -> None:
    url = make_client(answer([], 200, "")).authorize_url("72157-abc", perms)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://www.flickr.com/services/oauth/authorize"
    )
    assert parse_qs(parts.query) == {"oauth_token": ["72157-abc"], "perms": [perms]}


@pytest.mark.parametrize("perms", ["admin", "", "READ"])
async def test_authorize_url_refuses_unknown_perms(make_client: ClientFactory, perms: str) -> None:
    with pytest.raises(ValueError, match="perms"):
        make_client(answer([], 200, "")).authorize_url("t", perms)
