"""Run one job to its outcome: cache, attempts with backoff, store, announce.

The outcome is stored (and archived through ``job_event``) before the caller
acknowledges the message, so a crash at any point loses nothing: the message
comes back and the stored state says what is left to do.

An outcome is known only in this process until it is stored, so the writes that
record one (a finished job, a retry about to be scheduled, a write's cache
invalidation) ride out a job store that is briefly away (a Redis restart): they are
retried with backoff for up to :data:`OUTCOME_STORE_TIMEOUT` seconds before the
message is given back. Otherwise an upload that reached Flickr would come back
``running`` and end "outcome unknown". Progress reports, the read cache and the
deletion of a finished job's photo bytes are best effort: their failure never
fails or repeats a job.

A job's outcome is stored once: when a lease lapsed and two workers ran one job, or
the API cancelled it meanwhile, the store refuses the second outcome
(:class:`~flickrhub_core.errors.JobAlreadyFinished`). This run then ends ``skipped``,
announcing nothing: the job, its archive and its webhook keep the first outcome.

A Flickr 429 does not use up an attempt (Flickr ran nothing, and the limiter already
makes every worker wait): the job is tried again after Flickr's ``Retry-After`` and
counts it in ``rate_limited``, up to ``FLICKRHUB_RATE_LIMITED_RETRIES`` times.

A cancel request of the job's owner is honoured before each attempt and, for
attempts that take long, during one (:mod:`flickrhub_core.cancel`): the job ends
``cancelled`` and is never retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
import stamina

from flickrhub_core import logs, metrics
from flickrhub_core.cancel import CancelWatch, cancel_requested
from flickrhub_core.errors import (
    ConfigError,
    FlickrApiError,
    FlickrError,
    FlickrHubError,
    FlickrOAuthError,
    JobAlreadyFinished,
    JobCancelled,
    JobError,
    OutcomeUnknown,
)
from flickrhub_core.flickr import Credentials
from flickrhub_core.jobs import MAX_RESULT_BYTES, Job, JobState, bounded_error, utcnow
from flickrhub_core.runtime import Runtime, encode_message
from flickrhub_core.stores import CacheRead, StoredToken, cache_read, cache_store
from flickrhub_core.targets import Target, TargetContext
from flickrhub_core.token_cache import CachedTokenStore
from flickrhub_core.worker.session import UserFlickr, is_rate_limited, rate_limit_pause

# The runner logs ``job_retrying`` itself, with the job's ids; stamina's own line would repeat it.
stamina.instrumentation.set_on_retry_hooks([])

#: Progress reports are saved at most this often per job.
PROGRESS_INTERVAL = 0.5
#: Seconds the writes recording an outcome are retried while the job store is away.
OUTCOME_STORE_TIMEOUT = 30.0
#: First and longest pause (seconds) between two of those tries.
OUTCOME_STORE_WAIT = (0.1, 2.0)
#: Seconds a stopping worker gives the save that undoes an attempt that sent nothing.
GIVE_BACK_SECONDS = 2.0


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD = "dead"  # failed after exhausting retries: the message goes to the DLQ
    SKIPPED = "skipped"  # already finished (redelivery) or gone
    RETRY_SCHEDULED = "retry_scheduled"  # a delayed message will bring the job back
    CANCELLED = "cancelled"  # its owner cancelled it while it ran (or between attempts)


@dataclass
class Ready:
    """What a job's first attempt needs once the checks before it passed."""

    target: Target
    token: StoredToken
    #: Seconds a read's answer is cached (None: not cached), its key and the miss.
    ttl: float | None
    key: str
    cached: CacheRead


@dataclass
class Start(Ready):
    """A job prepared from its published record (:meth:`JobRunner.prepare`): ``job``
    is already in its attempt (``running``), for the store to save with the lease
    (:class:`~flickrhub_core.stores.StartingLeases`) if its record is still
    ``published``."""

    published: str
    job: Job
    #: The state the attempt started from (``queued`` or ``retrying``).
    previous: JobState


