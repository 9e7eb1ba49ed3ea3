"""The one error hierarchy of FlickrHub.

Every error a client, a worker or an operator can see is a :class:`FlickrHubError`.
Each carries a stable machine ``code``, a human ``message`` safe to show anyone
(never a secret, token, connection string or stack trace), optional ``details``
and, for job failures, whether a retry can help. ``retry_after`` (seconds), when
set, becomes a ``Retry-After`` header. ``flickrhub_api.errors`` maps them to the
HTTP envelope and status in one place.

::

    FlickrHubError
    ├── InvalidRequest            400  bad input (field-level details)
    ├── Unauthorized              401  missing or unknown API key
    ├── NotFound                  404  unknown (or someone else's) user, job, ...
    ├── Conflict                  409
    │   └── JobAlreadyFinished    409  a save would change a finished job's state
    ├── TooManyRequests           429  the client's request rate is over its limit
    ├── ServiceUnavailable        503  a dependency is down or full
    │   └── QueueFull             503  the owner's pending jobs are at their cap
    ├── ConfigError                    bad settings: refuses to start
    ├── PluginError                    broken / unknown plugin: refuses to start
    └── JobError                       a job failed (stored on the job)
        ├── FlickrError                Flickr said no, or could not be reached
        │   ├── FlickrApiError         HTTP 200 ``stat: fail`` (code, message)
        │   ├── FlickrOAuthError       401/400 ``oauth_problem=...``
        │   ├── FlickrHttpError        other HTTP status (5xx, 429, 404 ...)
        │   └── FlickrTransportError   network error or timeout
        ├── OutcomeUnknown             a non-idempotent request may have run
        └── JobCancelled               its owner cancelled it while it ran
"""

from __future__ import annotations

from typing import Any


class FlickrHubError(Exception):
    """Base of every FlickrHub error."""

    code: str = "ERR_INTERNAL"
    http_status: int = 500
    #: Seconds after which trying again may succeed (``Retry-After``), if known.
    retry_after: float | None = None

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidRequest(FlickrHubError):
    code = "ERR_INVALID_REQUEST"
    http_status = 400


class Unauthorized(FlickrHubError):
    """No API key, or one no configured client has."""

    code = "ERR_UNAUTHORIZED"
    http_status = 401


class NotFound(FlickrHubError):
    code = "ERR_NOT_FOUND"
    http_status = 404


class Conflict(FlickrHubError):
    code = "ERR_CONFLICT"
    http_status = 409


class JobAlreadyFinished(Conflict):
    """A save would change the state of a job that has finished (``JobStore.save``).

    A finished job's state is final: when two writers race (a worker whose lease
    lapsed and the one that took the job over, or the API's cancel and a worker),
    the first outcome stored stands and the later writer hears this.
    """

    def __init__(self, job_id: str, state: str) -> None:
        super().__init__(
            f"job {job_id} has already finished ({state}): its state cannot change",
            details={"job_id": job_id, "state": state},
        )
        self.job_id = job_id
        #: The state the job finished in, as stored.
        self.state = state


class JobAlreadyStarted(Conflict):
    """A save would record a job a worker has started as never started (``JobStore.save``).

    The API cancels a queued job by saving it ``cancelled``; if a worker took the job
    since the API read it, that save is refused, and the cancel becomes a request the
    worker honours (:mod:`flickrhub_core.cancel`) instead of overwriting its run.
    """

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"job {job_id} has started: it can only be asked to stop",
            details={"job_id": job_id},
        )
        self.job_id = job_id


class TooManyRequests(FlickrHubError):
    """The client sent more requests than its limit allows; ``retry_after`` says when
    the next one will be accepted."""

    code = "ERR_RATE_LIMITED"
    http_status = 429

    def __init__(
        self, message: str, *, retry_after: float, details: Any = None, code: str | None = None
    ) -> None:
        super().__init__(message, details=details, code=code)
        self.retry_after = retry_after


class ServiceUnavailable(FlickrHubError):
    code = "ERR_UNAVAILABLE"
    http_status = 503

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, details=details, code=code)
        self.retry_after = retry_after


