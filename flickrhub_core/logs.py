"""Structured logging: one event name per thing that happens, secrets redacted
before anything (console, JSON, plugins' ``log_event``) sees the event.

Every event FlickrHub logs is listed, with its level and fields, in
:mod:`flickrhub_core.log_catalogue` (and ``docs/logging.md``). A process configures
logging once (:func:`configure_logging`: the CLI at start, else the runtime when it
starts); lines logged while a job runs carry its ids (:func:`bound_job`), and lines
from libraries that use the standard :mod:`logging` module go through the same
redaction and renderer.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, TextIO

import orjson
import structlog

if TYPE_CHECKING:
    from flickrhub_core.jobs import Job
    from flickrhub_core.settings import Settings

REDACTED = "********"
SECRET_KEYS = re.compile(
    r"(secret|token|password|passwd|authorization|api[_-]?key|apikey|client[_-]?key"
    r"|private[_-]?key|signature|verifier|cookie|mongo_url|rabbit_url|redis_url|credentials)",
    re.IGNORECASE,
)
_SENSITIVE_NAME = r"(?:secret|token|password|passwd|api[_-]?key|apikey|signature|verifier)"
# user:password@ in any URL-looking string (an empty user, as in redis://:pw@host, too)
URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s:]*(:[^/\s]*)?@", re.IGNORECASE)
# name=value of a secret-looking name inside a string: query strings, form bodies,
# OAuth headers (name="value"), messages
# (and the short names signed URLs and OAuth 2 use: sig, key, code, auth, pwd, pass)
SECRET_PAIR = re.compile(
    rf"(?P<name>[\w.-]*{_SENSITIVE_NAME}[\w.-]*|(?<![\w.-])(?:sig|key|code|auth|pwd|pass))"
    r"=(?P<value>\"[^\"]*\"|'[^']*'|[^&\s#;,'\"]+)",
    re.IGNORECASE,
)
# "name": "value" of a secret-looking name inside a string (JSON, repr of a dict)
SECRET_JSON = re.compile(
    rf"(?P<key>(?P<q>[\"'])[\w.-]*{_SENSITIVE_NAME}[\w.-]*(?P=q)\s*:\s*)(?P<value>\"[^\"]*\"|'[^']*')",
    re.IGNORECASE,
)
# Authorization header values inside strings
AUTH_SCHEME = re.compile(r"\b(?P<scheme>bearer|basic|oauth)\s+[^\s,]+", re.IGNORECASE)
SAFE_KEYS = frozenset({"oauth_token_present", "has_secret", "token_count"})

_sinks: list[Callable[[dict[str, Any]], None]] = []
#: The arguments of the last :func:`configure_logging`; None until it ran.
_configured: tuple[str, str, str, str] | None = None
#: The handler :func:`configure_logging` put on the root logger (stdlib records).
_stdlib_handler: logging.Handler | None = None


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether values under ``key`` are masked whatever they are."""
    return key not in SAFE_KEYS and SECRET_KEYS.search(key) is not None


def redact_text(value: str) -> str:
    """``value`` with credentials in URLs, secret ``name=value`` pairs and
    ``Authorization`` values masked."""
    if "://" in value:
        value = URL_USERINFO.sub(r"\g<scheme>" + REDACTED + "@", value)
    if "=" in value:
        value = SECRET_PAIR.sub(r"\g<name>=" + REDACTED, value)
    if ":" in value and ('"' in value or "'" in value):
        value = SECRET_JSON.sub(r'\g<key>"' + REDACTED + '"', value)
    if " " in value:
        value = AUTH_SCHEME.sub(r"\g<scheme> " + REDACTED, value)
    return value


def redact(value: Any, key: str = "") -> Any:
    """Mask values under secret-looking keys and credentials inside strings, recursively."""
    if key and is_secret_key(key):
        # A flag (``tokens=True``: "this store keeps the tokens") tells nothing secret.
        return value if value in (None, "") or isinstance(value, bool) else REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode("utf-8", "replace"))
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
    event_dict.pop("stack_info", None)
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


def _json_fallback(value: Any) -> Any:
    """A value JSON has no type for, as structlog's renderer shows it."""
    structlog_form = getattr(value, "__structlog__", None)
    return structlog_form() if callable(structlog_form) else repr(value)


