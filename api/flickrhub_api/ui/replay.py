"""Replaying dead letters from the dashboard: each dead-lettered job of the owner
is enqueued again as a fresh copy.

What it does, exactly: the owner's failed, dead-lettered jobs (among its recent
ones, see :data:`~flickrhub_api.ui.views.DEAD_SCAN`) that have no replay yet each get
a new job with a new id and the same user, target, method, params, webhook and
photo; the copy's ``meta`` gains ``replay_of`` (the original's id), which is also
how a second press knows not to replay the same job twice. The originals stay as
they were, and so do the broker's dead-letter messages (unreadable messages have
no job and cannot be replayed this way). The owner's pending-jobs cap applies:
copies past it are not made, and the answer says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from flickrhub_api.envelope import request_id
from flickrhub_api.submission import submit
from flickrhub_api.ui.views import dead_letters
from flickrhub_core.errors import FlickrHubError
from flickrhub_core.jobs import Job
from flickrhub_core.runtime import Runtime

__all__ = ["ReplayOutcome", "copy_of", "replay_dead_letters"]


@dataclass(frozen=True)
class ReplayOutcome:
    found: int
    replayed: list[str]
    #: Why the rest were not replayed, if some were not.
    stopped: str | None = None

    @property
    def message(self) -> str:
        if not self.found:
            return "No dead-lettered jobs to replay."
        done = len(self.replayed)
        text = (
            f"Replayed {done} of {self.found} dead-lettered "
            f"{'job' if self.found == 1 else 'jobs'} as "
            f"{'a new job' if done == 1 else 'new jobs'}."
        )
        if self.stopped:
            text += f" The rest were not queued: {self.stopped}"
        return text


def copy_of(job: Job, runtime: Runtime) -> Job:
    """A new queued job making the same call as ``job``."""
    return Job(
        owner=job.owner,
        user_id=job.user_id,
        target=job.target,
        method=job.method,
        params=dict(job.params),
        max_attempts=runtime.settings.job_retry_attempts,
        trace_id=request_id(),
        callback_url=job.callback_url,
        callback_secret=job.callback_secret,
        meta={**(job.meta or {}), "replay_of": job.id},
        blob_id=job.blob_id,
        cache_bypass=job.cache_bypass,
    )


async def replay_dead_letters(runtime: Runtime, owner: str) -> ReplayOutcome:
    dead = await dead_letters(runtime, owner)
    replayed: list[str] = []
    for job in reversed(dead):  # oldest first, as they failed
        try:
            copy, _ = await submit(runtime, copy_of(job, runtime))
        except FlickrHubError as exc:
            return ReplayOutcome(len(dead), replayed, exc.message)
        replayed.append(copy.id)
    runtime.log.info(
        "dlq_replayed", request_id=request_id(), owner=owner, found=len(dead), jobs=len(replayed)
    )
    return ReplayOutcome(len(dead), replayed)