class QueueFull(ServiceUnavailable):
    """``owner`` has ``pending`` unfinished jobs, at ``FLICKRHUB_MAX_PENDING_JOBS``
    (``cap``): a new one is refused until some have finished."""

    code = "ERR_QUEUE_FULL"
    #: Seconds a client is asked to wait before trying again.
    RETRY_AFTER = 5

    def __init__(self, pending: int, cap: int) -> None:
        super().__init__(
            f"too many pending jobs (at most {cap} queued, running or retrying); "
            "try again when some have finished",
            retry_after=self.RETRY_AFTER,
            details={"pending": pending, "max_pending_jobs": cap},
        )
        self.pending = pending
        self.cap = cap


class ConfigError(FlickrHubError):
    """Settings that cannot work; the process refuses to start with this one line."""

    code = "ERR_CONFIG"


class PluginError(FlickrHubError):
    """A plugin that is unknown, fails to import or breaks a hook contract."""

    code = "ERR_PLUGIN"


class JobError(FlickrHubError):
    """A job's failure. ``retryable`` says whether running it again can help."""

    code = "ERR_JOB"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool = False,
        details: Any = None,
    ) -> None:
        super().__init__(message, details=details, code=code)
        self.retryable = retryable

    def as_dict(self) -> dict[str, Any]:
        """The ``{code, message, retryable}`` stored on the job record."""
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


class FlickrError(JobError):
    """Flickr refused the call or could not be reached.

    ``sent`` is False only when the request provably had no effect at Flickr:
    it never left this machine (connection refused, connect timeout) or Flickr
    explicitly refused it (105, 429). Only then may a non-idempotent call
    (upload, replace) be sent again.
    """

    code = "ERR_FLICKR"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool = False,
        sent: bool = True,
        flickr_code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, retryable=retryable)
        self.sent = sent
        self.flickr_code = flickr_code
        self.status = http_status

    def as_dict(self) -> dict[str, Any]:
        data = super().as_dict()
        if self.flickr_code is not None:
            data["flickr_code"] = self.flickr_code
        if self.status is not None:
            data["http_status"] = self.status
        return data


class FlickrApiError(FlickrError):
    """HTTP 200 with ``stat: fail``: Flickr's ``code`` and ``message``."""

    code = "ERR_FLICKR_API"


class FlickrOAuthError(FlickrError):
    """HTTP 401/400 with an ``oauth_problem`` body (bad signature, rejected token ...)."""

    code = "ERR_FLICKR_OAUTH"

    def __init__(self, problem: str, *, http_status: int) -> None:
        super().__init__(
            f"Flickr OAuth error: {problem}",
            retryable=False,
            sent=True,
            http_status=http_status,
        )
        self.problem = problem

    def as_dict(self) -> dict[str, Any]:
        data = super().as_dict()
        data["oauth_problem"] = self.problem
        return data


class FlickrHttpError(FlickrError):
    """A non-200 HTTP answer that is not an OAuth problem (5xx, 429, 404 ...)."""

    code = "ERR_FLICKR_HTTP"
    #: Seconds Flickr asked us to wait (``Retry-After`` on 429/503), if it said.
    retry_after: float | None = None


class FlickrTransportError(FlickrError):
    """Network failure or timeout talking to Flickr."""

    code = "ERR_FLICKR_TRANSPORT"


class OutcomeUnknown(JobError):
    """A non-idempotent request (upload, replace) may have reached Flickr.

    Sending it again could duplicate a photo, so the job fails instead.
    """

    code = "ERR_OUTCOME_UNKNOWN"

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class JobCancelled(JobError):
    """The job's owner cancelled it while it ran; it ends ``cancelled``, never retried.

    The worker raises it when it sees the request; a target may raise it too, at a
    point where stopping is safe (:meth:`TargetContext.raise_if_cancelled`).
    """

    code = "ERR_CANCELLED"

    def __init__(self, message: str = "cancelled by request") -> None:
        super().__init__(message, retryable=False)
