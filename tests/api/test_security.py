"""CORS, security headers, the request id, and the rule for where the API may listen."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from quart import Response
from structlog.testing import capture_logs

from flickrhub_api import create_app
from flickrhub_api.security import BASE_CSP, inline_hashes, parse_origins
from flickrhub_core import serve
from flickrhub_core.errors import ConfigError
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings, load_settings
from tests.api.conftest import REST, Client

ALLOWED = "https://app.example.com"
KEY = "alice-key-0123456789abcdef"
JOB = "/api/v1/flickr/jobs/nothing"


@pytest.fixture
def rt(make_runtime: Any) -> Runtime:
    """Apps of this module allow one origin and have one client."""
    runtime: Runtime = make_runtime(
        cors_origins=f"{ALLOWED}, http://localhost:5173", api_keys=SecretStr(f"alice={KEY}")
    )
    return runtime


def assert_security_headers(headers: Any) -> None:
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


# --- security headers --------------------------------------------------------------


async def test_json_answers_carry_the_security_headers(client: Client) -> None:
    response = await client.get("/healthz")
    assert_security_headers(response.headers)
    assert response.headers["Content-Security-Policy"] == BASE_CSP
    assert response.headers["Cache-Control"] == "no-store"


async def test_error_answers_carry_them_too(client: Client) -> None:
    for response in (
        await client.get(JOB),  # 401
        await client.get(JOB, headers={"X-API-Key": KEY}),  # 404
        await client.post(REST, data=b"{", headers={"X-API-Key": KEY}),  # 400
    ):
        assert response.status_code >= 400
        assert_security_headers(response.headers)
        assert response.headers["Cache-Control"] == "no-store"


def csp_directives(policy: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def sha256_source(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


async def test_the_docs_page_may_load_exactly_what_it_uses(client: Client) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert_security_headers(response.headers)
    html = await response.get_data(as_text=True)
    csp = csp_directives(response.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'none'"]
    scripts = re.findall(r'<script src="([^"]+)"', html)
    inline = re.findall(r"<script>(.*?)</script>", html, re.S)
    styles = re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', html)
    assert scripts and inline and styles
    assert sorted(csp["script-src"]) == sorted([*scripts, *map(sha256_source, inline)])
    assert csp["style-src"] == styles
    assert csp["connect-src"] == ["'self'"]  # the spec at /openapi.json
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]


async def test_only_the_swagger_docs_page_is_served(client: Client) -> None:
    for path in ("/redocs", "/scalar"):
        response = await client.get(path, headers={"X-API-Key": KEY})
        assert response.status_code == 404


async def test_an_html_page_may_run_only_its_own_inline_blocks(rt: Runtime) -> None:
    app = create_app(rt)
    page = (
        "<!doctype html><style>p { color: red }</style>"
        '<script src="/static/app.js"></script><script>start()</script><p>hi</p>'
    )

    @app.get("/ui/page")
    async def html_page() -> Response:
        return Response(page, content_type="text/html; charset=utf-8")

    async with app.test_app():
        response = await app.test_client().get("/ui/page")
    assert response.status_code == 200
    csp = csp_directives(response.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'", sha256_source("p { color: red }")]
    assert csp["script-src"] == ["'self'", sha256_source("start()")]
    assert csp["frame-ancestors"] == ["'none'"]


async def test_headers_a_route_sets_are_kept_and_not_repeated(rt: Runtime) -> None:
    app = create_app(rt)
    own = {
        "X-Frame-Options": "SAMEORIGIN",
        "cache-control": "max-age=60",
        "Content-Security-Policy": "default-src 'none'",
        "Strict-Transport-Security": "max-age=60",
    }

    @app.get("/ui/own")
    async def own_headers() -> Response:
        return Response("{}", content_type="application/json", headers=own)

    async with app.test_app():
        response = await app.test_client().get("/ui/own", scheme="https")
        plain = await app.test_client().get("/healthz", scheme="https")
    for name, value in own.items():
        assert response.headers.getlist(name) == [value]
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert plain.headers.getlist("Strict-Transport-Security") == ["max-age=31536000"]
    assert plain.headers.getlist("Content-Security-Policy") == [BASE_CSP]


def test_inline_hashes_skip_external_scripts() -> None:
    html = '<script src="/app.js"></script><script>go()</script><style>a{}</style>'
    assert inline_hashes(html) == {
        "script": [sha256_source("go()")],
        "style": [sha256_source("a{}")],
    }


# --- CORS ---------------------------------------------------------------------------


def cors_headers(headers: Any) -> list[str]:
    return [name for name, _ in headers.items() if name.lower().startswith("access-control")]


async def test_an_allowed_origin_may_read_the_answer(client: Client) -> None:
    response = await client.get(JOB, headers={"Origin": ALLOWED, "X-API-Key": KEY})
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_another_origin_gets_no_cors_headers(client: Client) -> None:
    response = await client.get(JOB, headers={"Origin": "https://evil.example", "X-API-Key": KEY})
    assert response.status_code == 404
    assert not cors_headers(response.headers)
    assert "Origin" in response.headers["Vary"]


async def test_a_preflight_from_an_allowed_origin_needs_no_key(client: Client) -> None:
    response = await client.options(
        REST,
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, content-type",
        },
    )
    assert response.status_code == 204
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert {"x-api-key", "authorization", "content-type", "idempotency-key"} <= allowed
    assert "Origin" in headers["Vary"]


async def test_a_preflight_from_another_origin_is_not_allowed(client: Client) -> None:
    response = await client.options(
        REST,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert not cors_headers(response.headers)


def test_origins_are_normalised_as_browsers_send_them() -> None:
    assert parse_origins(" HTTPS://App.Example.com:443/ , http://localhost:8080,") == {
        "https://app.example.com",
        "http://localhost:8080",
    }
    assert parse_origins("") == frozenset()


@pytest.mark.parametrize(
    "raw", ["*", "null", "app.example.com", "https://app.example.com/path", "ftp://x.example"]
)
def test_a_wildcard_or_non_origin_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="FLICKRHUB_CORS_ORIGINS"):
        parse_origins(raw)


def test_the_app_refuses_to_start_with_a_bad_origin(make_runtime: Any) -> None:
    with pytest.raises(ConfigError):
        create_app(make_runtime(cors_origins="*"))


# --- the request id -----------------------------------------------------------------


async def test_a_clients_request_id_is_logged_as_its_own_never_used_as_ours(
    client: Client,
) -> None:
    with capture_logs() as events:
        response = await client.get(JOB, headers={"X-API-Key": KEY, "X-Request-ID": "req-forged"})
    ours = response.headers["X-Request-ID"]
    assert ours != "req-forged"
    assert (await response.get_json())["request_id"] == ours
    [event] = [e for e in events if e["event"] == "api_request"]
    assert event["request_id"] == ours
    assert event["client_request_id"] == "req-forged"


# --- where the API may listen ---------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("10.0.0.5", False),
        ("api.example.com", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert serve.is_loopback(host) is loopback


def settings_for(tmp_path: Path, **env: Any) -> Settings:
    return load_settings(FLICKRHUB_DATA_DIR=tmp_path / "data", **env)


def test_no_keys_on_a_public_address_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        serve.check_api_exposure(settings_for(tmp_path, FLICKRHUB_HOST="0.0.0.0"))
    assert str(caught.value) == (
        "FLICKRHUB_HOST=0.0.0.0 without FLICKRHUB_API_KEYS: refusing to serve "
        "unauthenticated on a non-loopback address"
    )


def test_no_keys_on_loopback_is_allowed_and_said_once(tmp_path: Path) -> None:
    notice = serve.check_api_exposure(settings_for(tmp_path, FLICKRHUB_HOST="127.0.0.1"))
    assert notice is not None
    assert "unauthenticated" in notice
    assert "loopback" in notice
    assert "\n" not in notice


def test_with_keys_any_address_is_allowed(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, FLICKRHUB_HOST="0.0.0.0", FLICKRHUB_API_KEYS="a=key-a")
    assert serve.check_api_exposure(settings) is None


async def test_the_api_process_refuses_before_listening(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, FLICKRHUB_HOST="0.0.0.0", PORT=0)
    with pytest.raises(ConfigError, match="refusing to serve unauthenticated"):
        await asyncio.wait_for(serve.run_api(settings, stop=asyncio.Event()), 5)
