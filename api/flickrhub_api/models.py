"""Pydantic models of request bodies and (for OpenAPI) response envelopes.

Request models ignore unknown fields (the earlier system's clients send a few
that were never used, such as ``url``). ``error_message`` and ``field_messages``
keep the earlier system's wording of validation errors where it had one; the
error mapper (:mod:`flickrhub_api.errors`) reads them through :func:`model_named`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError
from quart_schema.pydantic import File

from flickrhub_core.jobs import JobState

T = TypeVar("T")
Perms = Literal["read", "write", "delete"]

_FLICKR_SCALAR: list[dict[str, Any]] = [
    {"type": "string", "maxLength": 10_000},
    {"type": "number"},
    {"type": "boolean"},
]
#: What ``params`` documents; :func:`flickrhub_core.targets.flat_params` enforces it
#: (one error detail per bad field, which pydantic's own messages would not give).
FlickrParams = Annotated[
    dict[str, Any] | None,
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "object",
                    "maxProperties": 100,
                    "propertyNames": {"maxLength": 100},
                    "additionalProperties": {
                        "anyOf": [
                            *_FLICKR_SCALAR,
                            {"type": "array", "items": {"anyOf": _FLICKR_SCALAR}},
                        ]
                    },
                },
                {"type": "null"},
            ],
            "default": None,
        }
    ),
]
#: The key of the validation context (:func:`flickrhub_api.validation.parse_model`) that
#: names the targets a request may name without a ``method``.
METHODLESS_TARGETS = "methodless_targets"
#: http:// or https://, any case, or blank (taken as absent): what the validator below
#: and the form's check accept.
HTTP_URL_PATTERN = r"^(?:[Hh][Tt][Tt][Pp][Ss]?://|\s*$)"

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


def _no_default(schema: dict[str, Any]) -> None:
    """A key that is absent when it does not apply (never null): no default to show."""
    schema.pop("default", None)


def _method_in_schema(schema: dict[str, Any]) -> None:
    """Publish ``method`` as required: every target FlickrHub ships needs one (a
    client that always sends it works with any target)."""
    schema["required"] = ["method", *schema.get("required", [])]


class RestRequest(ApiModel):
    """Enqueue one Flickr call."""

    model_config = ConfigDict(json_schema_extra=_method_in_schema)

    field_messages: ClassVar[dict[str, str]] = {
        "method": "method is required",
        "user_id": "userId is required",
        "params": "params must be object",
        "callback_url": "callbackUrl must be string",
        "callback_secret": "callbackSecret must be string",
        "meta": "meta must be object",
    }

    # Before ``method``: its check reads the target.
    target: str = Field("rest", min_length=1, max_length=40)
    method: Annotated[
        str | None,
        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200}),
    ] = Field(
        None,
        min_length=1,
        max_length=200,
        validate_default=True,
        json_schema_extra=_no_default,
        examples=["flickr.photos.search"],
        description="The Flickr method; only a target that declares it needs none "
        "(`requires_method = False`) takes a request without it",
    )
    params: FlickrParams = Field(
        None,
        description="Flickr's arguments (at most 100), sent as text: numbers as JavaScript "
        "writes them (2.0 is 2), booleans as 1/0, arrays comma-separated "
        '(["url_m", "owner_name"] is url_m,owner_name). FlickrHub sets format=json and '
        "nojsoncallback=1 itself: those values are accepted and dropped, any other is refused",
    )
    user_id: str = Field(min_length=1, max_length=200)
    callback_url: str | None = Field(
        None,
        max_length=2048,
        json_schema_extra={"pattern": HTTP_URL_PATTERN},
        description="Webhook called when the job finishes (public addresses only)",
    )
    callback_secret: str | None = Field(
        None, max_length=1000, description="HMAC key of the webhook"
    )
    meta: dict[str, Any] | None = Field(None, description="Echoed in the webhook")
    cache: StrictBool = Field(True, description="false skips the response cache")

    _blank = field_validator("callback_url", "callback_secret", mode="before")(_blank_to_none)

    @field_validator("method", mode="before")
    @classmethod
    def _method_required(cls, value: object, info: ValidationInfo) -> object:
        # Missing (or null) is the earlier system's "method is required", reported with
        # every other problem, unless the target needs no method (the API passes their
        # names as METHODLESS_TARGETS in the validation context).
        if value is None:
            methodless = (info.context or {}).get(METHODLESS_TARGETS, frozenset())
            if info.data.get("target") not in methodless:
                raise PydanticCustomError("missing", "Field required")
        return value

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
_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
#: A time in a query string: ISO 8601, a date meaning its midnight (UTC unless offset).
QueryTime = Annotated[
    datetime | None,
    WithJsonSchema({"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}]}),
]


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
    since: QueryTime = Field(
        None, description="Created at or after (ISO 8601; UTC unless it has an offset)"
    )
    until: QueryTime = Field(None, description="Created before (ISO 8601)")
    limit: int = Field(50, ge=1, le=200, description="Jobs per page")
    cursor: str | None = Field(
        None, min_length=1, max_length=200, description="next_cursor of the previous page"
    )

    @field_validator("since", "until", mode="before")
    @classmethod
    def _plus_sign(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if _NUMBER.match(value):
            # pydantic would read a number as Unix time: not what the field documents.
            raise ValueError("must be an ISO 8601 date-time, such as 2024-05-01T12:00:00Z")
        return _SPACED_OFFSET.sub(r"+\1", value)

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


#: A form field: at most this much UTF-8 (:data:`flickrhub_api.routes.photos.MAX_FIELD_BYTES`).
_FIELD_NOTE = "at most 64 KiB of UTF-8 text"


class _PhotoForm(BaseModel):
    """The fields both photo forms share. Documentation only: the form is streamed
    (:mod:`flickrhub_api.routes.photos` reads it); a field not listed here is a 400."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    user_id: str = Field(min_length=1, description="A user_id from /auth/complete")
    photo: File = Field(
        description="The image (or video) file. Its type is Flickr's to judge: a file "
        "Flickr does not recognise fails the job (ERR_FLICKR_API, code 5), not this request"
    )
    async_: Literal["0", "1"] | None = Field(
        None, alias="async", description="1: Flickr processes the photo asynchronously"
    )
    callback_url: str | None = Field(
        None,
        max_length=2048,
        json_schema_extra={"pattern": HTTP_URL_PATTERN},
        description="Webhook called when the job finishes (public addresses only)",
    )
    callback_secret: str | None = Field(
        None, max_length=1000, description="HMAC key of the webhook"
    )
    meta: str | None = Field(None, description="A JSON object, echoed in the webhook")


