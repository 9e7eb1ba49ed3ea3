"""Run one job to its outcome: cache, attempts with backoff, store, announce.

The outcome is stored (and archived through ``job_event``) before the caller
acknowledges the message, so a crash at any point loses nothing: the message
comes back and the stored state says what is left to do.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

import stamina

from flickrhub_core import metrics
from flickrhub_core.errors import ConfigError, FlickrError, JobError, OutcomeUnknown
from flickrhub_core.flickr import Credentials
from flickrhub_core.jobs import MAX_RESULT_BYTES, Job, JobState, bounded_error, utcnow
from flickrhub_core.runtime import Runtime, encode_message
from flickrhub_core.targets import Target, TargetContext
from flickrhub_core.worker.session import UserFlickr

# The runner logs ``job_retrying`` itself, with the job's ids; stamina's own line would repeat it.
stamina.instrumentation.set_on_retry_hooks([])

#: Progress reports are saved at most this often per job.
PROGRESS_INTERVAL = 0.5


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD = "dead"  # failed after exhausting retries: the message goes to the DLQ
    SKIPPED = "skipped"  # already finished (redelivery) or gone
    RETRY_SCHEDULED = "retry_scheduled"  # a delayed message will bring the job back


class JobRunner:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.log = runtime.log

    async def run(self, job: Job) -> Outcome:
        if job.state.finished:
            return Outcome.SKIPPED
        target = self.rt.targets.get(job.target)
        if target is None:
            return await self._fail(job, JobError(f"target {job.target!r} is not enabled"))
        if job.state is JobState.RUNNING and not target.is_idempotent(job):
            # The last attempt was interrupted mid-request: Flickr may have the photo.
            return await self._fail(
                job,
                OutcomeUnknown(
                    f"the worker stopped during a {target.name} request; it was not sent "
                    "again because Flickr may already have it"
                ),
            )
        if job.attempts >= job.max_attempts:
            return await self._fail(job, JobError("no attempts left"), dead=True)
        try:
            token = await self.rt.tokens.get(job.user_id)
        except ConfigError as exc:  # the stored token cannot be decrypted with our keys
            return await self._fail(job, JobError(exc.message, code=exc.code))
        if token is None:
            return await self._fail(
                job,
                JobError(
                    "no connected Flickr account for this user_id", code="ERR_TOKEN_NOT_FOUND"
                ),
            )
        credentials = Credentials(
            token.consumer_key, token.consumer_secret, token.token, token.token_secret
        )
        session = UserFlickr(self.rt.require_flickr(), credentials, self.rt.limiter)

        ttl = (
            None
            if job.cache_bypass or not self.rt.settings.cache_enabled
            else (target.cache_ttl(job, self.rt.settings))
        )
        key = cache_key(job) if ttl else ""
        if ttl:
            cached = await self.rt.cache.get(job.user_id, key)
            metrics.CACHE.labels("hit" if cached is not None else "miss").inc()
            if cached is not None:
                self.log.info(
                    "cache_hit", job_id=job.id, user_id=job.user_id, flickr_method=job.method
                )
                return await self._complete(job, json.loads(cached), from_cache=True)
            self.log.debug("cache_miss", job_id=job.id, flickr_method=job.method)

        try:
            result = await self._attempts(job, target, session)
        except JobError as exc:
            if job.state is JobState.RETRYING:
                # Only a delaying broker gets here with attempts left: the retry waits there.
                await self.rt.broker.publish_delayed(
                    job.queue, encode_message(job), self.backoff(job.attempts)
                )
                return Outcome.RETRY_SCHEDULED
            return await self._fail(job, exc, dead=exc.retryable)

        encoded = json.dumps(result, separators=(",", ":")).encode()
        if len(encoded) > MAX_RESULT_BYTES:
            return await self._fail(
                job,
                JobError(
                    f"the result is {len(encoded)} bytes, over the {MAX_RESULT_BYTES}-byte "
                    "limit; ask for fewer items (per_page)",
                    code="ERR_RESULT_TOO_LARGE",
                ),
            )
        if ttl:
            await self.rt.cache.set(job.user_id, key, encoded, ttl)
        if target.is_write(job):
            await self.rt.cache.invalidate_user(job.user_id)
        return await self._complete(job, result, from_cache=False)

    async def _attempts(self, job: Job, target: Target, session: UserFlickr) -> Any:
        """Run the attempts this delivery may make.

        A broker that can delay messages (RabbitMQ) gets one attempt here; a retry
        then waits in the broker (see :meth:`run`), not in a worker slot. The
        in-process broker retries here, with stamina's backoff.
        """
        if self.rt.broker.supports_delay:
            return await self._attempt(job, target, session)
        s = self.rt.settings
        async for attempt in stamina.retry_context(
            on=_retryable,
            attempts=job.max_attempts - job.attempts,
            timeout=None,
            wait_initial=s.retry_wait_initial,
            wait_max=s.retry_wait_max,
            wait_jitter=s.retry_wait_initial,
        ):
            with attempt:
                return await self._attempt(job, target, session)
        raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover

    async def _attempt(self, job: Job, target: Target, session: UserFlickr) -> Any:
        """One call of the target; a retryable failure with attempts left marks the
        job ``retrying`` before it is raised."""
        previous = job.state
        job.attempts += 1
        job.state = JobState.RUNNING
        job.started_at = job.started_at or utcnow()
        await self.rt.jobs.save(job)
        await self.rt.emit("job_started", job, previous)
        ctx = TargetContext(
            job=job,
            flickr=session,
            blobs=self.rt.blobs,
            settings=self.rt.settings,
            log=self.log.bind(job_id=job.id, user_id=job.user_id),
            report_progress=self._progress_reporter(job),
        )
        try:
            return await target.execute(ctx)
        except JobError as exc:
            failure = _classify(exc, target.is_idempotent(job))
        except Exception as exc:
            self.log.exception("target_crashed", job_id=job.id, target=target.name)
            failure = JobError(
                f"the {target.name} target failed unexpectedly ({type(exc).__name__})",
                code="ERR_TARGET",
            )
        if failure.retryable and job.attempts < job.max_attempts:
            job.state = JobState.RETRYING
            job.error = bounded_error(failure.as_dict())
            await self.rt.jobs.save(job)
            metrics.RETRIES.labels(job.target).inc()
            await self.rt.emit("job_retrying", job, JobState.RUNNING)
        raise failure

    def _progress_reporter(self, job: Job) -> Callable[[dict[str, Any]], Awaitable[None]]:
        last = 0.0

        async def report(progress: dict[str, Any]) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= PROGRESS_INTERVAL:
                last = now
                job.progress = progress
                await self.rt.jobs.save(job)

        return report

    def backoff(self, attempts_made: int) -> float:
        """Exponential backoff with full jitter on top, as stamina computes it."""
        s = self.rt.settings
        wait = min(s.retry_wait_max, s.retry_wait_initial * 2.0 ** max(0, attempts_made - 1))
        return wait + random.uniform(0, s.retry_wait_initial)

    async def _complete(self, job: Job, result: Any, *, from_cache: bool) -> Outcome:
        previous = job.state
        job.state = JobState.COMPLETED
        job.result = result
        job.error = None
        job.from_cache = from_cache
        job.progress = None
        job.started_at = job.started_at or utcnow()
        job.finished_at = utcnow()
        await self.rt.jobs.save(job)
        await self._drop_photo(job)
        await self._finished(job, previous, "job_completed", "completed")
        return Outcome.COMPLETED

    async def _fail(self, job: Job, error: JobError, *, dead: bool = False) -> Outcome:
        previous = job.state
        job.state = JobState.FAILED
        job.error = bounded_error(error.as_dict())
        job.dead_lettered = dead
        job.finished_at = utcnow()
        await self.rt.jobs.save(job)
        if dead:
            metrics.DEAD_LETTERS.labels(job.target).inc()
        else:
            await self._drop_photo(job)
        await self._finished(job, previous, "job_dead" if dead else "job_failed", "failed")
        return Outcome.DEAD if dead else Outcome.FAILED

    async def _drop_photo(self, job: Job) -> None:
        """A finished photo job's bytes are no longer needed; a dead-lettered one
        keeps them so it can be replayed."""
        if job.blob_id:
            await self.rt.blobs.delete(job.blob_id)

    async def _finished(self, job: Job, previous: JobState, event: str, outcome: str) -> None:
        metrics.JOBS.labels(job.target, outcome).inc()
        if job.duration_ms is not None:
            metrics.JOB_DURATION.labels(job.target).observe(job.duration_ms / 1000)
        await self.rt.emit(event, job, previous)


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, JobError) and exc.retryable


def _classify(exc: JobError, idempotent: bool) -> JobError:
    """A non-idempotent request that may have had an effect must not be sent again."""
    if idempotent or not isinstance(exc, FlickrError) or not (exc.retryable and exc.sent):
        return exc
    return OutcomeUnknown(
        f"{exc.message}; the request may have reached Flickr, so it was not sent again "
        "(check the account before retrying)"
    )


def cache_key(job: Job) -> str:
    """SHA-256 of user, method and sorted params: equal calls share an entry."""
    material = json.dumps(
        [job.user_id, job.target, job.method, sorted(job.params.items())], separators=(",", ":")
    )
    return hashlib.sha256(material.encode()).hexdigest()
