"""Webhooks: a job's outcome POSTed to its ``callback_url``, signed and retried.

The payload keeps the earlier system's fields, so its receivers keep working::

    {"job_id", "user_id", "queue", "state", "result", "error", "from_cache",
     "attempts_made", "max_attempts", "timestamp", "trace_id", "meta"}

With a ``callback_secret`` every delivery carries two signatures: the earlier
system's ``X-Signature`` (hex HMAC-SHA256 of the raw body: replayable, kept for
old receivers) and ``X-FlickrHub-Signature: v1=<hex HMAC-SHA256 of
"<X-FlickrHub-Timestamp>.<raw body>">``, which a receiver checks together with
the timestamp's age.

Where the requests may go: a callback URL is http(s), names a host and carries
no credentials; unless ``FLICKRHUB_WEBHOOK_ALLOW_PRIVATE`` is set, its host must
not resolve to a private, loopback, link-local, multicast, reserved or
unspecified address. That is checked when the job is enqueued and again before
every delivery attempt (DNS answers change), and the request then goes to the
address that was checked, so a second DNS answer cannot redirect it.

Delivery runs off the job's path: :class:`WebhookDispatcher` listens to the
``job_event`` hook in the worker process and sends in background tasks, so a
slow receiver never holds a job's message. Each attempt is recorded on the job
(``Job.webhook``). A delivery still running when the worker stops gets the
shutdown grace period, then is given up and recorded as failed; it is not
resumed after a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import socket
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import stamina

from flickrhub_core import __version__, metrics
from flickrhub_core.crypto import Keyring
from flickrhub_core.errors import ConfigError, InvalidRequest
from flickrhub_core.hookspecs import hookimpl
from flickrhub_core.jobs import Job, JobState, utcnow

if TYPE_CHECKING:
    from flickrhub_core.events import JobEvent
    from flickrhub_core.runtime import Runtime

__all__ = [
    "EVENTS",
    "LEGACY_SIGNATURE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookDispatcher",
    "check_callback_url",
    "encrypt_secret",
    "is_forbidden_address",
    "keyring_of",
    "payload",
    "resolve_host",
    "sign",
    "sign_legacy",
]

#: Job events that send a webhook, and the ``X-FlickrHub-Event`` they send.
EVENTS = {
    "job_completed": "job.completed",
    "job_failed": "job.failed",
    "job_dead": "job.failed",
}
SIGNATURE_HEADER = "X-FlickrHub-Signature"
TIMESTAMP_HEADER = "X-FlickrHub-Timestamp"
EVENT_HEADER = "X-FlickrHub-Event"
DELIVERY_HEADER = "X-FlickrHub-Delivery"
LEGACY_SIGNATURE_HEADER = "X-Signature"
SIGNATURE_VERSION = "v1"
MAX_URL_LENGTH = 2048
#: Seconds a DNS lookup of a callback host may take.
RESOLVE_TIMEOUT = 3.0
#: Requests in flight at once per worker process; further deliveries wait their turn.
MAX_CONCURRENT = 32
#: Deliveries waiting or retrying per worker process; past it new ones are dropped
#: (and recorded as failed) rather than growing memory without bound.
MAX_PENDING = 10_000
PLUGIN_NAME = "flickrhub.webhooks"
#: Statuses worth another attempt besides 5xx: Request Timeout, Too Many Requests.
RETRY_STATUSES = frozenset({408, 429})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolve(host, port)`` → the host's addresses, in the order to try them.
Resolver = Callable[[str, int], Awaitable[list[str]]]


# --- URL checks ----------------------------------------------------------------------


def is_forbidden_address(ip: Address) -> bool:
    """Whether a webhook may not be sent to ``ip`` (unless private targets are allowed)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and is_forbidden_address(embedded):
            return True
        if ip.is_site_local:
            return True
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _ip(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve_host(host: str, port: int) -> list[str]:
    """The host's addresses (system resolver, in a thread; at most ``RESOLVE_TIMEOUT`` s).

    Raises :class:`OSError` or :class:`TimeoutError` when the name does not resolve.
    """
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(RESOLVE_TIMEOUT):
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OSError(f"no address for {host}")
    return addresses


class CallbackRefused(Exception):
    """A callback URL that may not be called; ``str()`` is safe to show its owner."""


def parse_callback_url(url: str) -> httpx.URL:
    """The URL, if it is one FlickrHub may call (not yet looking at addresses)."""
    if len(url) > MAX_URL_LENGTH:
        raise CallbackRefused(f"callback_url is longer than {MAX_URL_LENGTH} characters")
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise CallbackRefused("callback_url must not contain spaces or control characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise CallbackRefused("callback_url is not a valid URL") from None
    if parsed.scheme not in ("http", "https"):
        raise CallbackRefused("callback_url must be an http:// or https:// URL")
    try:
        # The name as the resolver will get it; an invalid IDNA name (a label over 63
        # characters, "xn--" without punycode) raises UnicodeError there or here.
        host = parsed.host
        host.encode("idna")
    except UnicodeError:
        raise CallbackRefused("callback_url's host is not a valid host name") from None
    if not host:
        raise CallbackRefused("callback_url must name a host")
    if parsed.userinfo:
        raise CallbackRefused("callback_url must not contain a user name or password")
    return parsed


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


async def checked_addresses(
    url: httpx.URL, *, allow_private: bool, resolve: Resolver = resolve_host
) -> list[str]:
    """The addresses to send to, after refusing forbidden ones (OSError if unresolvable)."""
    literal = _ip(url.host)
    addresses = [url.host] if literal is not None else await resolve(url.host, _port(url))
    if not allow_private:
        for address in addresses:
            ip = _ip(address)
            if ip is None or is_forbidden_address(ip):
                raise CallbackRefused(
                    "callback_url resolves to a private, loopback, link-local or reserved "
                    "address; set FLICKRHUB_WEBHOOK_ALLOW_PRIVATE to allow it"
                )
    return addresses


async def check_callback_url(
    url: str, *, allow_private: bool, resolve: Resolver = resolve_host, field: str = "callback_url"
) -> str:
    """Refuse (400) a callback URL FlickrHub must not call; return it unchanged.

    A host that does not resolve now is accepted: its address is checked again
    before every delivery attempt anyway.
    """
    try:
        parsed = parse_callback_url(url)
        if not allow_private:
            await checked_addresses(parsed, allow_private=False, resolve=resolve)
    except CallbackRefused as exc:
        raise InvalidRequest(
            "Invalid request", details=[{"field": field, "message": str(exc)}]
        ) from None
    except (OSError, TimeoutError):
        pass
    return url


# --- secrets and signatures ----------------------------------------------------------

_keyrings: weakref.WeakKeyDictionary[Runtime, Keyring] = weakref.WeakKeyDictionary()


def keyring_of(runtime: Runtime) -> Keyring:
    """The runtime's keyring (``runtime.keyring``), else one made from its settings once."""
    keyring = getattr(runtime, "keyring", None)
    if isinstance(keyring, Keyring):
        return keyring
    cached = _keyrings.get(runtime)
    if cached is None:
        cached = _keyrings[runtime] = Keyring.from_settings(runtime.settings)
    return cached


def encrypt_secret(runtime: Runtime, secret: str | None) -> str | None:
    """A ``callback_secret`` as it is stored on the job: encrypted."""
    return keyring_of(runtime).encrypt(secret) if secret else None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``X-FlickrHub-Signature``: ``v1=`` + hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={digest.hexdigest()}"


def sign_legacy(secret: str, body: bytes) -> str:
    """The earlier system's ``X-Signature``: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- the payload ---------------------------------------------------------------------


def _iso_ms(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def payload(job: Job) -> dict[str, Any]:
    """The earlier system's callback body for a finished job, in its key order."""
    completed = job.state is JobState.COMPLETED
    error: dict[str, Any] | None = None
    if not completed and job.error is not None:
        extra = {k: v for k, v in job.error.items() if k not in ("message", "code")}
        error = {"message": job.error.get("message"), "code": job.error.get("code"), **extra}
    return {
        "job_id": job.id,
        "user_id": job.user_id,
        "queue": job.queue,
        "state": job.state.value,
        "result": job.result if completed else None,
        "error": error,
        "from_cache": job.from_cache,
        "attempts_made": job.attempts,
        "max_attempts": job.max_attempts,
        "timestamp": _iso_ms(job.finished_at or utcnow()),
        "trace_id": job.trace_id,
        "meta": job.meta,
    }


def encode_payload(job: Job) -> bytes:
    """Compact JSON, UTF-8, as the earlier system's ``JSON.stringify`` sent it."""
    return json.dumps(payload(job), separators=(",", ":"), ensure_ascii=False, default=str).encode()


# --- delivery ------------------------------------------------------------------------


@dataclass
class _Delivery:
    job_id: str
    url: str
    event: str
    body: bytes
    secret: str | None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    attempts: int = 0
    state: str = "pending"
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: str | None = None

    def record(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "state": self.state,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "delivered_at": self.delivered_at,
            "delivery_id": self.id,
        }


class _AttemptFailed(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, _AttemptFailed) and exc.retryable


class WebhookDispatcher:
    """Sends the webhooks of one runtime's finished jobs, in background tasks.

    A core-internal listener of the ``job_event`` hook: :meth:`attach` registers
    it with the runtime's plugin manager (once per runtime, however many worker
    hosts share it) and :meth:`detach` drains and unregisters it.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        resolve: Resolver = resolve_host,
    ) -> None:
        self.rt = runtime
        self.log = runtime.log
        self._resolve = resolve
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._users = 0

    # --- lifecycle -------------------------------------------------------------------

    @classmethod
    async def attach(cls, runtime: Runtime, **options: Any) -> WebhookDispatcher:
        """The runtime's dispatcher, started and registered on first use."""
        existing = runtime.plugins.pm.get_plugin(PLUGIN_NAME)
        if isinstance(existing, WebhookDispatcher):
            dispatcher = existing
        else:
            dispatcher = cls(runtime, **options)
            dispatcher.start()
            runtime.plugins.pm.register(dispatcher, name=PLUGIN_NAME)
        dispatcher._users += 1
        return dispatcher

    async def detach(self, grace: float) -> None:
        """One user fewer; the last one unregisters and stops (see :meth:`stop`)."""
        self._users -= 1
        if self._users > 0:
            return
        if self.rt.plugins.pm.get_plugin(PLUGIN_NAME) is self:
            self.rt.plugins.pm.unregister(name=PLUGIN_NAME)
        await self.stop(grace)

    def start(self) -> None:
        s = self.rt.settings
        self._client = httpx.AsyncClient(
            timeout=s.webhook_timeout,
            follow_redirects=False,
            # Proxies would bypass the address checks; pinned addresses make pooled
            # connections unsafe to share between hosts, so none are kept.
            trust_env=False,
            limits=httpx.Limits(max_connections=MAX_CONCURRENT, max_keepalive_connections=0),
        )

    async def stop(self, grace: float) -> None:
        """Let deliveries finish for ``grace`` seconds, then give up on the rest
        (recorded on their jobs as failed)."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def pending(self) -> int:
        """Deliveries waiting, in flight or between attempts."""
        return len(self._tasks)

    # --- the hook --------------------------------------------------------------------

    @hookimpl
    def job_event(self, runtime: Runtime, event: JobEvent) -> None:
        """Schedule the webhook of a finished job; never waits for it."""
        if runtime is not self.rt or self._client is None:
            return
        kind = EVENTS.get(event.name)
        job = event.job
        if kind is None or not job.callback_url or not runtime.settings.callback_enabled:
            return
        delivery = _Delivery(job.id, job.callback_url, kind, b"", job.callback_secret)
        if len(self._tasks) >= MAX_PENDING:
            delivery.state = "failed"
            delivery.last_error = "not sent: too many webhook deliveries pending"
            metrics.child(metrics.WEBHOOKS, "dropped").inc()
            self.log.warning("webhook_dropped", job_id=job.id, pending=len(self._tasks))
            self._spawn(self._record(delivery))
            return
        self._spawn(self._deliver(delivery, job.model_copy()))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- one delivery ----------------------------------------------------------------

    async def _deliver(self, delivery: _Delivery, job: Job) -> None:
        s = self.rt.settings
        try:
            delivery.body = encode_payload(job)
            secret = self._secret(delivery)
            await self._record(delivery)
            async for attempt in stamina.retry_context(
                on=_retryable,
                attempts=s.callback_retry_attempts,
                timeout=None,
                wait_initial=s.retry_wait_initial,
                wait_max=s.retry_wait_max,
                wait_jitter=s.retry_wait_initial,
            ):
                with attempt:
                    await self._attempt(delivery, secret)
        except _AttemptFailed:
            delivery.state = "failed"
        except asyncio.CancelledError:
            delivery.state = "failed"
            delivery.last_error = "not delivered: the worker stopped"
            metrics.child(metrics.WEBHOOKS, "failed").inc()
            await self._record(delivery)
            raise
        if delivery.state == "failed":
            metrics.child(metrics.WEBHOOKS, "failed").inc()
            self.log.warning(
                "webhook_failed",
                job_id=delivery.job_id,
                delivery_id=delivery.id,
                attempts=delivery.attempts,
                status=delivery.last_status,
                reason=delivery.last_error,
            )
        await self._record(delivery)

    def _secret(self, delivery: _Delivery) -> str | None:
        if not delivery.secret:
            return None
        try:
            return keyring_of(self.rt).decrypt(delivery.secret)
        except ConfigError:
            delivery.last_error = "not sent: the callback secret cannot be decrypted"
            raise _AttemptFailed(delivery.last_error, retryable=False) from None

    async def _attempt(self, delivery: _Delivery, secret: str | None) -> None:
        delivery.attempts += 1
        try:
            async with self._slots:
                status = await self._post(delivery, secret)
        except CallbackRefused as exc:
            delivery.last_status, delivery.last_error = None, str(exc)
            retryable = False
        except (OSError, TimeoutError):
            delivery.last_status, delivery.last_error = None, "the callback host did not resolve"
            retryable = True
        except httpx.TimeoutException:
            delivery.last_status = None
            delivery.last_error = f"timed out after {self.rt.settings.webhook_timeout:g} s"
            retryable = True
        except httpx.HTTPError as exc:
            delivery.last_status = None
            delivery.last_error = f"connection failed ({type(exc).__name__})"
            retryable = True
        else:
            delivery.last_status = status
            if 200 <= status < 300:
                delivery.state = "delivered"
                delivery.last_error = None
                delivery.delivered_at = _iso_ms(utcnow())
                metrics.child(metrics.WEBHOOKS, "delivered").inc()
                self.log.info(
                    "webhook_delivered",
                    job_id=delivery.job_id,
                    delivery_id=delivery.id,
                    attempts=delivery.attempts,
                    status=status,
                )
                return
            retryable = status >= 500 or status in RETRY_STATUSES
            delivery.last_error = f"HTTP {status}" + (
                " (redirects are not followed)" if 300 <= status < 400 else ""
            )
        last = delivery.attempts >= self.rt.settings.callback_retry_attempts
        if retryable and not last:
            await self._record(delivery)
            metrics.child(metrics.WEBHOOKS, "retried").inc()
            self.log.info(
                "webhook_retrying",
                job_id=delivery.job_id,
                delivery_id=delivery.id,
                attempt=delivery.attempts,
                status=delivery.last_status,
                reason=delivery.last_error,
            )
        raise _AttemptFailed(delivery.last_error or "failed", retryable=retryable)

    async def _post(self, delivery: _Delivery, secret: str | None) -> int:
        """POST once to each checked address in turn until one connects; the status."""
        assert self._client is not None
        url = parse_callback_url(delivery.url)
        addresses = await checked_addresses(
            url, allow_private=self.rt.settings.webhook_allow_private, resolve=self._resolve
        )
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"FlickrHub/{__version__}",
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: delivery.id,
            TIMESTAMP_HEADER: timestamp,
            # The URL below names an address: keep the host the receiver expects.
            "Host": url.netloc.decode("ascii"),
        }
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, timestamp, delivery.body)
            headers[LEGACY_SIGNATURE_HEADER] = sign_legacy(secret, delivery.body)
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        failure: httpx.ConnectError | None = None
        for address in addresses:
            request = self._client.build_request(
                "POST",
                url.copy_with(host=address),
                content=delivery.body,
                headers=headers,
                extensions=extensions,
            )
            try:
                response = await self._client.send(request, stream=True)
            except httpx.ConnectError as exc:
                failure = exc
                continue
            await response.aclose()  # the body is not read: it could be anything
            return response.status_code
        assert failure is not None
        raise failure

    async def _record(self, delivery: _Delivery) -> None:
        """Save the delivery's progress on the job (re-read: the job may have moved on)."""
        try:
            job = await self.rt.jobs.get(delivery.job_id)
            if job is None:
                return
            job.webhook = delivery.record()
            await self.rt.jobs.save(job)
        except Exception as exc:
            self.log.error(
                "webhook_record_failed", job_id=delivery.job_id, error=type(exc).__name__
            )