class UploadForm(_PhotoForm):
    """``multipart/form-data`` of ``/upload``: the photo and Flickr's upload arguments."""

    title: str | None = Field(None, description=_FIELD_NOTE)
    description: str | None = Field(None, description=_FIELD_NOTE)
    tags: str | None = Field(None, description="Space-separated; quote multi-word tags")
    is_public: Literal["0", "1"] | None = None
    is_friend: Literal["0", "1"] | None = None
    is_family: Literal["0", "1"] | None = None
    safety_level: Literal["1", "2", "3"] | None = None
    content_type: Literal["1", "2", "3"] | None = None
    hidden: Literal["1", "2"] | None = None


class ReplaceForm(_PhotoForm):
    """``multipart/form-data`` of ``/replace``: the photo to replace and the new file."""

    photo_id: str = Field(min_length=1, description="The Flickr photo to replace")


# --- responses (documentation) -------------------------------------------------------


class FieldProblem(BaseModel):
    """What is wrong with one field of a refused request."""

    model_config = ConfigDict(extra="allow")

    field: str = Field(description="Its path: user_id, params.tags, calls.3.method, body ...")
    message: str


class ErrorInfo(BaseModel):
    code: str = Field(
        description="Stable machine code, e.g. ERR_INVALID_REQUEST, ERR_NOT_FOUND",
        examples=["ERR_INVALID_REQUEST"],
    )
    message: str = Field(description="For humans; never a secret or a stack trace")
    details: Any = Field(
        None,
        description="A refused request's problems, one string each, as the earlier system "
        'gave them (["method is required", "userId is required"]); other errors\' context '
        "(an object) or null",
        examples=[["method is required", "userId is required"]],
    )
    fields: list[FieldProblem] | SkipJsonSchema[None] = Field(
        None,
        description="The same problems as objects, by field (only on a refused request)",
        json_schema_extra=_no_default,
    )


class Envelope(BaseModel, Generic[T]):
    """A successful answer: ``data``, and ``error`` null."""

    request_id: str = Field(description="Also in the X-Request-ID header; quote it in reports")
    data: T
    error: None = None


class ErrorEnvelope(BaseModel):
    """A refused or failed request: ``error``, and ``data`` null."""

    request_id: str = Field(description="Also in the X-Request-ID header; quote it in reports")
    data: None = None
    error: ErrorInfo


class AuthStartData(BaseModel):
    authorize_url: str = Field(description="Send the user here to approve")
    oauth_token: str
    state: str = Field(description="Pass back to /auth/complete; the callback carries it")
    mode: Literal["oob", "callback"]
    perms: Perms
    expires_in: int = Field(description="Seconds the authorisation waits for the user")


class AuthUserData(BaseModel):
    user_id: str = Field(description="Names this Flickr account in every later call")
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
    status_url: str = Field(description="GET it (with ?wait=) for the outcome")
    idempotent_replay: bool = Field(
        False, description="True when an earlier request with the same Idempotency-Key made it"
    )


class JobView(BaseModel):
    """A job as its owner sees it; ``id``, ``returnvalue``, ``failedReason``,
    ``attempts_made`` and ``queue`` are the earlier system's fields."""

    model_config = ConfigDict(extra="allow")

    job_id: str
    id: str
    user_id: str
    target: str
    method: str | None
    queue: str
    state: JobState
    attempts: int
    attempts_made: int
    max_attempts: int
    rate_limited: int = Field(
        0, description="Tries Flickr refused with 429, not counted in attempts"
    )
    result: Any = Field(None, description="Flickr's answer (JSON) once completed")
    error: dict[str, Any] | None = Field(
        None, description="code, message, retryable (and flickr_code, http_status) once failed"
    )
    returnvalue: Any = Field(
        None,
        description="Once completed, the earlier system's {from_cache, cache_ttl_seconds "
        "(on a cache hit: whole seconds the cached answer had left), flickr}",
    )
    failedReason: str | None = None  # the earlier system's name
    from_cache: bool = False
    dead_lettered: bool = False
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    duration_ms: float | None = None
    trace_id: str | None = Field(None, description="The request_id of the request that made it")
    meta: dict[str, Any] | None = None
    progress: dict[str, Any] | None = Field(
        None, description="bytes_sent, bytes_total of an upload"
    )
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
    """The process answers (a bare object, not an envelope: what probes expect)."""

    status: Literal["ok"] = "ok"


class Check(BaseModel):
    ok: bool
    error: str | None = Field(default=None, description="timeout, or the error's class name")


class ReadyData(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Check]


class NotReadyEnvelope(BaseModel):
    """A dependency does not answer: the checks in ``data``, which failed in ``error``."""

    request_id: str
    data: ReadyData
    error: ErrorInfo


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
