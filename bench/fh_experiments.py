"""Bench-only experiments on FlickrHub's worker hot path, applied by monkeypatching
at start (the product code is not changed), to measure what a change would gain
before anyone makes it. ``BENCH_EXPERIMENTS`` is a comma list of:

* ``noarchive``: the ``local`` plugin's archive skips completed jobs (what the
  ``mongo`` plugin does by default: ``SAVE_COMPLETED_TO_MONGO=false``);
* ``tokencache``: the token store's ``get`` is cached per process for 30 s;
* ``leansave``: saving a job as ``running`` is one ``SET`` (its indexes were written
  at enqueue) instead of a MULTI of SET, ZADD, ZREMRANGEBYRANK and SADD;
* ``quietlog``: no ``job_started`` log line (the ``job_event`` hook still runs).

Then the ``flickrhub`` CLI starts as in ``fh_launch.py`` (``BENCH_HTTPX_TRANSPORT``
still applies).
"""

from __future__ import annotations

import os
import time
from typing import Any

import fh_launch


def _noarchive() -> None:
    from flickrhub_core.jobs import JobState
    from flickrhub_local._archive import JobArchive

    original = JobArchive.record

    async def record(self: JobArchive, job: Any) -> bool:
        if job.state is JobState.COMPLETED:
            return False
        return await original(self, job)

    JobArchive.record = record  # type: ignore[method-assign]


def _tokencache(ttl: float = 30.0) -> None:
    from flickrhub_local._tokens import SqliteTokenStore

    original = SqliteTokenStore.get
    cache: dict[str, tuple[float, Any]] = {}

    async def get(self: SqliteTokenStore, user_id: str) -> Any:
        hit = cache.get(user_id)
        now = time.monotonic()
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
        token = await original(self, user_id)
        cache[user_id] = (now, token)
        return token

    SqliteTokenStore.get = get  # type: ignore[method-assign]


def _leansave() -> None:
    from flickrhub_core.jobs import JobState
    from flickrhub_redis._jobs import RedisJobStore

    original = RedisJobStore.save

    async def save(self: RedisJobStore, job: Any) -> None:
        if job.state is JobState.RUNNING and not job.batch_id and not job.idempotency_key:
            await self._r.set(self._keys.job(job.id), job.model_dump_json())
            return
        await original(self, job)

    RedisJobStore.save = save  # type: ignore[method-assign]


def _quietlog() -> None:
    from flickrhub_core.events import JobEvent
    from flickrhub_core.runtime import Runtime

    original = Runtime.emit

    async def emit(self: Runtime, name: str, job: Any, previous: Any) -> None:
        if name != "job_started":
            await original(self, name, job, previous)
            return
        for failure in await self.plugins.job_event(self, JobEvent(name, job, previous)):
            self.log.error("job_event_listener_failed", job_id=job.id, error=repr(failure))

    Runtime.emit = emit  # type: ignore[method-assign]


EXPERIMENTS = {
    "noarchive": _noarchive,
    "tokencache": _tokencache,
    "leansave": _leansave,
    "quietlog": _quietlog,
}


def main() -> None:
    for name in filter(None, os.environ.get("BENCH_EXPERIMENTS", "").split(",")):
        EXPERIMENTS[name.strip()]()
    fh_launch.main()


if __name__ == "__main__":
    main()
