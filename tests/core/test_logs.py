"""Logging: secrets never reach the output or the plugins' log sinks."""

from __future__ import annotations

from typing import Any

import pytest

from flickrhub_core import logs


@pytest.fixture
def captured() -> Any:
    seen: list[dict[str, Any]] = []
    logs.configure_logging(fmt="json")
    logs.add_sink(seen.append)
    yield seen
    logs.clear_sinks()


def test_secret_looking_keys_are_redacted(captured: list[dict[str, Any]]) -> None:
    logs.get_logger().info("auth", oauth_token_secret="s3cr3t", consumer_secret="x", user_id="u")
    event = captured[-1]
    assert event["oauth_token_secret"] == logs.REDACTED
    assert event["consumer_secret"] == logs.REDACTED
    assert event["user_id"] == "u"


def test_credentials_inside_urls_are_redacted(captured: list[dict[str, Any]]) -> None:
    logs.get_logger().info("connect", target="amqp://guest:hunter2@rabbit:5672/")
    assert "hunter2" not in str(captured[-1])


def test_nested_secrets_are_redacted(captured: list[dict[str, Any]]) -> None:
    logs.get_logger().info("call", params={"api_key": "k", "page": "2"})
    assert captured[-1]["params"] == {"api_key": logs.REDACTED, "page": "2"}


def test_exception_message_is_never_logged(captured: list[dict[str, Any]]) -> None:
    secret = "".join(["hun", "ter2"])  # not in the source lines a traceback shows
    try:
        raise RuntimeError(f"password={secret}")
    except RuntimeError:
        logs.get_logger().exception("crashed")
    event = captured[-1]
    assert event["error_type"] == "RuntimeError"
    assert "hunter2" not in str(event)
    assert "test_exception_message_is_never_logged" in event["traceback"]
