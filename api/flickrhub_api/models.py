"""Pydantic models of request bodies and (for OpenAPI) response envelopes.

Request models ignore unknown fields (the earlier system's clients send a few
that were never used, such as ``url``). ``error_message`` and ``field_messages``
keep the earlier system's wording of validation errors where it had one; the
error mapper (:mod:`flickrhub_api.errors`) reads them through :func:`model_named`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from quart_schema.pydantic import File

from flickrhub_core.jobs import JobState

T = TypeVar("T")
Perms = Literal["read", "write", "delete"]

_MODELS: dict[str, type[ApiModel]] = {}


class ApiModel(BaseModel):
    """A request model; subclasses register themselves for the error mapper."""

    model_config = ConfigDict(extra="ignore")

    #: The top-level ``message`` when the body does not validate.
    error_message: ClassVar[str] = "Invalid request"
    #: Per-field messages for a missing or mistyped field.
    field_messages: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _MODELS[cls.__name__] = cls


def model_named(name: str) -> type[ApiModel] | None:
    """The request model a pydantic ``ValidationError.title`` names, if it is ours."""
    return _MODELS.get(name)


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


# --- requests -----------------------------------------------------------------------


class AuthStartRequest(ApiModel):
    """Start OAuth: a consumer pair of the client's own (both or neither), and perms."""

    api_key: str | None = Field(None, max_length=200, description="Your Flickr API key")
    api_secret: str | None = Field(None, max_length=200, description="Its secret")
    perms: Perms = Field("write", description="Permission asked of the user")

    _blank = field_validator("api_key", "api_secret", mode="before")(_blank_to_none)


class AuthCompleteRequest(ApiModel):
    """Finish OAuth with the verifier the user got from Flickr."""

    error_message: ClassVar[str] = "oauth_token and oauth_verifier are required"

    oauth_token: str = Field(min_length=1, max_length=500)
    oauth_verifier: str = Field(min_length=1, max_length=500)
    state: str | None = Field(None, max_length=500, description="The state from /auth/start")


class AuthCallbackQuery(ApiModel):
    """Flickr's redirect back to CALLBACK_URL."""

    error_message: ClassVar[str] = "oauth_token, oauth_verifier and state are required"

    oauth_token: str = Field(min_length=1, max_length=500)
    oauth_verifier: str = Field(min_length=1, max_length=500)
    state: str = Field(min_length=1, max_length=500)


class RestRequest(ApiModel):
    """Enqueue one Flickr call."""

    field_messages: ClassVar[dict[str, str]] = {
        "method": "method is required",
        "user_id": "userId is required",
        "params": "params must be object",
        "callback_url": "callbackUrl must be string",
        "callback_secret": "callbackSecret must be string",
        "meta": "meta must be object",
    }

    method: str | None = Field(
        None, min_length=1, max_length=200, examples=["flickr.photos.search"]
    )
    params: dict[str, Any] | None = Field(
        None, description="Flickr's arguments: strings, numbers or booleans"
    )
    user_id: str = Field(min_length=1, max_length=200)
    target: str = Field("rest", min_length=1, max_length=40)
    callback_url: str | None = Field(None, max_length=2048)
    callback_secret: str | None = Field(None, max_length=1000)
    meta: dict[str, Any] | None = None
    cache: bool = Field(True, description="false skips the response cache")

    _blank = field_validator("callback_url", "callback_secret", mode="before")(_blank_to_none)

    @field_validator("callback_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError("callback_url must be an http:// or https:// URL")
        return value


class JobStatusRequest(ApiModel):
    """The earlier system's status call."""

    error_message: ClassVar[str] = "job_id and user_id are required"

    job_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)


class JobQuery(ApiModel):
    """``GET /jobs/<id>``: ``wait`` long-polls until the job finishes (at most 30 s)."""

    user_id: str | None = Field(None, min_length=1, max_length=200)
    wait: float = Field(0, ge=0, le=30, description="Seconds to wait for the job to finish")


class CancelRequest(ApiModel):
    user_id: str | None = Field(None, min_length=1, max_length=200)


#: Calls one ``POST /batch`` may carry.
MAX_BATCH = 100
#: A ``+`` in a query string arrives as a space: ``...T10:00:00 02:00`` means ``+02:00``.
_SPACED_OFFSET = re.compile(r" (\d\d:?\d\d)$")


class BatchCall(RestRequest):
    """One call of a batch: the fields of ``POST /rest``."""


class BatchRequest(ApiModel):
    """Enqueue up to 100 calls at once: all are validated before any is queued."""

    calls: list[BatchCall] = Field(min_length=1, max_length=MAX_BATCH)