class JobRunner:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.log = runtime.log

    async def run(self, job: Job, start: Start | None = None) -> Outcome:
        """Run ``job``; every line logged meanwhile carries its ids (:func:`logs.bound_job`).
        With ``start`` the store started its attempt already (``job`` is ``start.job``)."""
        in_flight = metrics.child(metrics.JOBS_IN_FLIGHT, job.target)
        in_flight.inc()
        try:
            with logs.bound_job(job):
                try:
                    return await self._run(job, start)
                except JobAlreadyFinished as exc:
                    return await self._finished_elsewhere(job, exc)
        finally:
            in_flight.dec()

    async def prepare(self, published: str) -> Start | None:
        """The job of a message's ``record``, started as its attempt would start it,
        when nothing but the attempt is left to decide: its target is enabled, it is
        ``queued`` or ``retrying`` with attempts left and no cancel request, its
        owner's token is at hand and no cached answer would serve it. Else None, and
        the job takes the usual way (read, checked, then started), which also
        decides all those cases; so does any failure here, but for a backend that
        is away, which is raised as the usual way would raise it (the worker waits
        for it). Nothing is written."""
        try:
            job = Job.model_validate_json(published)
        except ValueError:
            return None
        target = self.rt.targets.get(job.target)
        if (
            target is None
            or job.state not in (JobState.QUEUED, JobState.RETRYING)
            or job.cancel_requested
            or job.attempts >= job.max_attempts
        ):
            return None
        try:
            token = await self.rt.tokens.get(job.user_id)
            ttl, key = self._cacheable(job, target)
            cached = await cache_read(self.rt.cache, job.user_id, key) if ttl else CacheRead(None)
        except self.rt.unavailable_errors:
            raise
        except Exception:  # the usual way meets it again, and decides
            return None
        if token is None or cached.value is not None:
            return None
        previous = job.state
        _begin_attempt(job)
        return Start(target, token, ttl, key, cached, published, job, previous)

    async def _finished_elsewhere(self, job: Job, exc: JobAlreadyFinished) -> Outcome:
        """A save of ``job`` was refused: another worker (whose lease lapsed, or that
        took over this one's) or the API finished it first, and its outcome stands.
        Nothing is announced again; ``job`` becomes the stored record, so the caller
        settles the message by what was stored, not by what this run would have done."""
        self.log.warning(
            "job_already_finished", job_id=job.id, state=job.state.value, stored_state=exc.state
        )
        stored = await self.rt.jobs.get(job.id)
        if stored is not None:
            for name in type(job).model_fields:
                setattr(job, name, getattr(stored, name))
        return Outcome.SKIPPED

    async def _run(self, job: Job, start: Start | None) -> Outcome:
        if start is None:
            ready = await self._ready(job)
            if isinstance(ready, Outcome):
                return ready
        else:
            ready = start
            if start.ttl:
                self._count_miss(job)
        target = ready.target
        token = ready.token
        credentials = Credentials(
            token.consumer_key, token.consumer_secret, token.token, token.token_secret
        )
        watch = CancelWatch(self.rt.jobs, job.id, hard=target.is_idempotent(job))
        session = UserFlickr(
            self.rt.require_flickr(), credentials, self.rt.limiter, cancel=watch.event
        )
        started = None if start is None else start.previous
        try:
            result = await watch.run(lambda: self._attempts(job, target, session, watch, started))
        except JobCancelled:
            return await self._cancelled(job)
        except JobError as exc:
            if job.state is JobState.RETRYING:
                # Only a delaying broker gets here with a retry due: it waits there.
                await self.rt.broker.publish_delayed(
                    job.queue, encode_message(job), self.retry_delay(job, exc)
                )
                return Outcome.RETRY_SCHEDULED
            return await self._fail(job, exc, dead=exc.retryable)

        encoded = result_json(result)
        if len(encoded) > MAX_RESULT_BYTES:
            return await self._fail(
                job,
                JobError(
                    f"the result is {len(encoded)} bytes, over the {MAX_RESULT_BYTES}-byte "
                    "limit; ask for fewer items (per_page)",
                    code="ERR_RESULT_TOO_LARGE",
                ),
            )
        if ready.ttl:
            try:
                # Not if a write of this user finished since the miss (the cache tells).
                await cache_store(
                    self.rt.cache, job.user_id, ready.key, encoded, ready.ttl, ready.cached
                )
            except Exception as exc:  # a read not cached is only a later miss
                self.log.warning("cache_store_failed", job_id=job.id, error=type(exc).__name__)
        if target.is_write(job):
            # Not skipped: the user's cached reads would show the state before the write.
            await self._outcome_write(job, lambda: self.rt.cache.invalidate_user(job.user_id))
        return await self._complete(job, result, from_cache=False)

    def _cacheable(self, job: Job, target: Target) -> tuple[float | None, str]:
        """Seconds the job's answer may be cached (None: not at all), and its key."""
        ttl = (
            None
            if job.cache_bypass or not self.rt.settings.cache_enabled
            else (target.cache_ttl(job, self.rt.settings))
        )
        return ttl, cache_key(job) if ttl else ""

    def _count_miss(self, job: Job) -> None:
        metrics.child(metrics.CACHE, "miss").inc()
        self.log.debug("cache_miss", job_id=job.id, flickr_method=job.method)

    async def _ready(self, job: Job) -> Ready | Outcome:
        """The checks before a job's attempt, each of which may end it here (the
        outcome is returned), and the cache, which may answer it."""
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
        if job.cancel_requested:  # the store's ``get`` carries the request
            return await self._cancelled(job)
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
        ttl, key = self._cacheable(job, target)
        cached = CacheRead(None)
        if ttl:
            cached = await cache_read(self.rt.cache, job.user_id, key)
            if cached.value is not None:
                metrics.child(metrics.CACHE, "hit").inc()
                self.log.info(
                    "cache_hit", job_id=job.id, user_id=job.user_id, flickr_method=job.method
                )
                left = cached.seconds_left
                job.cache_ttl_seconds = None if left is None else round(left)
                return await self._complete(job, json.loads(cached.value), from_cache=True)
            self._count_miss(job)
        return Ready(target, token, ttl, key, cached)

    async def _attempts(
        self,
        job: Job,
        target: Target,
        session: UserFlickr,
        watch: CancelWatch,
        started: JobState | None,
    ) -> Any:
        """Run the attempts this delivery may make; ``started``: the store started the
        first one already, from that state (:meth:`prepare`).

        A broker that can delay messages (RabbitMQ) gets one attempt here; a retry
        then waits in the broker (see :meth:`_run`), not in a worker slot. The
        in-process broker retries here, after :meth:`retry_delay`, as long as
        :meth:`_attempt` marks the job ``retrying``: a 429 may not count as an
        attempt, so the number of tries is not known in advance.
        """
        while True:
            try:
                return await self._attempt(job, target, session, watch, started)
            except JobError as exc:
                started = None
                if self.rt.broker.supports_delay or job.state is not JobState.RETRYING:
                    raise
                delay = self.retry_delay(job, exc)
            # A cancel request ends the wait at once (it sets the event).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.event.wait(), delay)
            await self._check_cancel(job, watch)

    async def _check_cancel(self, job: Job, watch: CancelWatch) -> None:
        if watch.requested or await cancel_requested(self.rt.jobs, job.id):
            watch.event.set()
            raise JobCancelled("cancelled by request between attempts")

    async def _attempt(
        self,
        job: Job,
        target: Target,
        session: UserFlickr,
        watch: CancelWatch,
        started: JobState | None,
    ) -> Any:
        """One call of the target; a retryable failure with attempts left marks the
        job ``retrying`` before it is raised. A Flickr 429 does not use up an attempt
        (see :attr:`Job.rate_limited`). After a cancel request any failure ends the
        job cancelled instead (a non-idempotent attempt is let finish). With
        ``started`` the store saved the attempt's start already, from that state."""
        if started is None:
            previous = job.state
            _begin_attempt(job)
            await self.rt.jobs.save(job)
        else:
            previous = started
        logs.bind_attempt(job.attempts)
        await self.rt.emit("job_started", job, previous, level="debug")
        ctx = TargetContext(
            job=job,
            flickr=session,
            blobs=self.rt.blobs,
            settings=self.rt.settings,
            log=self.log,
            report_progress=self._progress_reporter(job),
            cancel_event=watch.event,
        )
        try:
            return await target.execute(ctx)
        except asyncio.CancelledError:
            # The worker stopping (a cancel request ends the job cancelled instead).
            if session.awaiting_first_slot and not watch.requested:
                await self._give_back(job, previous)
            raise
        except JobCancelled:
            raise
        except JobError as exc:
            if _token_refused(exc) and isinstance(self.rt.tokens, CachedTokenStore):
                # Revoked or re-authorised with other perms: read it afresh next time.
                self.rt.tokens.forget(job.user_id)
            failure = _classify(exc, target.is_idempotent(job))
        except self.rt.unavailable_errors as exc:
            # A backend (a store the target reads) went away mid-attempt: not the
            # target's fault, and worth another attempt, unless a non-idempotent request
            # may already have gone out.
            self.log.warning("target_backend_unavailable", job_id=job.id, error=type(exc).__name__)
            failure = JobError(
                f"a service the {target.name} target uses was not available ({type(exc).__name__})",
                code="ERR_UNAVAILABLE",
                retryable=True,
            )
            if not target.is_idempotent(job):
                failure = OutcomeUnknown(
                    f"{failure.message} during the request; it may have reached Flickr, "
                    "so it was not sent again (check the account before retrying)"
                )
        except Exception as exc:
            self.log.exception("target_crashed", job_id=job.id, target=target.name)
            failure = JobError(
                f"the {target.name} target failed unexpectedly ({type(exc).__name__})",
                code="ERR_TARGET",
            )
        if watch.requested:
            job.error = bounded_error(failure.as_dict())
            raise JobCancelled("cancelled by request; the last attempt failed")
        if is_rate_limited(failure) and job.rate_limited < self.rt.settings.rate_limited_retries:
            # Flickr ran nothing and asks everyone to wait: not the job's fault, so the
            # attempt is given back (up to FLICKRHUB_RATE_LIMITED_RETRIES times).
            job.attempts -= 1
            job.rate_limited += 1
        if failure.retryable and job.attempts < job.max_attempts:
            job.state = JobState.RETRYING
            job.error = bounded_error(failure.as_dict())
            await self._store(job)
            metrics.child(metrics.RETRIES, job.target).inc()
            await self.rt.emit("job_retrying", job, JobState.RUNNING)
        raise failure

    async def _give_back(self, job: Job, previous: JobState) -> None:
        """The worker stopped (a drain) while the attempt's first Flickr request waited
        for the rate limiter (after a 429, every worker waits a minute or more): store
        the job as it was before the attempt, so its redelivered message runs it as
        untried, an upload included, instead of counting an attempt that sent nothing
        or calling its outcome unknown. Best effort, within :data:`GIVE_BACK_SECONDS`:
        if the store does not answer, the job stays ``running``, as for a worker that
        died."""
        job.attempts -= 1
        job.state = previous
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.rt.jobs.save(job), GIVE_BACK_SECONDS)

    def _progress_reporter(self, job: Job) -> Callable[[dict[str, Any]], Awaitable[None]]:
        last = 0.0

        async def report(progress: dict[str, Any]) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= PROGRESS_INTERVAL:
                last = now
                job.progress = progress
                try:
                    await self.rt.jobs.save(job)
                except Exception as exc:
                    # Only a report: a store hiccup must not break the upload streaming now.
                    self.log.warning(
                        "job_progress_not_saved", job_id=job.id, error=type(exc).__name__
                    )

        return report

    def backoff(self, attempts_made: int) -> float:
        """Exponential backoff with full jitter on top, as stamina computes it."""
        s = self.rt.settings
        wait = min(s.retry_wait_max, s.retry_wait_initial * 2.0 ** max(0, attempts_made - 1))
        return wait + random.uniform(0, s.retry_wait_initial)

    def retry_delay(self, job: Job, failure: JobError) -> float:
        """Seconds before the job's next try: the backoff over every try so far (429s
        included, so repeated ones space out), and after a 429 at least what Flickr
        asked for; the limiter makes every worker wait that long anyway."""
        delay = self.backoff(job.attempts + job.rate_limited)
        if is_rate_limited(failure):
            delay = max(delay, rate_limit_pause(failure))
        return delay

    async def _complete(self, job: Job, result: Any, *, from_cache: bool) -> Outcome:
        previous = job.state
        job.state = JobState.COMPLETED
        job.result = result
        job.error = None
        job.from_cache = from_cache
        job.progress = None
        job.started_at = job.started_at or utcnow()
        job.finished_at = utcnow()
        await self._store(job)
        await self._drop_photo(job)
        await self._finished(job, previous, "job_completed", "completed")
        return Outcome.COMPLETED

    async def _fail(self, job: Job, error: JobError, *, dead: bool = False) -> Outcome:
        previous = job.state
        job.state = JobState.FAILED
        job.error = bounded_error(error.as_dict())
        job.dead_lettered = dead
        job.finished_at = utcnow()
        await self._store(job)
        if dead:
            metrics.child(metrics.DEAD_LETTERS, job.target).inc()
        else:
            await self._drop_photo(job)
        await self._finished(job, previous, "job_dead" if dead else "job_failed", "failed")
        return Outcome.DEAD if dead else Outcome.FAILED

    async def _cancelled(self, job: Job) -> Outcome:
        """End the job ``cancelled`` (its last error, if any, kept): never retried."""
        previous = job.state
        job.state = JobState.CANCELLED
        job.cancel_requested = True
        job.progress = None
        job.finished_at = utcnow()
        await self._store(job)
        await self._drop_photo(job)
        await self._finished(job, previous, "job_cancelled", "cancelled")
        return Outcome.CANCELLED

    async def _store(self, job: Job) -> None:
        """Save ``job``, whose state records an outcome (see the module docstring).

        :class:`JobAlreadyFinished` is raised at once (:meth:`run` ends the job's run
        there): a store refuses to change a finished job's state."""
        await self._outcome_write(job, lambda: self.rt.jobs.save(job))

    async def _outcome_write(self, job: Job, write: Callable[[], Awaitable[None]]) -> None:
        """Run ``write``, retried with backoff while it fails for up to
        :data:`OUTCOME_STORE_TIMEOUT` seconds; then its error is raised.

        The first try runs outside stamina: its retry machinery cost about 5 % of a
        job's CPU on the usual path, where nothing fails (docs/performance.md)."""
        deadline = time.monotonic() + OUTCOME_STORE_TIMEOUT
        try:
            await write()
            return
        except Exception as exc:
            if not _store_hiccup(exc):
                raise
            self._store_retry(job, 1, exc)
        first, longest = OUTCOME_STORE_WAIT
        await asyncio.sleep(first)
        async for attempt in stamina.retry_context(
            on=_store_hiccup,
            attempts=None,
            timeout=max(deadline - time.monotonic(), 0.001),
            wait_initial=first,
            wait_max=longest,
        ):
            with attempt:
                try:
                    await write()
                except Exception as exc:
                    if _store_hiccup(exc):
                        self._store_retry(job, attempt.num + 1, exc)
                    raise

    def _store_retry(self, job: Job, try_number: int, exc: Exception) -> None:
        self.log.warning(
            "job_store_retry",
            job_id=job.id,
            state=job.state.value,
            try_number=try_number,
            error=type(exc).__name__,
        )

    async def _drop_photo(self, job: Job) -> None:
        """A finished photo job's bytes are no longer needed; a dead-lettered one
        keeps them so it can be replayed. Best effort: the job is finished whatever
        happens here, and must still be announced (archive, webhook)."""
        if job.blob_id:
            try:
                await self.rt.blobs.delete(job.blob_id)
            except Exception as exc:
                self.log.warning(
                    "photo_blob_not_deleted",
                    job_id=job.id,
                    blob_id=job.blob_id,
                    error=type(exc).__name__,
                )

    async def _finished(self, job: Job, previous: JobState, event: str, outcome: str) -> None:
        metrics.child(metrics.JOBS, job.target, outcome).inc()
        if job.duration_ms is not None:
            metrics.child(metrics.JOB_DURATION, job.target).observe(job.duration_ms / 1000)
        await self.rt.emit(event, job, previous)