#: For what orjson refuses (an integer beyond 64 bits): one encoder, made once.
_ENCODER = json.JSONEncoder(default=_json_fallback)
#: orjson's output options: keys that are not strings (a redacted dict may have some).
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def _dumps(event_dict: Any, **_kw: Any) -> str:
    """:class:`structlog.processors.JSONRenderer`'s serializer: orjson, about a fifth
    of a line's cost with the standard library's encoder (every job logs a line, every
    request two; docs/performance.md)."""
    try:
        return orjson.dumps(event_dict, default=_json_fallback, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return _ENCODER.encode(event_dict)


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


class _StderrLogger:
    """structlog's ``PrintLogger``, on whatever ``sys.stderr`` is when the line is
    logged (not when logging was configured), so a replaced stderr is always the one
    used. One for the process: structlog asks its factory for a logger on every call
    (loggers are not cached, so reconfiguring reaches every one)."""

    _lock = threading.Lock()

    def msg(self, message: str) -> None:
        stream = sys.stderr
        if stream is None:  # no stderr at all (a detached process)
            return
        # A closed or broken stderr (the pipe's reader went away) loses the line; the
        # job or request that logged it must not fail for it.
        with self._lock, contextlib.suppress(OSError, ValueError):
            stream.write(message + "\n")
            stream.flush()

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


_STDERR_LOGGER = _StderrLogger()


def _stderr_logger(*_args: Any) -> _StderrLogger:
    return _STDERR_LOGGER


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler on the current ``sys.stderr`` (see :func:`_stderr_logger`)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(
    *, level: str = "info", fmt: str = "auto", service: str = "flickrhub", env: str = "local"
) -> None:
    """JSON in production (or when output is not a terminal), readable in a terminal.

    Idempotent: calling it again with the same arguments changes nothing, so a
    process configures logging once whoever asks (the CLI, then the runtime).
    """
    global _configured
    wanted = (level, fmt, service, env)
    if _configured == wanted and is_configured():
        return
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(_dumps)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        _merge_job_context,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service(service, env),
    ]
    redacting: list[Any] = [_safe_exception, _redact_processor, _forward_to_sinks]
    structlog.configure(
        processors=[*shared, *redacting, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    _bridge_stdlib(shared, redacting, renderer)
    _configured = wanted


def _bridge_stdlib(shared: list[Any], redacting: list[Any], renderer: Any) -> None:
    """Render stdlib ``logging`` records (libraries: warnings and errors) like our
    events: the message is the ``event``, the logger's name is ``logger``."""
    global _stdlib_handler
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *redacting,
            renderer,
        ],
    )
    root = logging.getLogger()
    if _stdlib_handler is not None:
        root.removeHandler(_stdlib_handler)
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    handler.setLevel(logging.WARNING)
    root.addHandler(handler)
    _stdlib_handler = handler


def reset_logging() -> None:
    """Undo :func:`configure_logging` (structlog's defaults, no root handler): for tests."""
    global _configured, _stdlib_handler
    structlog.reset_defaults()
    if _stdlib_handler is not None:
        logging.getLogger().removeHandler(_stdlib_handler)
    _stdlib_handler = None
    _configured = None


def is_configured() -> bool:
    """Whether FlickrHub's processors (redaction included) are the ones in use."""
    if _configured is None or not structlog.is_configured():
        return False
    return _redact_processor in structlog.get_config()["processors"]


def configure_from(settings: Settings) -> None:
    """:func:`configure_logging` with the process's settings."""
    configure_logging(
        level=settings.log_level,
        fmt=settings.log_format,
        service=settings.service_name,
        env=settings.service_env,
    )


def ensure_configured(settings: Settings) -> None:
    """Configure logging from ``settings`` unless someone configured structlog
    already (the CLI did, an embedding application did, a test captures logs)."""
    if not structlog.is_configured():
        configure_from(settings)


def _add_service(service: str, env: str) -> Callable[..., MutableMapping[str, Any]]:
    def processor(
        _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        event_dict.setdefault("environment", env)
        return event_dict

    return processor


#: The ids every line logged during a job carries (see :func:`bound_job`).
JOB_CONTEXT = ("job_id", "user_id", "target", "attempt", "trace_id")

#: The running job's ids, for :func:`_merge_job_context`. One variable of FlickrHub's
#: own, not structlog's ``contextvars`` module, whose merge looks at every context
#: variable of the task (the libraries' too) on every line.
_job_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "flickrhub_job_context", default=None
)


def _merge_job_context(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The bound job's ids on every line; a field the line sets itself wins."""
    bound = _job_context.get()
    if bound:
        for key, value in bound.items():
            event_dict.setdefault(key, value)
    return event_dict


@contextlib.contextmanager
def bound_job(job: Job) -> Iterator[None]:
    """Every line logged inside carries the job's ``job_id``, ``user_id``,
    ``target``, ``attempt`` and ``trace_id`` (update ``attempt`` with
    :func:`bind_attempt`). A context variable: tasks started inside inherit them."""
    reset = _job_context.set(
        {
            "job_id": job.id,
            "user_id": job.user_id,
            "target": job.target,
            "attempt": job.attempts,
            "trace_id": job.trace_id,
        }
    )
    try:
        yield
    finally:
        _job_context.reset(reset)


def bind_attempt(attempt: int) -> None:
    """The attempt now running, for the lines of the job bound by :func:`bound_job`."""
    bound = _job_context.get()
    if bound is not None:
        _job_context.set({**bound, "attempt": attempt})


def job_context() -> dict[str, Any]:
    """The ids :func:`bound_job` binds here now (empty outside a job)."""
    return dict(_job_context.get() or {})


class _LazyLogger:
    """What :func:`get_logger` returns: structlog's lazy proxy, except that the logger
    it assembles is kept until structlog is configured otherwise.

    structlog's proxy assembles a new logger on every call, a ``debug`` call that is
    filtered out included: about 3 µs each, and a worker's job makes four such calls.
    structlog's own cache (``cache_logger_on_first_use``) would keep a logger made
    before a reconfiguration for good, so :func:`structlog.testing.capture_logs` and a
    later :func:`configure_logging` would not reach it; this one is made again when
    the configuration in use is another."""

    __slots__ = ("_config", "_context", "_logger")

    def __init__(self, context: dict[str, Any]) -> None:
        self._context = context
        self._config: tuple[Any, ...] = ()
        self._logger: Any = None

    def _current(self) -> Any:
        config = structlog.get_config()
        wanted = (
            config["processors"],
            config["wrapper_class"],
            config["logger_factory"],
            config["context_class"],
        )
        if wanted != self._config:
            self._logger = structlog.get_logger(**self._context).bind()
            self._config = wanted
        return self._logger

    def bind(self, **values: Any) -> Any:
        return self._current().bind(**values)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._current(), name)


def get_logger(**context: Any) -> structlog.stdlib.BoundLogger:
    """A logger with ``context`` on every line (see :class:`_LazyLogger`)."""
    return _LazyLogger(context)  # type: ignore[return-value]