class BatchQuery(ApiModel):
    """``GET /batches/<id>``: ``wait`` long-polls until every job finished (at most 30 s)."""

    wait: float = Field(0, ge=0, le=30, description="Seconds to wait for the batch to finish")


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class JobListQuery(ApiModel):
    """``GET /jobs``: the caller's jobs, newest first, filtered and paginated."""

    user_id: str | None = Field(None, min_length=1, max_length=200)
    state: JobState | None = None
    target: str | None = Field(None, min_length=1, max_length=40)
    method: str | None = Field(None, min_length=1, max_length=200)
    batch_id: str | None = Field(None, min_length=1, max_length=200)
    since: datetime | None = Field(
        None, description="Created at or after (ISO 8601; UTC unless it has an offset)"
    )
    until: datetime | None = Field(None, description="Created before (ISO 8601)")
    limit: int = Field(50, ge=1, le=200, description="Jobs per page")
    cursor: str | None = Field(
        None, min_length=1, max_length=200, description="next_cursor of the previous page"
    )

    @field_validator("since", "until", mode="before")
    @classmethod
    def _plus_sign(cls, value: object) -> object:
        return _SPACED_OFFSET.sub(r"+\1", value) if isinstance(value, str) else value

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


class UploadForm(BaseModel):
    """``multipart/form-data`` of ``/upload`` (documentation only: it is streamed)."""

    user_id: str
    photo: File
    title: str | None = None
    description: str | None = None
    tags: str | None = Field(None, description="Space-separated; quote multi-word tags")
    is_public: Literal["0", "1"] | None = None
    is_friend: Literal["0", "1"] | None = None
    is_family: Literal["0", "1"] | None = None
    safety_level: Literal["1", "2", "3"] | None = None
    content_type: Literal["1", "2", "3"] | None = None
    hidden: Literal["1", "2"] | None = None
    async_: Literal["0", "1"] | None = Field(None, alias="async")
    callback_url: str | None = None
    callback_secret: str | None = Field(None, description="HMAC key of the webhook")
    meta: str | None = Field(None, description="A JSON object, echoed in the webhook")


class ReplaceForm(BaseModel):
    """``multipart/form-data`` of ``/replace`` (documentation only: it is streamed)."""

    user_id: str
    photo_id: str
    photo: File
    async_: Literal["0", "1"] | None = Field(None, alias="async")
    callback_url: str | None = None
    callback_secret: str | None = Field(None, description="HMAC key of the webhook")
    meta: str | None = Field(None, description="A JSON object, echoed in the webhook")


# --- responses (documentation) -------------------------------------------------------


class ErrorInfo(BaseModel):
    code: str = Field(examples=["ERR_INVALID_REQUEST"])
    message: str
    details: Any = None


class Envelope(BaseModel, Generic[T]):
    """Every JSON answer: ``data`` on success, ``error`` on failure."""

    request_id: str
    data: T | None = None
    error: ErrorInfo | None = None


class ErrorEnvelope(BaseModel):
    request_id: str
    data: None = None
    error: ErrorInfo


class AuthStartData(BaseModel):
    authorize_url: str
    oauth_token: str
    state: str
    mode: Literal["oob", "callback"]
    perms: Perms
    expires_in: int


class AuthUserData(BaseModel):
    user_id: str
    user_nsid: str
    username: str
    fullname: str
    perms: str


class AuthCallbackData(AuthUserData):
    status: Literal["ok"] = "ok"


class EnqueueData(BaseModel):
    job_id: str
    state: str
    queue: str
    status_url: str
    idempotent_replay: bool = False


class JobView(BaseModel):
    """A job as its owner sees it; ``id``, ``returnvalue``, ``failedReason`` and
    ``queue`` are the earlier system's fields."""

    model_config = ConfigDict(extra="allow")

    job_id: str
    id: str
    user_id: str
    target: str
    method: str | None
    queue: str
    state: str
    attempts: int
    max_attempts: int
    result: Any = None
    error: dict[str, Any] | None = None
    returnvalue: Any = None
    failedReason: str | None = None  # the earlier system's name
    created_at: str
    finished_at: str | None = None
    batch_id: str | None = None
    callback_url: str | None = None
    webhook: dict[str, Any] | None = Field(
        None,
        description="Delivery of the webhook: url, state (pending, delivered, failed), "
        "attempts, last_status, last_error, delivered_at, delivery_id",
    )


class JobList(BaseModel):
    jobs: list[JobView]
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page")


class BatchData(BaseModel):
    batch_id: str
    job_ids: list[str]
    status_url: str
    idempotent_replay: bool = False


class BatchStatus(BaseModel):
    batch_id: str
    total: int
    counts: dict[str, int] = Field(description="Jobs per state")
    done: bool = Field(description="Whether every job has finished")
    jobs: list[JobView]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Check(BaseModel):
    ok: bool
    error: str | None = None


class ReadyData(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Check]


class AccountView(BaseModel):
    """A connected Flickr account as its API client sees it (never a token or secret)."""

    user_id: str
    user_nsid: str = Field(description="The Flickr account's NSID")
    username: str
    fullname: str
    perms: str = Field(description="What the user allowed: read, write or delete")
    connected_at: str = Field(description="When the account was first connected (UTC, ISO 8601)")


class RevokeData(BaseModel):
    """A revoked account: its token is deleted, its queued jobs cancelled."""

    user_id: str
    revoked: Literal[True] = True
    cancelled_jobs: int = Field(description="Queued jobs cancelled; running ones finish")
