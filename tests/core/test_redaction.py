"""No secret gets through logging: every catalogued event, fed every secret-bearing
field name and secrets inside URLs, headers, JSON and exceptions, through the real
configured pipeline (JSON and console renderers, stdlib records too), leaves no
secret in the output or in what plugins' ``log_event`` (the OBS plugin) receives."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from pydantic import SecretStr

from flickrhub_core import logs
from flickrhub_core.jobs import Job
from flickrhub_core.log_catalogue import EVENTS
from flickrhub_core.settings import Settings, env_name
from flickrhub_obs import obs_body

_counter = itertools.count(1)


def secret() -> str:
    """A distinctive secret value nothing else contains."""
    return f"S3CRET{next(_counter):04d}Z"


#: Field names that carry secrets somewhere in FlickrHub, its plugins or its clients.
SECRET_FIELDS = [
    "oauth_token",
    "oauth_token_secret",
    "oauth_verifier",
    "oauth_signature",
    "consumer_secret",
    "api_secret",
    "callback_secret",
    "token",
    "token_secret",
    "request_token_secret",
    "access_token",
    "secret",
    "secret_key",
    "authorization",
    "Authorization",
    "proxy-authorization",
    "api_key",
    "X-API-Key",
    "x-api-key",
    "client_key",
    "password",
    "passwd",
    "cookie",
    "set-cookie",
    "credentials",
    "private_key",
    "mongo_url",
    "rabbit_url",
    "redis_url",
    "FLICKRHUB_SECRET_KEY",
    "FLICKRHUB_API_KEYS",
    "FLICKRHUB_CLIENT_KEY",
    "FLICKR_API_KEY",
    "FLICKR_API_SECRET",
    "OBS_API_KEY",
    "MONGO_URL",
    "RABBIT_URL",
    "REDIS_URL",
]


def secret_settings() -> list[str]:
    """Every setting typed as a secret, by field name and by environment name."""
    names: list[str] = []
    for name, field in Settings.model_fields.items():
        if "SecretStr" in str(field.annotation):
            names += [name, env_name(name, field)]
    return names


def test_every_secret_setting_is_covered() -> None:
    assert {"FLICKRHUB_SECRET_KEY", "OBS_API_KEY", "rabbit_url"} <= set(secret_settings())


def secret_payload(planted: list[str]) -> dict[str, Any]:
    """Secrets under every secret-bearing name, and inside innocent-looking values."""

    def plant() -> str:
        value = secret()
        planted.append(value)
        return value

    fields: dict[str, Any] = {name: plant() for name in [*SECRET_FIELDS, *secret_settings()]}
    fields.update(
        {
            # credentials inside URLs under names that are not secret themselves
            "url": f"amqp://flickrhub:{plant()}@rabbit:5672/vhost",
            "redis": f"redis://:{plant()}@redis:6379/0",
            "database": f"mongodb://admin:{plant()}@a,b,c/?replicaSet=rs0",
            "callback": f"https://hooks.example/cb?job=1&token={plant()}&sig={plant()}",
            "link": f"https://www.flickr.com/services/oauth/authorize?oauth_token={plant()}",
            "callback_url": f"https://user:{plant()}@hooks.example/x?api_key={plant()}",
            "header": f'OAuth oauth_consumer_key="ck", oauth_token="{plant()}", '
            f'oauth_signature="{plant()}"',
            "auth_header": f"Bearer {plant()}",
            "basic": f"Basic {plant()}",
            "detail": f"connect to redis://default:{plant()}@cache:6379 failed; password={plant()}",
            "body": f'{{"stat": "ok", "token": "{plant()}", "api_key": "{plant()}"}}',
            "repr": f"{{'oauth_token_secret': '{plant()}', 'page': '2'}}",
            "raw": f"oauth_token={plant()}&oauth_token_secret={plant()}".encode(),
            # secrets nested in structures
            "params": {"api_key": plant(), "page": "2", "nested": [{"token": plant()}]},
            "headers": {"Authorization": f"Bearer {plant()}", "X-API-Key": plant()},
            "items": [f"https://u:{plant()}@h/", {"password": plant()}],
            "settings": {"redis_url": SecretStr(plant()), "port": 3000},
        }
    )
    return fields


KEEP = {"job_id": "job-visible-1", "user_id": "user-visible-1", "page": "2"}


def event_fields(name: str, planted: list[str]) -> dict[str, Any]:
    """The event's own fields, each value a URL with credentials and a secret query."""
    fields: dict[str, Any] = {}
    for field in EVENTS[name].fields:
        user_pw, query = secret(), secret()
        planted += [user_pw, query]
        fields[field] = f"{name}-{field} https://u:{user_pw}@h.example/p?oauth_token={query}"
    return fields


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    logs.clear_sinks()
    logs.reset_logging()


