"""Every way a Flickr call fails maps to one FlickrError with the right retry flags."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from flickrhub_core.errors import (
    FlickrApiError,
    FlickrError,
    FlickrHttpError,
    FlickrOAuthError,
    FlickrTransportError,
)
from flickrhub_core.flickr import (
    CallRecord,
    Credentials,
    Endpoints,
    FlickrClient,
    is_retryable_code,
)
from flickrhub_core.flickr import client as client_module
from flickrhub_core.flickr.errors import parse_retry_after

ClientFactory = Callable[..., FlickrClient]


def answer(status: int, body: bytes | str, **headers: str) -> Callable[..., httpx.Response]:
    content = body.encode() if isinstance(body, str) else body
    return lambda request: httpx.Response(status, content=content, headers=headers)


def fail(code: int, message: str) -> Callable[..., httpx.Response]:
    return answer(200, json.dumps({"stat": "fail", "code": code, "message": message}))


async def call_error(
    make_client: ClientFactory,
    creds: Credentials,
    handler: Callable[..., httpx.Response],
    method: str = "flickr.photos.getInfo",
) -> FlickrError:
    with pytest.raises(FlickrError) as info:
        await make_client(handler).call(creds, method, {"photo_id": "1"})
    return info.value


def no_secrets(error: FlickrError, creds: Credentials) -> None:
    text = f"{error} {error.as_dict()} {error!r}"
    for secret in (creds.token, creds.token_secret, creds.consumer_secret):
        assert secret is not None
        assert secret not in text


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (1, "Photo not found"),
        (98, "Invalid auth token"),
        (99, "Insufficient permissions"),
        (100, "Invalid API Key (Key has invalid format)"),
        (112, 'Method "flickr.nonExistingMethod" not found'),
    ],
)
async def test_permanent_stat_fail_is_not_retryable(
    make_client: ClientFactory, creds: Credentials, code: int, message: str
) -> None:
    error = await call_error(make_client, creds, fail(code, message))
    assert isinstance(error, FlickrApiError)
    assert (error.flickr_code, error.retryable, error.status) == (code, False, 200)
    assert message in error.message
    assert error.as_dict()["flickr_code"] == code


async def test_service_unavailable_105_is_retryable_and_did_nothing(
    make_client: ClientFactory, creds: Credentials
) -> None:
    error = await call_error(make_client, creds, fail(105, "Service currently unavailable"))
    assert isinstance(error, FlickrApiError)
    assert (error.flickr_code, error.retryable, error.sent) == (105, True, False)


async def test_recorded_code1_fixture_is_an_api_error(
    make_client: ClientFactory, creds: Credentials, fixture_bytes: Callable[[str], bytes]
) -> None:
    body = fixture_bytes("rest_error_code1_photo_not_found.json")
    error = await call_error(make_client, creds, answer(200, body))
    assert isinstance(error, FlickrApiError)
    assert error.flickr_code == 1
    assert error.message == "Flickr error 1 on flickr.photos.getInfo: Photo not found"


@pytest.mark.parametrize(
    ("method", "retryable"),
    [
        ("flickr.photos.getInfo", True),
        ("flickr.photos.setMeta", True),
        ("flickr.photos.comments.addComment", False),
    ],
)
async def test_write_failed_106_is_retried_only_when_idempotent(
    make_client: ClientFactory, creds: Credentials, method: str, retryable: bool
) -> None:
    error = await call_error(make_client, creds, fail(106, "Write operation failed"), method)
    assert (error.retryable, error.sent) == (retryable, True)


@pytest.mark.parametrize(
    ("code", "message", "method", "retryable"),
    [
        (201, "Sorry, the Flickr API service is not currently available.", "flickr.a", True),
        (0, "Sorry, the Flickr API service is not currently available.", "flickr.a", True),
        (0, "Video uploads are temporarily disabled", "upload", False),
        (
            10,
            "Sorry, the Flickr search API is not currently available.",
            "flickr.photos.search",
            True,
        ),
        (10, "Maximum number of photos in set", "flickr.photosets.addPhoto", False),
        (3, "General upload failure", "upload", False),
        (95, "SSL is required", "flickr.a", False),
        (111, 'Format "xxx" not found', "flickr.a", False),
        (116, "Bad URL found", "flickr.a", False),
        (None, "no code at all", "flickr.a", False),
    ],
)
def test_retry_classification_of_flickr_codes(
    code: int | None, message: str, method: str, retryable: bool
) -> None:
    assert is_retryable_code(code, message, method=method, idempotent=True) is retryable


async def test_signature_invalid_401_is_oauth_error_without_debug_base_string(
    make_client: ClientFactory, creds: Credentials, fixture_bytes: Callable[[str], bytes]
) -> None:
    assert creds.token is not None
    body = fixture_bytes("oauth_signature_invalid_401.txt").replace(
        b"<ACCESS_TOKEN_KEY>", creds.token.encode()
    )
    error = await call_error(make_client, creds, answer(401, body))
    assert isinstance(error, FlickrOAuthError)
    assert (error.problem, error.status, error.retryable) == ("signature_invalid", 401, False)
    assert "debug_sbs" not in str(error) and "oauth_nonce" not in str(error)
    no_secrets(error, creds)


async def test_parameter_absent_400_is_oauth_error(
    make_client: ClientFactory, creds: Credentials
) -> None:
    body = "oauth_problem=parameter_absent&oauth_parameters_absent=oauth_token"
    error = await call_error(make_client, creds, answer(400, body))
    assert isinstance(error, FlickrOAuthError)
    assert (error.problem, error.status, error.retryable) == ("parameter_absent", 400, False)


async def test_odd_oauth_problem_text_is_not_echoed(
    make_client: ClientFactory, creds: Credentials
) -> None:
    error = await call_error(make_client, creds, answer(401, "oauth_problem=<script>x</script>"))
    assert isinstance(error, FlickrOAuthError)
    assert error.problem == "unknown"


async def test_rate_limited_429_is_retryable_with_retry_after(
    make_client: ClientFactory, creds: Credentials
) -> None:
    html = "<html><body><h1>429 Too Many Requests</h1></body></html>"
    error = await call_error(make_client, creds, answer(429, html, **{"Retry-After": "7"}))
    assert isinstance(error, FlickrHttpError)
    assert (error.status, error.retryable, error.sent, error.retry_after) == (429, True, False, 7.0)


async def test_rate_limited_429_without_header_has_no_retry_after(
    make_client: ClientFactory, creds: Credentials
) -> None:
    error = await call_error(make_client, creds, answer(429, "slow down"))
    assert isinstance(error, FlickrHttpError)
    assert error.retry_after is None


def test_retry_after_accepts_http_dates() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412500.0) == 10.0
    assert parse_retry_after("soon") is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_error_is_retryable_but_may_have_run(
    make_client: ClientFactory, creds: Credentials, status: int
) -> None:
    error = await call_error(make_client, creds, answer(status, "<html>Bad Gateway</html>"))
    assert isinstance(error, FlickrHttpError)
    assert (error.status, error.retryable, error.sent) == (status, True, True)


@pytest.mark.parametrize("status", [301, 403, 404, 401])
async def test_other_status_is_not_retryable(
    make_client: ClientFactory, creds: Credentials, status: int
) -> None:
    error = await call_error(make_client, creds, answer(status, "nope"))
    assert isinstance(error, FlickrHttpError)
    assert (error.status, error.retryable) == (status, False)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Service Unavailable</html>",
        b"",
        b'{"no": "envelope"}',
        b"\xff\xfe",
        b'{"stat": "ok"} and then text',
    ],
    ids=["html", "empty", "no-stat", "binary", "json-then-text"],
)
async def test_garbage_200_body_is_retryable(
    make_client: ClientFactory, creds: Credentials, body: bytes
) -> None:
    error = await call_error(make_client, creds, answer(200, body))
    assert isinstance(error, FlickrHttpError)
    assert (error.status, error.retryable, error.sent) == (200, True, True)


async def test_unavailable_refusal_with_a_trailing_comma_is_code_201_that_did_nothing(
    make_client: ClientFactory, creds: Credentials
) -> None:
    body = (
        '{"stat":"fail","message":"Sorry, the Flickr API service is not currently'
        ' available.","code":201},'
    )
    error = await call_error(
        make_client, creds, answer(200, body), "flickr.photos.comments.addComment"
    )
    assert isinstance(error, FlickrApiError)
    assert (error.flickr_code, error.retryable, error.sent) == (201, True, False)


async def test_xml_failure_to_a_json_request_is_still_understood(
    make_client: ClientFactory, creds: Credentials
) -> None:
    body = '<rsp stat="fail"><err code="99" msg="Insufficient permission to comment" /></rsp>'
    error = await call_error(make_client, creds, answer(200, body))
    assert isinstance(error, FlickrApiError)
    assert error.flickr_code == 99


async def test_oversized_answer_is_refused(
    make_client: ClientFactory, creds: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_RESPONSE_BYTES", 64)
    error = await call_error(
        make_client, creds, answer(200, json.dumps({"stat": "ok", "x": "y" * 100}))
    )
    assert isinstance(error, FlickrHttpError)
    assert error.retryable is False


def raising(exc: Exception) -> Callable[..., httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("Connection refused"),
        httpx.ConnectTimeout("timed out"),
        httpx.PoolTimeout("pool full"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_failure_before_sending_is_retryable_and_not_sent(
    make_client: ClientFactory, creds: Credentials, exc: Exception
) -> None:
    error = await call_error(make_client, creds, raising(exc))
    assert isinstance(error, FlickrTransportError)
    assert (error.retryable, error.sent) == (True, False)
    assert error.__cause__ is exc


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("timed out"),
        httpx.WriteTimeout("timed out"),
        httpx.ReadError("reset"),
        httpx.WriteError("broken pipe"),
        httpx.RemoteProtocolError("Server disconnected without sending a response"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_failure_after_sending_is_retryable_but_may_have_run(
    make_client: ClientFactory, creds: Credentials, exc: Exception
) -> None:
    error = await call_error(make_client, creds, raising(exc))
    assert isinstance(error, FlickrTransportError)
    assert (error.retryable, error.sent) == (True, True)


async def test_transport_error_message_names_no_host_or_secret(
    make_client: ClientFactory, creds: Credentials
) -> None:
    error = await call_error(make_client, creds, raising(httpx.ConnectError("api.flickr.com:443")))
    assert error.message == "Flickr unreachable on flickr.photos.getInfo: ConnectError"


async def test_secrets_echoed_by_flickr_are_redacted(
    make_client: ClientFactory, creds: Credentials
) -> None:
    error = await call_error(make_client, creds, fail(98, f"Invalid auth token {creds.token}"))
    no_secrets(error, creds)


async def test_failed_calls_are_reported_with_code_and_status(
    make_client: ClientFactory, creds: Credentials, records: list[CallRecord]
) -> None:
    await call_error(make_client, creds, fail(1, "Photo not found"))
    await call_error(make_client, creds, raising(httpx.ConnectError("refused")))
    api, transport = records
    assert (api.ok, api.http_status, api.flickr_code) == (False, 200, 1)
    assert (transport.ok, transport.http_status, transport.flickr_code) == (False, None, None)


async def test_failing_on_call_hook_does_not_fail_the_call(
    endpoints: Endpoints, creds: Credentials
) -> None:
    def broken(record: CallRecord) -> None:
        raise RuntimeError("metrics down")

    transport = httpx.MockTransport(answer(200, '{"stat": "ok"}'))
    async with FlickrClient(endpoints, transport=transport, on_call=broken) as client:
        assert await client.call(creds, "flickr.test.null", {}) == {"stat": "ok"}