def _begin_attempt(job: Job) -> None:
    """The job as an attempt starts it (then saved, before anything is sent)."""
    job.attempts += 1
    job.state = JobState.RUNNING
    job.started_at = job.started_at or utcnow()


def _store_hiccup(exc: Exception) -> bool:
    """A failed store write worth trying again: not one of ours (those are decisions,
    such as a refused configuration), so a connection or timeout error of a backend."""
    return not isinstance(exc, FlickrHubError)


def _token_refused(exc: JobError) -> bool:
    """Flickr refused the user's token (an ``oauth_problem``, or 98 invalid token /
    99 insufficient permissions): a cached copy of it may be outdated."""
    return isinstance(exc, FlickrOAuthError) or (
        isinstance(exc, FlickrApiError) and exc.flickr_code in (98, 99)
    )


def _classify(exc: JobError, idempotent: bool) -> JobError:
    """A non-idempotent request that may have had an effect must not be sent again."""
    if idempotent or not isinstance(exc, FlickrError) or not (exc.retryable and exc.sent):
        return exc
    return OutcomeUnknown(
        f"{exc.message}; the request may have reached Flickr, so it was not sent again "
        "(check the account before retrying)"
    )


def result_json(result: Any) -> bytes:
    """A result as compact JSON (UTF-8), to measure and cache it: orjson, about ten
    times quicker, or the standard library for what orjson refuses (an integer beyond
    64 bits)."""
    try:
        return orjson.dumps(result)
    except orjson.JSONEncodeError:
        return json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode()


def cache_key(job: Job) -> str:
    """SHA-256 of user, method and sorted params: equal calls share an entry."""
    material = json.dumps(
        [job.user_id, job.target, job.method, sorted(job.params.items())], separators=(",", ":")
    )
    return hashlib.sha256(material.encode()).hexdigest()
