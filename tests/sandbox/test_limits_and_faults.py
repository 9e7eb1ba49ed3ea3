"""The per-key hourly limit and every kind of injected fault, seen from real HTTP clients."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import requests
from sandbox_helpers import PNG_1X1, Credentials, signed_multipart

from flickrhub_core.sandbox.config import FaultSettings
from flickrhub_core.sandbox.faults import FaultInjector, FaultUpdate
from flickrhub_core.sandbox.ratelimit import RollingHourLimiter
from flickrhub_core.sandbox.testing import SandboxServer

TOO_MANY = (
    "<html><body><h1>429 Too Many Requests</h1>\n"
    "You have sent too many requests in a given amount of time.\n</body></html>"
)


def echo(
    http: httpx.Client,
    sandbox: SandboxServer,
    key: str | None = None,
    method: str = "flickr.test.echo",
) -> httpx.Response:
    params = {
        "api_key": key or sandbox.consumer[0],
        "method": method,
        "format": "json",
        "nojsoncallback": "1",
    }
    return http.get(sandbox.rest_url, params=params)


def set_faults(http: httpx.Client, sandbox: SandboxServer, **body: Any) -> Any:
    response = http.post(f"{sandbox.base_url}/sandbox/faults", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_requests_beyond_the_hourly_limit_get_429(make_sandbox: Any, http: httpx.Client) -> None:
    sandbox = make_sandbox(rate_limit_per_hour=3)
    assert [echo(http, sandbox).status_code for _ in range(3)] == [200, 200, 200]
    limited = echo(http, sandbox)
    assert limited.status_code == 429
    assert limited.text == TOO_MANY
    assert limited.headers["content-type"] == "text/html"
    assert 3500 <= int(limited.headers["retry-after"]) <= 3600


def test_rate_limit_is_per_consumer_key(make_sandbox: Any, http: httpx.Client) -> None:
    sandbox = make_sandbox(rate_limit_per_hour=1, consumers={"k1": "s1", "k2": "s2"})
    assert echo(http, sandbox, "k1").status_code == 200
    assert echo(http, sandbox, "k1").status_code == 429
    assert echo(http, sandbox, "k2").status_code == 200


def test_rate_limit_covers_oauth_endpoints(make_sandbox: Any, http: httpx.Client) -> None:
    from sandbox_helpers import signed

    sandbox = make_sandbox(rate_limit_per_hour=1)
    consumer = Credentials(*sandbox.consumer)
    assert echo(http, sandbox).status_code == 200
    response = signed(
        http, consumer, "GET", f"{sandbox.oauth_url}/request_token", {}, callback_uri="oob"
    )
    assert response.status_code == 429


def test_zero_rate_limit_means_unlimited() -> None:
    limiter = RollingHourLimiter(0)
    assert all(limiter.acquire("k", 0.0) is None for _ in range(10_000))


def test_rolling_window_admits_again_after_an_hour() -> None:
    limiter = RollingHourLimiter(2)
    assert limiter.acquire("k", 0.0) is None
    assert limiter.acquire("k", 10.0) is None
    assert limiter.acquire("k", 20.0) == 3580
    assert limiter.acquire("k", 3600.5) is None


def test_reset_clears_rate_limit_windows(make_sandbox: Any, http: httpx.Client) -> None:
    sandbox = make_sandbox(rate_limit_per_hour=1)
    echo(http, sandbox)
    assert echo(http, sandbox).status_code == 429
    http.post(f"{sandbox.base_url}/sandbox/reset")
    assert echo(http, sandbox).status_code == 200


def test_global_105_fails_rest_calls_in_their_format(make_sandbox: Any, http: httpx.Client) -> None:
    sandbox = make_sandbox(error_rate_105=1.0)
    assert echo(http, sandbox).json() == {
        "stat": "fail",
        "code": 105,
        "message": "Service currently unavailable",
    }


def test_targeted_105_fails_next_calls_of_one_method_only(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    state = set_faults(http, sandbox, error_rate_105=1.0, methods=["flickr.test.echo"], count=2)
    assert state["rules"][0]["remaining"] == 2
    assert echo(http, sandbox, method="flickr.people.getInfo").json()["code"] != 105
    assert [echo(http, sandbox).json().get("code") for _ in range(3)] == [105, 105, None]
    assert http.get(f"{sandbox.base_url}/sandbox/faults").json()["rules"] == []


def test_5xx_fault_answers_html_server_error(sandbox: SandboxServer, http: httpx.Client) -> None:
    set_faults(http, sandbox, error_rate_5xx=1.0)
    response = echo(http, sandbox)
    assert response.status_code in (500, 502, 503)
    assert response.headers["content-type"] == "text/html"
    assert f"<h1>{response.status_code} " in response.text


def test_5xx_status_can_be_pinned(sandbox: SandboxServer, http: httpx.Client) -> None:
    set_faults(http, sandbox, error_rate_5xx=1.0, status_5xx=502, count=1)
    assert echo(http, sandbox).status_code == 502
    assert echo(http, sandbox).status_code == 200


def test_dropped_connection_is_a_protocol_error_for_httpx(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    set_faults(http, sandbox, drop_rate=1.0, methods=["flickr.test.echo"], count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        echo(http, sandbox)
    assert echo(http, sandbox).status_code == 200


def test_dropped_connection_is_a_connection_error_for_requests(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    set_faults(http, sandbox, drop_rate=1.0, count=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(
            sandbox.rest_url,
            params={"api_key": sandbox.consumer[0], "method": "flickr.test.echo"},
            timeout=10,
        )


def test_dropped_upload_never_gets_a_response(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    set_faults(http, sandbox, drop_rate=1.0, methods=["upload"], count=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError)):
        signed_multipart(http, writer, sandbox.upload_url, {}, PNG_1X1 + b"\x00" * 1_000_000)
    assert len(sandbox.state.library.photos) == 5


def test_upload_105_is_xml(sandbox: SandboxServer, http: httpx.Client, writer: Credentials) -> None:
    set_faults(http, sandbox, error_rate_105=1.0, methods=["upload"], count=1)
    response = signed_multipart(http, writer, sandbox.upload_url, {}, PNG_1X1)
    assert '<err code="105" msg="Service currently unavailable" />' in response.text


def test_latency_delays_the_answer(sandbox: SandboxServer, http: httpx.Client) -> None:
    set_faults(http, sandbox, latency_ms=300, count=1)
    started = time.monotonic()
    assert echo(http, sandbox).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_invalid_fault_settings_are_400(sandbox: SandboxServer, http: httpx.Client) -> None:
    response = http.post(f"{sandbox.base_url}/sandbox/faults", json={"drop_rate": 2})
    assert response.status_code == 400
    assert http.post(f"{sandbox.base_url}/sandbox/faults", json={"nonsense": 1}).status_code == 400


def test_delete_faults_restores_start_up_settings(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    set_faults(http, sandbox, error_rate_105=1.0)
    set_faults(http, sandbox, drop_rate=1.0, methods=["x"])
    state = http.delete(f"{sandbox.base_url}/sandbox/faults").json()
    assert (state["error_rate_105"], state["rules"]) == (0.0, [])


def test_same_seed_gives_same_fault_sequence() -> None:
    settings = FaultSettings(error_rate_5xx=0.3, error_rate_105=0.3, drop_rate=0.2)
    injectors = [FaultInjector(settings, seed=42) for _ in range(2)]
    runs = [[injector.decide("m").action for _ in range(50)] for injector in injectors]
    assert runs[0] == runs[1]
    assert {"drop", "5xx", "105", None} == set(runs[0])


def test_rule_without_methods_applies_to_every_call() -> None:
    injector = FaultInjector(FaultSettings(), seed=1)
    injector.update(FaultUpdate(drop_rate=1.0, count=2))
    assert [injector.decide(name).action for name in ("a", "b", "c")] == ["drop", "drop", None]
