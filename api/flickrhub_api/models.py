"""Pydantic models of request bodies and (for OpenAPI) response envelopes.

Request models ignore unknown fields (the earlier system's clients send a few
that were never used, such as ``url``). ``error_message`` and ``field_messages``
keep the earlier system's wording of validation errors where it had one; the
error mapper (:mod:`flickrhub_api.errors`) reads them through :func:`model_named`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from quart_schema.pydantic import File

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


class ReplaceForm(BaseModel):
    """``multipart/form-data`` of ``/replace`` (documentation only: it is streamed)."""

    user_id: str
    photo_id: str
    photo: File
    async_: Literal["0", "1"] | None = Field(None, alias="async")
    callback_url: str | None = None


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


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Check(BaseModel):
    ok: bool
    error: str | None = None


class ReadyData(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Check]
