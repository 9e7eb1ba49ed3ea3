"""The OpenAPI document itself: complete, valid OpenAPI 3.1, and following the settings
(keys, rate limit) the way the server behaves under them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import jsonschema_rs
import pytest
from quart import Quart
from quart_schema.openapi import QUART_SCHEMA_HIDDEN_ATTRIBUTE
from schemathesis.specs.openapi.definitions import OPENAPI_31

from flickrhub_api import create_app
from flickrhub_api.clients import is_exempt
from flickrhub_core.runtime import Runtime

KEY = "document-test-key-123"
METHODS = {"get", "post", "put", "patch", "delete"}
ERROR_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}


async def document_of(app: Quart) -> dict[str, Any]:
    response = await app.test_client().get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = await response.get_json()
    return spec


@pytest.fixture
async def keyed(make_runtime: Callable[..., Runtime]) -> AsyncIterator[Quart]:
    from pydantic import SecretStr

    app = create_app(make_runtime(api_keys=SecretStr(f"docs={KEY}")))
    async with app.test_app():
        yield app


@pytest.fixture
async def open_app(make_runtime: Callable[..., Runtime]) -> AsyncIterator[Quart]:
    app = create_app(make_runtime(client_rate_limit_per_minute=0))
    async with app.test_app():
        yield app


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


async def test_it_is_valid_openapi_3_1(keyed: Quart) -> None:
    spec = await document_of(keyed)
    jsonschema_rs.validator_for(OPENAPI_31).validate(spec)
    assert spec["openapi"] == "3.1.0"


async def test_every_route_but_the_hidden_pages_is_documented(keyed: Quart) -> None:
    spec = await document_of(keyed)
    documented = {(method, path) for method, path, _ in operations(spec)}
    expected = set()
    for rule in keyed.url_map.iter_rules():
        view = keyed.view_functions[rule.endpoint]
        if getattr(view, QUART_SCHEMA_HIDDEN_ATTRIBUTE, False):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        expected |= {(m.lower(), path) for m in rule.methods or () if m.lower() in METHODS}
    assert documented == expected
    assert not [
        path for _, path in documented if path == "/" or path.startswith(("/ui", "/static"))
    ]


async def test_every_operation_has_a_unique_id_a_summary_and_described_answers(
    keyed: Quart,
) -> None:
    spec = await document_of(keyed)
    ids = [operation["operationId"] for _, _, operation in operations(spec)]
    assert len(ids) == len(set(ids))
    for method, path, operation in operations(spec):
        assert operation.get("summary"), (method, path)
        assert operation.get("tags"), (method, path)
        for status, response in operation["responses"].items():
            assert response["description"], (method, path, status)
            assert response["headers"]["X-Request-ID"]["required"] is True
            if status.startswith(("4", "5")) and path != "/readyz":
                assert response["content"]["application/json"]["schema"] == ERROR_REF


async def test_with_keys_the_security_requirement_and_401_follow_the_exempt_paths(
    keyed: Quart,
) -> None:
    spec = await document_of(keyed)
    assert spec["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    assert spec["security"] == [{"apiKey": []}, {"bearer": []}]
    exempt = set()
    for _, path, operation in operations(spec):
        if is_exempt(path):
            exempt.add(path)
            assert operation["security"] == [], path
            assert "401" not in operation["responses"]
        else:
            assert "security" not in operation  # the document's own applies
            unauthorized = operation["responses"]["401"]
            assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True
    assert exempt == {"/healthz", "/health", "/readyz", "/metrics", "/api/v1/auth/callback"}


async def test_without_keys_nothing_claims_a_key_is_needed(open_app: Quart) -> None:
    spec = await document_of(open_app)
    assert "security" not in spec
    assert "securitySchemes" not in spec["components"]
    for _, _, operation in operations(spec):
        assert "401" not in operation["responses"]
        assert "security" not in operation


async def test_429_and_retry_after_are_documented_where_the_rate_limit_applies(
    keyed: Quart, open_app: Quart
) -> None:
    limited = await document_of(keyed)
    for _, path, operation in operations(limited):
        if is_exempt(path):
            assert "429" not in operation["responses"]
        else:
            header = operation["responses"]["429"]["headers"]["Retry-After"]
            assert header["required"] is True
            assert header["schema"] == {"type": "integer", "minimum": 1}
    for _, _, operation in operations(await document_of(open_app)):
        assert "429" not in operation["responses"]


async def test_body_and_query_errors_are_documented_where_a_body_or_query_is_read(
    keyed: Quart,
) -> None:
    spec = await document_of(keyed)
    for method, path, operation in operations(spec):
        responses = set(operation["responses"])
        if "requestBody" in operation:
            assert {"400", "408", "413", "415"} <= responses, (method, path)
        if any(p["in"] == "query" for p in operation["parameters"]):
            assert "400" in responses, (method, path)
        if any(p["in"] == "path" for p in operation["parameters"]):
            assert {"404", "405"} <= responses, (method, path)
            assert operation["responses"]["405"]["headers"]["Allow"]["required"] is True
        for parameter in operation["parameters"]:
            assert "null" not in str(parameter["schema"]), (path, parameter)


async def test_enqueue_routes_document_queue_full_and_idempotency(keyed: Quart) -> None:
    spec = await document_of(keyed)
    for path in ("rest", "batch", "upload", "replace"):
        operation = spec["paths"][f"/api/v1/flickr/{path}"]["post"]
        assert {"202", "400", "404", "409", "503"} <= set(operation["responses"])
        assert "Retry-After" in operation["responses"]["503"]["headers"]
        [header] = [p for p in operation["parameters"] if p["in"] == "header"]
        assert header["name"] == "Idempotency-Key"
    get_job = spec["paths"]["/api/v1/flickr/rest"]["post"]["responses"]["202"]["links"]["GetJob"]
    assert get_job == {
        "operationId": "get_job",
        "parameters": {"job_id": "$response.body#/data/job_id"},
        "description": "The job's state and result",
    }


async def test_photo_forms_are_multipart_with_a_binary_photo(keyed: Quart) -> None:
    spec = await document_of(keyed)
    for path, required in (
        ("upload", {"user_id", "photo"}),
        ("replace", {"user_id", "photo", "photo_id"}),
    ):
        body = spec["paths"][f"/api/v1/flickr/{path}"]["post"]["requestBody"]
        schema = body["content"]["multipart/form-data"]["schema"]
        assert set(schema["required"]) == required
        assert schema["properties"]["photo"]["format"] == "binary"
        assert schema["properties"]["photo"]["type"] == "string"
        assert schema["additionalProperties"] is False  # an unknown field is a 400
        assert "null" not in str(schema["properties"])


async def test_non_json_answers_carry_their_media_type(keyed: Quart) -> None:
    spec = await document_of(keyed)
    metrics = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    callback = spec["paths"]["/api/v1/auth/callback"]["get"]["responses"]
    for status in ("200", "400", "502", "503"):
        assert set(callback[status]["content"]) == {"application/json", "text/html"}
    assert spec["paths"]["/api/v1/auth/callback"]["get"]["parameters"][0]["required"] is True


async def test_the_docs_page_loads_the_document(keyed: Quart) -> None:
    response = await keyed.test_client().get("/docs")
    assert response.status_code == 200
    assert "/openapi.json" in await response.get_data(as_text=True)


async def test_503_is_documented_wherever_a_backend_is_touched(keyed: Quart) -> None:
    """The error mapper answers a store, queue or service that is away with 503."""
    spec = await document_of(keyed)
    backend_free = {"/healthz", "/health", "/metrics"}
    for method, path, operation in operations(spec):
        assert ("503" in operation["responses"]) is (path not in backend_free), (method, path)
        if path != "/readyz" and "503" in operation["responses"]:
            assert operation["responses"]["503"]["headers"]["Retry-After"]["required"] is False


async def test_enqueue_documents_method_as_required_and_not_null(keyed: Quart) -> None:
    spec = await document_of(keyed)
    body = spec["paths"]["/api/v1/flickr/rest"]["post"]["requestBody"]["content"]
    schema = body["application/json"]["schema"]
    assert set(schema["required"]) == {"method", "user_id"}
    assert schema["properties"]["method"]["type"] == "string"
    assert "anyOf" not in schema["properties"]["method"]


async def test_error_details_are_documented_as_strings_with_fields_beside(keyed: Quart) -> None:
    spec = await document_of(keyed)
    error = spec["components"]["schemas"]["ErrorInfo"]["properties"]
    assert error["details"]["examples"] == [["method is required", "userId is required"]]
    assert error["fields"]["items"] == {"$ref": "#/components/schemas/FieldProblem"}
