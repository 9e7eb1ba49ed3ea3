"""Every answer is the earlier system's envelope, errors of every kind included."""

from __future__ import annotations

from typing import Any

from quart import Quart

from flickrhub_api import create_app
from flickrhub_core.runtime import Runtime
from tests.api.conftest import REST, Client


def assert_error(body: dict[str, Any], code: str) -> dict[str, Any]:
    assert set(body) == {"request_id", "data", "error"}
    assert body["data"] is None
    assert body["request_id"].startswith("req-")
    assert body["error"]["code"] == code
    error: dict[str, Any] = body["error"]
    return error


async def test_validation_details_are_the_earlier_systems_strings(client: Client) -> None:
    body = {"method": 1, "user_id": 2, "params": [], "callback_url": 3, "callback_secret": 4}
    response = await client.post(REST, json={**body, "meta": "x"})
    assert response.status_code == 400
    error = assert_error(await response.get_json(), "ERR_INVALID_REQUEST")
    assert error["message"] == "Invalid request"
    assert sorted(error["details"]) == [
        "callbackSecret must be string",
        "callbackUrl must be string",
        "meta must be object",
        "method is required",
        "params must be object",
        "userId is required",
    ]


async def test_an_empty_body_reports_every_missing_field_at_once(client: Client) -> None:
    response = await client.post(REST, json={})
    error = assert_error(await response.get_json(), "ERR_INVALID_REQUEST")
    assert error["details"] == ["method is required", "userId is required"]


async def test_validation_fields_name_each_bad_field_with_its_message(client: Client) -> None:
    response = await client.post(REST, json={"params": [], "meta": "x"})
    error = assert_error(await response.get_json(), "ERR_INVALID_REQUEST")
    assert error["fields"] == [
        {"field": "method", "message": "method is required"},
        {"field": "params", "message": "params must be object"},
        {"field": "user_id", "message": "userId is required"},
        {"field": "meta", "message": "meta must be object"},
    ]


async def test_a_detail_without_its_fields_name_is_prefixed_with_it(client: Client) -> None:
    response = await client.post(
        REST, json={"method": "flickr.test.echo", "user_id": "u", "params": {"tags": {}}}
    )
    error = assert_error(await response.get_json(), "ERR_INVALID_REQUEST")
    assert error["details"] == [
        "params.tags: must be a string, number or boolean, or an array of those"
    ]
    assert error["fields"] == [
        {
            "field": "params.tags",
            "message": "must be a string, number or boolean, or an array of those",
        }
    ]


async def test_errors_without_field_problems_have_no_fields_key(client: Client) -> None:
    response = await client.get("/api/v1/no-such-route")
    error = assert_error(await response.get_json(), "ERR_NOT_FOUND")
    assert "fields" not in error


async def test_malformed_json_is_a_400_envelope(client: Client) -> None:
    response = await client.post(
        REST, data=b'{"method": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = assert_error(await response.get_json(), "ERR_INVALID_REQUEST")
    assert error["details"] == ["body: malformed JSON"]
    assert error["fields"] == [{"field": "body", "message": "malformed JSON"}]


async def test_json_that_is_not_an_object_is_a_400(client: Client) -> None:
    response = await client.post(REST, json=[1, 2])
    assert response.status_code == 400
    error = assert_error(await response.get_json(), "ERR_INVALID_REQUEST")
    assert error["fields"][0]["message"] == "the request body must be a JSON object"


async def test_a_non_json_content_type_is_a_415(client: Client) -> None:
    response = await client.post(REST, data=b"method=x", headers={"Content-Type": "text/csv"})
    assert response.status_code == 415
    assert_error(await response.get_json(), "ERR_UNSUPPORTED_MEDIA_TYPE")


async def test_unknown_route_is_a_404_envelope(client: Client) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert_error(await response.get_json(), "ERR_NOT_FOUND")


async def test_wrong_method_is_a_405_envelope_with_allow(client: Client) -> None:
    response = await client.get(REST)
    assert response.status_code == 405
    assert_error(await response.get_json(), "ERR_METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["Allow"]


async def test_json_body_over_one_mebibyte_is_a_413(client: Client) -> None:
    big = {"method": "flickr.test.echo", "user_id": "u", "params": {"x": "a" * (1024 * 1024)}}
    response = await client.post(REST, json=big)
    assert response.status_code == 413
    error = assert_error(await response.get_json(), "ERR_PAYLOAD_TOO_LARGE")
    assert error["details"] == {"max_bytes": 1024 * 1024}


async def test_unexpected_error_is_a_generic_500_without_internals(rt: Runtime) -> None:
    app = create_app(rt)

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("mongodb://admin:hunter2@db.internal:27017")

    async with app.test_app():
        response = await app.test_client().get("/boom")
    assert response.status_code == 500
    text = await response.get_data(as_text=True)
    assert "hunter2" not in text
    assert "RuntimeError" not in text
    assert "Traceback" not in text
    error = assert_error(await response.get_json(), "ERR_INTERNAL")
    assert "request_id" in error["message"]


async def test_request_id_is_server_made_and_returned_in_a_header(
    client: Client,
) -> None:
    response = await client.get("/api/v1/nothing-here", headers={"X-Request-ID": "mine"})
    body = await response.get_json()
    assert body["request_id"] != "mine"
    assert response.headers["X-Request-ID"] == body["request_id"]


async def test_every_request_gets_its_own_id(client: Client) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_openapi_documents_the_routes_and_their_errors(app: Quart) -> None:
    response = await app.test_client().get("/openapi.json")
    spec = await response.get_json()
    rest = spec["paths"]["/api/v1/flickr/rest"]["post"]
    assert {"202", "400", "404"} <= set(rest["responses"])
    assert "requestBody" in rest
    upload = spec["paths"]["/api/v1/flickr/upload"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]


async def test_unexpected_error_is_logged_without_its_message(rt: Runtime) -> None:
    from structlog.testing import capture_logs

    app = create_app(rt)

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("password=hunter2")

    async with app.test_app():
        with capture_logs() as events:
            await app.test_client().get("/boom")
    [event] = [e for e in events if e["event"] == "api_unhandled_error"]
    assert event["error_type"] == "RuntimeError"
    assert any("in boom" in frame for frame in event["frames"])
    assert "hunter2" not in repr(events)


async def test_the_app_starts_and_closes_the_runtime_it_manages(rt: Runtime) -> None:
    app = create_app(rt)
    async with app.test_app():
        assert rt.require_flickr() is not None
    assert rt._started is False


async def test_an_embedded_app_leaves_the_runtime_to_its_caller(rt: Runtime) -> None:
    app = create_app(rt, manage_runtime=False)
    async with app.test_app():
        assert rt.flickr is None
        response = await app.test_client().get("/healthz")
        assert response.status_code == 200
