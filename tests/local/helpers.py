"""Records for the ``local`` plugin's tests."""

from __future__ import annotations

from datetime import timedelta

from flickrhub_core.jobs import Job, JobState, utcnow
from flickrhub_core.stores import StoredToken


def make_token(user_id: str = "u1", *, owner: str = "app", nsid: str = "1@N01") -> StoredToken:
    return StoredToken(
        user_id=user_id,
        owner=owner,
        consumer_key="ck",
        consumer_secret="cs",
        token=f"token-{user_id}",
        token_secret=f"secret-{user_id}",
        user_nsid=nsid,
        username=f"name-{user_id}",
    )


def make_job(
    state: JobState = JobState.COMPLETED,
    *,
    owner: str = "app",
    user_id: str = "u1",
    target: str = "rest",
    method: str | None = "flickr.test.echo",
    age: float = 0.0,
) -> Job:
    """A job in ``state``, created and (if finished) finished ``age`` seconds ago."""
    at = utcnow() - timedelta(seconds=age)
    return Job(
        owner=owner,
        user_id=user_id,
        target=target,
        method=method,
        params={"name": "value"},
        state=state,
        result={"stat": "ok"} if state is JobState.COMPLETED else None,
        created_at=at,
        started_at=at,
        finished_at=at if state.finished else None,
    )
