"""Settings, read from the environment and a ``.env`` file.

Names the earlier system used keep their names (``PORT``, ``REDIS_URL``, ...);
new ones start with ``FLICKRHUB_``. An invalid value stops the start with one
line naming the variable (:func:`load_settings`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from flickrhub_core.errors import ConfigError

FLICKR_REST_URL = "https://api.flickr.com/services/rest/"
FLICKR_UPLOAD_URL = "https://up.flickr.com/services/upload/"
FLICKR_REPLACE_URL = "https://up.flickr.com/services/replace/"
FLICKR_OAUTH_URL = "https://www.flickr.com/services/oauth"


class Settings(BaseSettings):
    """Every setting FlickrHub reads. ``flickrhub config`` prints them, secrets redacted."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

    # --- the earlier system's names -------------------------------------------------
    port: int = Field(3000, ge=0, le=65535, validation_alias="PORT")
    redis_url: SecretStr | None = Field(None, validation_alias="REDIS_URL")
    mongo_url: SecretStr | None = Field(None, validation_alias="MONGO_URL")
    mongo_db: str = Field("flickrhub", validation_alias="MONGO_DB")
    rabbit_url: SecretStr | None = Field(None, validation_alias="RABBIT_URL")
    flickr_api_key: str | None = Field(None, validation_alias="FLICKR_API_KEY")
    flickr_api_secret: SecretStr | None = Field(None, validation_alias="FLICKR_API_SECRET")
    flickr_rest_url: str = Field(FLICKR_REST_URL, validation_alias="FLICKR_REST_URL")
    flickr_upload_url: str = Field(FLICKR_UPLOAD_URL, validation_alias="FLICKR_UPLOAD_URL")
    flickr_replace_url: str = Field(FLICKR_REPLACE_URL, validation_alias="FLICKR_REPLACE_URL")
    flickr_oauth_url: str = Field(FLICKR_OAUTH_URL, validation_alias="FLICKR_OAUTH_URL")
    oauth_mode: Literal["oob", "callback"] = Field("oob", validation_alias="OAUTH_MODE")
    callback_url: str | None = Field(None, validation_alias="CALLBACK_URL")
    job_retry_attempts: int = Field(3, ge=1, le=50, validation_alias="JOB_RETRY_ATTEMPTS")
    job_ttl_complete: int = Field(86_400, ge=0, validation_alias="JOB_TTL_COMPLETE")
    job_ttl_fail: int = Field(7 * 86_400, ge=0, validation_alias="JOB_TTL_FAIL")
    cache_enabled: bool = Field(True, validation_alias="CACHE_ENABLED")
    cache_ttl_seconds: int = Field(300, ge=0, validation_alias="CACHE_TTL_SECONDS")
    flickr_rate_limit_per_hour: int = Field(
        3600, ge=0, validation_alias="FLICKR_RATE_LIMIT_PER_HOUR"
    )
    worker_concurrency: int = Field(8, ge=1, le=1000, validation_alias="WORKER_CONCURRENCY")
    obs_api_url: str | None = Field(None, validation_alias="OBS_API_URL")
    obs_api_key: SecretStr | None = Field(None, validation_alias="OBS_API_KEY")
    service_name: str = Field("flickrhub", validation_alias="SERVICE_NAME")
    service_env: str = Field("local", validation_alias="SERVICE_ENV")

    # --- FlickrHub's own --------------------------------------------------------------
    host: str = Field("127.0.0.1", validation_alias="FLICKRHUB_HOST")
    plugins: str | None = Field(None, validation_alias="FLICKRHUB_PLUGINS")
    data_dir: Path = Field(Path(".flickrhub"), validation_alias="FLICKRHUB_DATA_DIR")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", validation_alias="FLICKRHUB_LOG_FORMAT"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", validation_alias="FLICKRHUB_LOG_LEVEL"
    )
    rate_limit_burst: int = Field(10, ge=1, validation_alias="FLICKRHUB_RATE_LIMIT_BURST")
    cache_ttl_overrides: dict[str, int] = Field(
        default_factory=dict, validation_alias="FLICKRHUB_CACHE_TTLS"
    )
    flickr_timeout: float = Field(30.0, gt=0, validation_alias="FLICKRHUB_FLICKR_TIMEOUT")
    upload_timeout: float = Field(300.0, gt=0, validation_alias="FLICKRHUB_UPLOAD_TIMEOUT")
    retry_wait_initial: float = Field(0.5, ge=0, validation_alias="FLICKRHUB_RETRY_WAIT_INITIAL")
    retry_wait_max: float = Field(30.0, ge=0, validation_alias="FLICKRHUB_RETRY_WAIT_MAX")
    max_upload_bytes: int = Field(
        200 * 1024 * 1024, gt=0, validation_alias="FLICKRHUB_MAX_UPLOAD_BYTES"
    )
    sandbox_port: int = Field(0, ge=0, le=65535, validation_alias="FLICKRHUB_SANDBOX_PORT")
    #: Seconds a stopping worker lets running jobs (then pending webhooks) finish.
    #: ``FLICKRHUB_SHUTDOWN_GRACE`` is the earlier name, still read.
    drain_seconds: float = Field(
        25.0,
        ge=0,
        validation_alias=AliasChoices("FLICKRHUB_DRAIN_SECONDS", "FLICKRHUB_SHUTDOWN_GRACE"),
    )
    #: Seconds a worker's lease on a running job lasts (renewed while it runs): how long
    #: a job whose worker died waits before another worker runs it.
    job_lease_seconds: float = Field(
        10.0, ge=1, le=600, validation_alias="FLICKRHUB_JOB_LEASE_SECONDS"
    )
    #: Flickr 429 answers a job may get without using up an attempt; past them a 429
    #: counts as a failed attempt.
    rate_limited_retries: int = Field(
        10, ge=0, le=1000, validation_alias="FLICKRHUB_RATE_LIMITED_RETRIES"
    )
    #: Seconds a worker keeps a message and tries its job again while a backend (the
    #: job store) is away, before it gives the message back to the queue. Keep it well
    #: under RabbitMQ's ``consumer_timeout`` (30 minutes by default).
    store_wait_seconds: float = Field(
        300.0, ge=0, le=1800, validation_alias="FLICKRHUB_STORE_WAIT_SECONDS"
    )
    #: A worker serves Prometheus metrics on this port (0: it does not).
    worker_metrics_port: int = Field(
        0, ge=0, le=65535, validation_alias="FLICKRHUB_WORKER_METRICS_PORT"
    )
    #: Seconds a worker keeps a user's decrypted token (0: it reads the token store for
    #: every job). A revocation made through the API reaches workers within this time.
    token_cache_seconds: float = Field(
        30.0, ge=0, le=3600, validation_alias="FLICKRHUB_TOKEN_CACHE_SECONDS"
    )

    # --- distributed mode (RabbitMQ, Redis) ---------------------------------------------
    queue_type: Literal["auto", "quorum", "classic"] = Field(
        "auto", validation_alias="FLICKRHUB_QUEUE_TYPE"
    )
    #: Seconds an enqueue may wait for RabbitMQ (a reconnect in progress, the publisher
    #: confirm) before it is refused with 503: keep it under your clients' timeouts.
    publish_timeout: float = Field(5.0, gt=0, le=60, validation_alias="FLICKRHUB_PUBLISH_TIMEOUT")
    redis_prefix: str = Field("flickrhub:", validation_alias="FLICKRHUB_REDIS_PREFIX")
    #: The Mongo job archive (the earlier system's names): which finished jobs it keeps,
    #: for how many days (0 = forever), and the collections' names.
    save_completed_to_mongo: bool = Field(False, validation_alias="SAVE_COMPLETED_TO_MONGO")
    save_failed_to_mongo: bool = Field(True, validation_alias="SAVE_FAILED_TO_MONGO")
    job_ttl_complete_days: int = Field(0, ge=0, validation_alias="JOB_TTL_COMPLETE_DAYS")
    job_ttl_fail_days: int = Field(0, ge=0, validation_alias="JOB_TTL_FAIL_DAYS")
    token_collection: str = Field("tokens", min_length=1, validation_alias="TOKEN_COLLECTION")
    job_collection: str = Field("jobs", min_length=1, validation_alias="JOB_COLLECTION")

    # --- API clients, limits, security ---------------------------------------------------
    #: ``name=key`` pairs, comma separated; unset means no client authentication.
    api_keys: SecretStr | None = Field(None, validation_alias="FLICKRHUB_API_KEYS")
    cors_origins: str = Field("", validation_alias="FLICKRHUB_CORS_ORIGINS")
    json_body_limit: int = Field(1024 * 1024, gt=0, validation_alias="FLICKRHUB_JSON_BODY_LIMIT")
    client_rate_limit_per_minute: int = Field(
        600, ge=0, validation_alias="FLICKRHUB_CLIENT_RATE_LIMIT_PER_MINUTE"
    )
    max_pending_jobs: int = Field(1000, ge=0, validation_alias="FLICKRHUB_MAX_PENDING_JOBS")
    #: Fernet keys, comma separated, newest first; encrypts tokens at rest.
    secret_key: SecretStr | None = Field(None, validation_alias="FLICKRHUB_SECRET_KEY")

    # --- webhooks (the earlier system's names kept) ------------------------------------
    callback_enabled: bool = Field(True, validation_alias="CALLBACK_ENABLED")
    callback_retry_attempts: int = Field(5, ge=1, le=20, validation_alias="CALLBACK_RETRY_ATTEMPTS")
    webhook_timeout: float = Field(10.0, gt=0, validation_alias="FLICKRHUB_WEBHOOK_TIMEOUT")
    webhook_allow_private: bool = Field(False, validation_alias="FLICKRHUB_WEBHOOK_ALLOW_PRIVATE")

    @field_validator("oauth_mode", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator(
        "flickr_rest_url", "flickr_upload_url", "flickr_replace_url", "flickr_oauth_url"
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """``NAME=`` (as in .env.example) means "not set": the default applies."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @model_validator(mode="after")
    def _consumer_pair(self) -> Settings:
        if bool(self.flickr_api_key) != bool(self.flickr_api_secret):
            raise ValueError("FLICKR_API_KEY and FLICKR_API_SECRET must be set together")
        return self

    @property
    def plugin_allowlist(self) -> list[str] | None:
        """Names from ``FLICKRHUB_PLUGINS``, or None when unset (all installed)."""
        if self.plugins is None or not self.plugins.strip():
            return None
        return [name.strip() for name in self.plugins.split(",") if name.strip()]

    @property
    def uses_real_flickr(self) -> bool:
        return bool(self.flickr_api_key)

    @property
    def shutdown_grace(self) -> float:
        """The earlier name of :attr:`drain_seconds`."""
        return self.drain_seconds

    def cache_ttl_for(self, method: str) -> int:
        return self.cache_ttl_overrides.get(method, self.cache_ttl_seconds)

    def redacted(self) -> dict[str, Any]:
        """The effective settings by environment name, secrets shown as ``********``."""
        out: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                value = str(value)
            out[env_name(name, field)] = value
        return out


def env_name(name: str, field: FieldInfo) -> str:
    """The environment variable a setting is read from (its first name, when it has
    earlier names too)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        alias = alias.choices[0]
    return alias if isinstance(alias, str) else name.upper()


def env_names() -> list[str]:
    """Every setting's environment variable, in declaration order."""
    return [env_name(name, field) for name, field in Settings.model_fields.items()]


def load_settings(**overrides: Any) -> Settings:
    """Read settings; a bad value raises :class:`ConfigError` with one clear line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        prefix = f"invalid setting {where}" if where else "invalid settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{prefix}: {message}") from None