@pytest.fixture(params=["json", "console"])
def pipeline(request: pytest.FixtureRequest) -> Iterator[list[dict[str, Any]]]:
    """Logging as a process configures it, at debug, with a recording plugin sink."""
    seen: list[dict[str, Any]] = []
    logs.configure_logging(level="debug", fmt=request.param, service="svc", env="test")
    logs.add_sink(seen.append)
    yield seen
    logs.clear_sinks()


def assert_clean(text: str, planted: list[str]) -> None:
    leaked = [value for value in planted if value in text]
    assert not leaked, f"secrets leaked: {leaked}\n{text[:3000]}"


@pytest.mark.parametrize("name", list(EVENTS))
def test_no_secret_reaches_output_or_plugins(
    name: str, pipeline: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    planted: list[str] = []
    log = logs.get_logger(role="worker")
    method = getattr(log, EVENTS[name].level)
    job = Job(id="job-visible-1", user_id="user-visible-1", target="rest", trace_id="trace-v")
    with logs.bound_job(job):
        method(name, **{**event_fields(name, planted), **secret_payload(planted), **KEEP})
        # the same event with an exception whose message holds secrets
        try:
            raise RuntimeError(f"failed: amqp://u:{secret_and(planted)}@h token={secret()}")
        except RuntimeError:
            log.error(name, exc_info=True, **{**secret_payload(planted), **KEEP})
    out = capsys.readouterr()
    assert_clean(out.out + out.err, planted)
    assert len(pipeline) == 2
    for event in pipeline:
        assert_clean(repr(event), planted)
        assert_clean(repr(obs_body(event, "host")), planted)
        assert event["event"] == name
        assert event["job_id"] == "job-visible-1"  # redaction does not eat what is not secret
        assert event["trace_id"] == "trace-v"
        assert event["page"] == "2"
    assert "job-visible-1" in out.err
    assert pipeline[1]["error_type"] == "RuntimeError"


def secret_and(planted: list[str]) -> str:
    value = secret()
    planted.append(value)
    return value


def test_library_records_are_redacted_too(
    pipeline: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    planted = [secret() for _ in range(4)]
    library = logging.getLogger("aio_pika.robust_connection")
    library.warning(
        "Connection attempt to amqp://guest:%s@rabbit/ failed, token=%s", planted[0], planted[1]
    )
    try:
        raise ConnectionError(f"redis://:{planted[2]}@cache refused")
    except ConnectionError:
        logging.getLogger("redis").exception("lost %s", f"Bearer {planted[3]}")
    out = capsys.readouterr()
    assert_clean(out.out + out.err, planted)
    assert "aio_pika.robust_connection" in out.err
    assert [event["logger"] for event in pipeline] == ["aio_pika.robust_connection", "redis"]
    assert pipeline[1]["error_type"] == "ConnectionError"
    for event in pipeline:
        assert_clean(repr(event), planted)


def test_settings_dump_is_redacted(
    pipeline: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Logging all settings (as ``flickrhub config`` shows them) shows no secret."""
    planted = [secret() for _ in range(6)]
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        FLICKRHUB_SECRET_KEY=planted[0],
        RABBIT_URL=f"amqp://u:{planted[1]}@rabbit/",
        REDIS_URL=f"redis://:{planted[2]}@redis/0",
        MONGO_URL=f"mongodb://u:{planted[3]}@mongo/",
        FLICKRHUB_API_KEYS=f"app={planted[4]}",
        OBS_API_KEY=planted[5],
    )
    logs.get_logger().info("api_ready", settings=settings.model_dump(), shown=settings.redacted())
    out = capsys.readouterr()
    assert_clean(out.err, planted)
    assert_clean(repr(pipeline), planted)


def test_configure_logging_is_idempotent() -> None:
    logs.configure_logging(fmt="json", level="info")
    processors = structlog.get_config()["processors"]
    handlers = list(logging.getLogger().handlers)
    logs.configure_logging(fmt="json", level="info")
    assert structlog.get_config()["processors"] is processors
    logs.configure_logging(fmt="console", level="debug")  # reconfiguring replaces, never adds
    assert len(logging.getLogger().handlers) == len(handlers)
    assert logs.is_configured()


def test_ensure_configured_leaves_a_capture_alone() -> None:
    with structlog.testing.capture_logs() as captured:
        logs.ensure_configured(Settings(_env_file=None))  # type: ignore[call-arg]
        logs.get_logger().info("api_ready", api="x")
    assert captured == [{"event": "api_ready", "api": "x", "log_level": "info"}]
