"""Structured logging: one event name per thing that happens, secrets redacted
before anything (console, JSON, plugins' ``log_event``) sees the event."""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import traceback
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

REDACTED = "********"
SECRET_KEYS = re.compile(
    r"(secret|token|password|passwd|authorization|api_key|apikey|signature|verifier|cookie"
    r"|mongo_url|rabbit_url|redis_url|credentials)",
    re.IGNORECASE,
)
# user:password@ in any URL-looking string
URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s:]+(:[^/@\s]*)?@", re.IGNORECASE)
SAFE_KEYS = frozenset({"oauth_token_present", "has_secret", "token_count"})

_sinks: list[Callable[[dict[str, Any]], None]] = []


def redact(value: Any, key: str = "") -> Any:
    """Mask values under secret-looking keys and credentials inside URLs, recursively."""
    if key and key not in SAFE_KEYS and SECRET_KEYS.search(key):
        return REDACTED if value not in (None, "", False) else value
    if isinstance(value, str):
        return URL_USERINFO.sub(r"\g<scheme>" + REDACTED + "@", value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _redact_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return {k: redact(v, k) for k, v in event_dict.items()}


def _safe_exception(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Log an exception's type and frames but never its message, which may hold a
    secret (a URL with a password, a token echoed by a server)."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        elif isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        exc_type, _exc, tb = exc_info
        if exc_type is not None:
            event_dict["error_type"] = exc_type.__name__
            event_dict["traceback"] = "".join(traceback.format_tb(tb))
    return event_dict


def _forward_to_sinks(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for sink in _sinks:
        with contextlib.suppress(Exception):  # a broken sink must never break logging
            sink(dict(event_dict))
    return event_dict


def add_sink(sink: Callable[[dict[str, Any]], None]) -> None:
    """Send every (redacted) event to ``sink`` too; used for plugins' ``log_event``."""
    _sinks.append(sink)


def clear_sinks() -> None:
    _sinks.clear()


def configure_logging(
    *, level: str = "info", fmt: str = "auto", service: str = "flickrhub", env: str = "local"
) -> None:
    """JSON in production (or when output is not a terminal), readable in a terminal."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_service(service, env),
            _safe_exception,
            _redact_processor,
            _forward_to_sinks,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def _add_service(service: str, env: str) -> Callable[..., MutableMapping[str, Any]]:
    def processor(
        _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        event_dict.setdefault("environment", env)
        return event_dict

    return processor


def get_logger(**context: Any) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(**context)  # type: ignore[no-any-return]
