"""Logging: secrets never reach the output or the plugins' log sinks."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

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


def json_line(capsys: pytest.CaptureFixture[str], **fields: Any) -> dict[str, Any]:
    """Log one JSON line with ``fields`` and read it back from stderr."""
    logs.configure_logging(fmt="json")
    capsys.readouterr()
    logs.get_logger().info("rendered", **fields)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    line: dict[str, Any] = json.loads(lines[0])
    return line


def test_values_json_has_no_type_for_are_shown_by_their_repr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Shape:
        def __repr__(self) -> str:
            return "<Shape round>"

    assert json_line(capsys, shape=Shape())["shape"] == "<Shape round>"


def test_an_integer_beyond_64_bits_is_still_rendered(capsys: pytest.CaptureFixture[str]) -> None:
    assert json_line(capsys, big=2**70)["big"] == 2**70


def test_a_line_is_valid_utf8_json_with_non_ascii_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert json_line(capsys, title="Été à Zürich 🌄")["title"] == "Été à Zürich 🌄"


def test_non_ascii_text_is_written_as_it_is_not_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure_logging(fmt="json")
    capsys.readouterr()
    logs.get_logger().info("rendered", title="Été")
    assert '"title":"Été"' in capsys.readouterr().err


def test_a_closed_stderr_loses_the_line_but_not_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logs.configure_logging(fmt="json")
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr("sys.stderr", closed)
    logs.get_logger().info("still_running")  # no ValueError from the closed stream
    monkeypatch.setattr("sys.stderr", None)
    logs.get_logger().info("still_running")


@pytest.fixture
def fresh_logging() -> Iterator[None]:
    yield
    logs.reset_logging()


@pytest.mark.usefixtures("fresh_logging")
def test_a_logger_made_earlier_follows_a_reconfiguration() -> None:
    """Loggers keep what they assemble, but never past a change of configuration."""
    log = logs.get_logger(role="worker")
    logs.configure_logging(level="info", fmt="json")
    log.debug("hidden")
    with structlog.testing.capture_logs() as caught:
        log.info("seen_by_capture", job_id="j1")
    assert caught == [
        {"event": "seen_by_capture", "job_id": "j1", "log_level": "info", "role": "worker"}
    ]
    logs.reset_logging()
    logs.configure_logging(level="debug", fmt="json")
    with structlog.testing.capture_logs() as caught:
        log.debug("shown_at_debug")
    assert [event["event"] for event in caught] == ["shown_at_debug"]


def test_a_logger_binds_more_context(captured: list[dict[str, Any]]) -> None:
    log = logs.get_logger(role="worker")
    log.bind(job_id="j1").info("bound")
    assert captured[-1]["role"] == "worker" and captured[-1]["job_id"] == "j1"
