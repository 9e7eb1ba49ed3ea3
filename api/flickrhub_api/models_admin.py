"""Request and response models of the dead-letter (admin) routes, and the answer of
cancelling a running job. Kept apart from :mod:`flickrhub_api.models`, whose
conventions they follow: requests are :class:`ApiModel`, responses document the
envelope's ``data``."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field, model_validator

from flickrhub_api.models import ApiModel, JobView
from flickrhub_core.dlq import MAX_BULK

JobId = Annotated[str, Field(min_length=1, max_length=200)]

# --- requests -------------------------------------------------------------------------


class DeadLetterQuery(ApiModel):
    """``GET /admin/dlq``: a page of the caller's dead letters, newest first."""

    limit: int = Field(50, ge=1, le=200, description="Dead letters per page")
    cursor: str | None = Field(
        None, min_length=1, max_length=200, description="next_cursor of the previous page"
    )


class DeadLetterSelection(ApiModel):
    """Which dead letters a bulk replay or purge takes: listed ids, or all of them."""

    error_message: ClassVar[str] = "give job_ids or all: true"

    job_ids: list[JobId] | None = Field(
        None,
        min_length=1,
        max_length=MAX_BULK,
        description=f"Dead-lettered job ids (at most {MAX_BULK})",
    )
    all: bool = Field(
        False,
        description=f"Every dead letter of the caller, oldest first, at most {MAX_BULK} "
        "per call (`more` says whether to call again)",
    )

    @model_validator(mode="after")
    def _one_of(self) -> DeadLetterSelection:
        if (self.job_ids is None) == (not self.all):
            raise ValueError("give either job_ids or all: true")
        return self


# --- responses ------------------------------------------------------------------------


class DeadLetterView(JobView):
    """A dead-lettered job: its status view and where it stands in the DLQ."""

    params: dict[str, str] = Field(description="The Flickr arguments it was called with")
    reason: str = Field(description="Why it died: its last error's message")
    dead_at: str | None = Field(None, description="When it died (UTC, ISO 8601)")
    in_dlq: bool = Field(description="Neither replayed nor purged yet")
    replay_of: str | None = Field(None, description="The dead job this one replays")
    replayed_by: str | None = Field(None, description="The job that replays this one")
    purged_at: str | None = Field(None, description="When it was purged, if it was")


class DeadLetterList(BaseModel):
    jobs: list[DeadLetterView]
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page")


class ReplayData(BaseModel):
    """The new job a replay queued."""

    job_id: str = Field(description="The new job's id")
    replay_of: str = Field(description="The dead job it replays")
    state: str
    queue: str
    status_url: str


class Replayed(BaseModel):
    job_id: str = Field(description="The dead job")
    new_job_id: str = Field(description="The job that replays it")


class NotDone(BaseModel):
    """A dead letter a bulk call left as it was, and why."""

    job_id: str
    code: str = Field(examples=["ERR_ALREADY_REPLAYED"])
    message: str


class BulkReplayData(BaseModel):
    replayed: list[Replayed]
    errors: list[NotDone]
    more: bool = Field(description="With all: more dead letters are left; call again")
    messages_removed: int = Field(description="Messages taken out of the broker's flickr_dlq")


class PurgeData(BaseModel):
    job_id: str
    purged: Literal[True] = True
    purged_at: str | None = None
    messages_removed: int = Field(description="Messages taken out of the broker's flickr_dlq")


class BulkPurgeData(BaseModel):
    purged: list[str]
    errors: list[NotDone]
    more: bool = Field(description="With all: more dead letters are left; call again")
    messages_removed: int = Field(description="Messages taken out of the broker's flickr_dlq")


class CancellingData(BaseModel):
    """A running or retrying job asked to stop: it ends ``cancelled`` once its worker
    sees the request (within about a second), or ``completed`` if it got there first."""

    job_id: str
    state: Literal["cancelling"] = "cancelling"
    status_url: str
