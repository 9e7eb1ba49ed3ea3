"""The runtime: settings, plugins and the backends they chose, shared by the API
and the worker host of one process.

Backends come from plugin hooks; the embedded in-memory defaults answer when no
plugin does. A combination that cannot work across processes is refused here,
at start, with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import orjson

from flickrhub_core import logs, metrics
from flickrhub_core.broker import Broker, MemoryBroker
from flickrhub_core.cancel import request_cancel
from flickrhub_core.crypto import Keyring, has_secret_key, new_key
from flickrhub_core.errors import (
    ConfigError,
    JobAlreadyFinished,
    JobAlreadyStarted,
    NotFound,
    PluginError,
    QueueFull,
    ServiceUnavailable,
)
from flickrhub_core.events import JobEvent
from flickrhub_core.flickr import CallRecord, Credentials, Endpoints, FlickrClient
from flickrhub_core.jobs import Job, JobState, utcnow
from flickrhub_core.memory import (
    MemoryBlobStore,
    MemoryCache,
    MemoryJobStore,
    MemoryRateLimiter,
    MemoryRequestTokenStore,
    MemoryTokenStore,
)
from flickrhub_core.plugins import Plugins, load_plugins
from flickrhub_core.settings import Settings
from flickrhub_core.stores import (
    BlobStore,
    Cache,
    CappedCreate,
    JobStore,
    RateLimiter,
    RequestTokenStore,
    TokenStore,
)
from flickrhub_core.targets import Target
from flickrhub_core.token_cache import CachedTokenStore

Role = Literal["embedded", "api", "worker"]
#: Seconds a client refused an enqueue (the broker is away) is told to wait
#: (``Retry-After``): about one reconnect attempt of the broker connection.
ENQUEUE_RETRY_AFTER = 5.0


@dataclass
class Backends:
    jobs: JobStore
    tokens: TokenStore
    blobs: BlobStore
    cache: Cache
    request_tokens: RequestTokenStore
    limiter: RateLimiter


class Runtime:
    """Everything one FlickrHub process runs on. Build with :meth:`create`."""

    def __init__(
        self,
        settings: Settings,
        plugins: Plugins,
        *,
        role: Role = "embedded",
        broker: Broker | None = None,
        consumer: Credentials | None = None,
    ) -> None:
        self.settings = settings
        self.plugins = plugins
        self.role = role
        self.log = logs.get_logger(role=role)
        self.targets: dict[str, Target] = plugins.targets()
        self.broker: Broker = broker or MemoryBroker()
        self.consumer = consumer or _consumer_from(settings)
        self.endpoints = Endpoints(
            rest_url=settings.flickr_rest_url,
            upload_url=settings.flickr_upload_url,
            replace_url=settings.flickr_replace_url,
            oauth_url=settings.flickr_oauth_url,
        )
        #: Encrypts secrets at rest; token stores get it from here.
        self.keyring = self._load_keyring()
        self.backends = self._resolve_backends()
        self.flickr: FlickrClient | None = None
        #: Exceptions meaning "a backend is away for now": the builtins, and the
        #: connection and timeout errors of the client libraries plugins use, which
        #: they add at startup (:meth:`add_unavailable_errors`). The API answers these
        #: 503 with ``Retry-After``, not 500.
        self.unavailable_errors: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
        self._started = False

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        role: Role = "embedded",
        plugins: Plugins | None = None,
        broker: Broker | None = None,
        consumer: Credentials | None = None,
    ) -> Runtime:
        return cls(
            settings,
            plugins or load_plugins(settings.plugin_allowlist),
            role=role,
            broker=broker or _broker_from(settings),
            consumer=consumer,
        )

    # --- backends --------------------------------------------------------------------

    def _load_keyring(self) -> Keyring:
        """The configured keys; the embedded mode may make its key file instead.

        Separate processes must share one key, so ``api`` and ``worker`` need
        ``FLICKRHUB_SECRET_KEY``: without it they get a throwaway key here, and
        :meth:`_resolve_backends` refuses to start (after the backend check, whose
        message matters first).
        """
        if self.role == "embedded" or has_secret_key(self.settings):
            return Keyring.from_settings(self.settings)
        return Keyring([new_key()])

    def _resolve_backends(self) -> Backends:
        p = self.plugins
        s = self.settings
        backends = Backends(
            jobs=p.job_store(self) or MemoryJobStore(),
            tokens=p.token_store(self) or MemoryTokenStore(),
            blobs=p.blob_store(self) or MemoryBlobStore(),
            cache=p.cache_backend(self) or MemoryCache(),
            request_tokens=p.request_token_store(self) or MemoryRequestTokenStore(),
            limiter=p.rate_limiter(self)
            or MemoryRateLimiter(s.flickr_rate_limit_per_hour, s.rate_limit_burst),
        )
        if not callable(getattr(backends.tokens, "owner", None)):
            # Added to TokenStore after plugins were written against it: say so at start,
            # not with a 500 on every enqueue.
            raise PluginError(
                f"the token store {type(backends.tokens).__name__} has no owner(user_id), "
                "which the TokenStore protocol requires (the API asks it on every enqueue)"
            )
        if self.role == "worker" and s.token_cache_seconds > 0:
            # A worker reads a token per job; only the API must see revocations at once.
            backends.tokens = CachedTokenStore(backends.tokens, s.token_cache_seconds)
        if self.role != "embedded":
            shared_needed = {
                "broker": self.broker.shared,
                "job store": not isinstance(backends.jobs, MemoryJobStore),
                "OAuth request-token store": not isinstance(
                    backends.request_tokens, MemoryRequestTokenStore
                ),
            }
            missing = [name for name, ok in shared_needed.items() if not ok]
            if missing:
                raise ConfigError(
                    f"'flickrhub {self.role}' runs apart from the other processes, but the "
                    f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} in memory: "
                    "set RABBIT_URL and REDIS_URL, or use 'flickrhub run'"
                )
            if not has_secret_key(s):
                raise ConfigError(
                    f"'flickrhub {self.role}' runs apart from the other processes, which must "
                    "share one key for the tokens at rest: set FLICKRHUB_SECRET_KEY "
                    "(make one with 'flickrhub tokens new-key')"
                )
        return backends

    @property
    def jobs(self) -> JobStore:
        return self.backends.jobs

    @property
    def tokens(self) -> TokenStore:
        return self.backends.tokens

    @property
    def token_store(self) -> TokenStore:
        """The store the ``token_store`` hook chose, without the worker's cache in front:
        a plugin compares it with its own to know whether its store is the one in use."""
        tokens = self.backends.tokens
        return tokens.inner if isinstance(tokens, CachedTokenStore) else tokens

    @property
    def blobs(self) -> BlobStore:
        return self.backends.blobs

    @property
    def cache(self) -> Cache:
        return self.backends.cache

    @property
    def request_tokens(self) -> RequestTokenStore:
        return self.backends.request_tokens

    @property
    def limiter(self) -> RateLimiter:
        return self.backends.limiter

    def target(self, name: str) -> Target:
        try:
            return self.targets[name]
        except KeyError:
            raise NotFound(f"unknown target {name!r}") from None

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        # Once per process: the CLI did it already; an embedding application may not have.
        logs.ensure_configured(self.settings)
        if self.plugins.pm.hook.log_event.get_hookimpls():
            logs.add_sink(self.plugins.log_event)
        metrics.init_labels(self.targets)
        self.flickr = FlickrClient(
            self.endpoints,
            timeout=self.settings.flickr_timeout,
            upload_timeout=self.settings.upload_timeout,
            on_call=self.record_flickr_call,
        )
        await self.broker.connect()
        await self.plugins.startup(self)
        self._started = True

    async def close(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.plugins.shutdown(self)
        await self.broker.close()
        if self.flickr is not None:
            await self.flickr.aclose()
        logs.clear_sinks()

    def record_flickr_call(self, record: CallRecord) -> None:
        """The Flickr client's ``on_call`` hook: metrics, and ``flickr_api_call`` at
        debug (inside a job the line carries the job's ids)."""
        outcome = metrics.observe_flickr_call(record)
        self.log.debug(
            "flickr_api_call",
            kind=record.kind,
            flickr_method=record.method,
            status=record.http_status,
            outcome=outcome,
            flickr_code=record.flickr_code,
            duration_ms=round(record.duration_s * 1000, 2),
        )

    def add_unavailable_errors(self, *types: type[BaseException]) -> None:
        """Declare ``types`` as a backend being away (see :attr:`unavailable_errors`)."""
        self.unavailable_errors = (
            *self.unavailable_errors,
            *(t for t in types if t not in self.unavailable_errors),
        )

    def require_flickr(self) -> FlickrClient:
        if self.flickr is None:
            raise ServiceUnavailable("runtime not started")
        return self.flickr

    def require_consumer(self) -> Credentials:
        if self.consumer is None:
            raise ConfigError("no Flickr consumer key: set FLICKR_API_KEY and FLICKR_API_SECRET")
        return self.consumer

    # --- jobs ------------------------------------------------------------------------

    async def enqueue(self, job: Job, *, max_pending: int = 0) -> Job:
        """Store a new job and publish it; if the broker does not take it, no record stays.

        With ``max_pending`` (0: no cap) a job whose owner already has that many pending
        jobs is refused with :class:`~flickrhub_core.errors.QueueFull`, nothing stored:
        in the save itself when the job store is a
        :class:`~flickrhub_core.stores.CappedCreate` (atomic), else counted first.
        """
        if max_pending > 0:
            await self._create_capped(job, max_pending)
        else:
            await self.jobs.save(job)
        try:
            await self.broker.publish(job.queue, encode_message(job))
        except Exception as exc:
            await self.jobs.delete(job.id)
            self.log.error("queue_publish_error", job_id=job.id, error=type(exc).__name__)
            raise ServiceUnavailable(
                "the job queue is not available; try again", retry_after=ENQUEUE_RETRY_AFTER
            ) from None
        metrics.child(metrics.JOBS_ENQUEUED, job.target).inc()
        await self.emit("job_enqueued", job, None)
        return job

    async def _create_capped(self, job: Job, max_pending: int) -> None:
        store = self.jobs
        if isinstance(store, CappedCreate):
            await store.create(job, max_pending)
            return
        pending = await store.count_pending(job.owner)
        if pending >= max_pending:
            raise QueueFull(pending, max_pending)
        await store.save(job)

    async def find_job(self, job_id: str) -> Job | None:
        """The job from the job store or, once the store has let it go (its
        ``JOB_TTL_*``, the embedded mode's restart), from the archive if it kept it."""
        job = await self.jobs.get(job_id)
        if job is None:
            archive = self.plugins.job_archive(self)
            if archive is not None:
                job = await archive.get(job_id)
        return job

    async def cancel(self, job: Job) -> Job:
        """Cancel a job that has not started; a started or finished one is left alone
        (a running one is asked to stop instead: :func:`flickrhub_core.cancel.request_cancel`,
        done here when a worker took the job since it was read). Returns the job as it
        is now: a worker may have started or finished it since it was read."""
        if job.state is not JobState.QUEUED:
            return job
        previous = job.state
        job.state = JobState.CANCELLED
        job.finished_at = utcnow()
        try:
            await self.jobs.save(job)
        except (JobAlreadyFinished, JobAlreadyStarted) as refused:
            if isinstance(refused, JobAlreadyStarted):
                # A worker took it since it was read: ask that worker to stop it instead.
                await request_cancel(self.jobs, job)
            current = await self.jobs.get(job.id)
            if current is None:
                raise
            return current
        # A worker that took the job just before this still sees the request.
        await request_cancel(self.jobs, job)
        await self.emit("job_cancelled", job, previous)
        return job

    async def emit(
        self,
        name: str,
        job: Job,
        previous: JobState | None,
        *,
        level: Literal["debug", "info"] = "info",
    ) -> None:
        """Announce a state change to plugins (the archive) and the log, at ``level``
        (``debug`` for the changes every job makes on its way, so ``info`` keeps to a
        line or two per job; see ``docs/logging.md``)."""
        log = self.log.debug if level == "debug" else self.log.info
        log(
            name,
            job_id=job.id,
            user_id=job.user_id,
            target=job.target,
            flickr_method=job.method,
            state=job.state.value,
            attempt=job.attempts,
            trace_id=job.trace_id,
        )
        for failure in await self.plugins.job_event(self, JobEvent(name, job, previous)):
            self.log.error("job_event_listener_failed", job_id=job.id, error=repr(failure))


def encode_message(job: Job) -> bytes:
    """The job's message: its ids, and its record as stored now, which lets a worker
    start it in the round trip that takes its lease (``StartingLeases``)."""
    return orjson.dumps({"job_id": job.id, "target": job.target, "record": job.model_dump_json()})


def _broker_from(settings: Settings) -> Broker | None:
    """RabbitMQ when ``RABBIT_URL`` is set (aio-pika is imported only then)."""
    url = settings.rabbit_url.get_secret_value() if settings.rabbit_url else ""
    if not url:
        return None
    from flickrhub_core.broker.rabbitmq import RabbitBroker

    return RabbitBroker(
        url, queue_type=settings.queue_type, publish_timeout=settings.publish_timeout
    )


def _consumer_from(settings: Settings) -> Credentials | None:
    if settings.flickr_api_key and settings.flickr_api_secret:
        return Credentials(settings.flickr_api_key, settings.flickr_api_secret.get_secret_value())
    return None
