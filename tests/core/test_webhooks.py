"""Webhooks: URL checks, the payload and its signatures, retries, and what is
recorded on the job, against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import itertools
import json
import time
import types
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from quart import Quart
from structlog.testing import capture_logs

from flickrhub_api import create_app
from flickrhub_core import Job, JobError, JobState, Target, TargetContext, hookimpl
from flickrhub_core.errors import InvalidRequest
from flickrhub_core.runtime import Runtime
from flickrhub_core.webhooks import (
    PLUGIN_NAME,
    WebhookDispatcher,
    check_callback_url,
    encrypt_secret,
    is_forbidden_address,
    keyring_of,
)
from flickrhub_core.worker import WorkerHost
from tests.helpers import started, working

SECRET = "whsec-top-secret-value"
PAYLOAD_KEYS = [
    "job_id",
    "user_id",
    "queue",
    "state",
    "result",
    "error",
    "from_cache",
    "attempts_made",
    "max_attempts",
    "timestamp",
    "trace_id",
    "meta",
]
#: Webhook retry backoff in these tests: 0.1 s, 0.2 s, 0.4 s ... (plus up to 0.1 s jitter).
WAIT_INITIAL = 0.1


# --- a real receiver -----------------------------------------------------------------


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A minimal HTTP/1.1 server: records each request and answers from ``script``
    (a status, or ``"hang"`` to never answer); 200 once the script is used up."""

    script: list[int | str] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    server: asyncio.Server | None = None
    handlers: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/flickr?source=test"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def stop(self) -> None:
        for task in self.handlers:
            task.cancel()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            request_line = (await reader.readline()).decode()
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.hits.append(Hit(request_line.split()[1], headers, body, time.monotonic()))
            step = self.script.pop(0) if self.script else 200
            if step == "hang":
                await asyncio.sleep(60)
            writer.write(
                f"HTTP/1.1 {step} Whatever\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode()
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.handlers.discard(task)
            writer.close()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Hit]:
        async with asyncio.timeout(timeout):
            while len(self.hits) < count:
                await asyncio.sleep(0.01)
        return self.hits


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# --- targets and a worker ------------------------------------------------------------


class Echo(Target):
    name = "echo"

    async def execute(self, ctx: TargetContext) -> Any:
        return {"stat": "ok", "echo": dict(ctx.job.params)}


class Refused(Target):
    name = "refused"

    async def execute(self, ctx: TargetContext) -> Any:
        raise JobError("Photo not found", code="ERR_FLICKR_API")


class Flaky(Target):
    name = "flaky"

    async def execute(self, ctx: TargetContext) -> Any:
        raise JobError("try later", code="ERR_FLICKR_UNAVAILABLE", retryable=True)


def targets_plugin() -> tuple[str, object]:
    @hookimpl
    def register_targets(register: Callable[[Target], None]) -> None:
        for target in (Echo(), Refused(), Flaky()):
            register(target)

    module = types.ModuleType("webhook_test_targets")
    module.register_targets = register_targets  # type: ignore[attr-defined]
    return ("webhook_test_targets", module)


@pytest.fixture
def options() -> dict[str, Any]:
    """Settings of the runtime; tests override entries before ``rt`` is built."""
    return {
        "webhook_allow_private": True,
        "callback_retry_attempts": 4,
        "retry_wait_initial": WAIT_INITIAL,
        "retry_wait_max": 2.0,
        "webhook_timeout": 0.5,
    }


@pytest.fixture
async def rt(
    make_runtime: Callable[..., Runtime], options: dict[str, Any]
) -> AsyncIterator[Runtime]:
    runtime = make_runtime(targets_plugin(), **options)
    async with started(runtime):
        yield runtime


@pytest.fixture
async def host(rt: Runtime) -> AsyncIterator[WorkerHost]:
    async with working(WorkerHost(rt, concurrency=4), grace=1) as worker:
        yield worker


async def submit(rt: Runtime, target: str = "echo", **fields: Any) -> Job:
    fields.setdefault("max_attempts", 3)
    return await rt.enqueue(Job(user_id="u1", target=target, **fields))


async def delivered(rt: Runtime, job_id: str, timeout: float = 10.0) -> Job:
    """The job once its webhook has stopped being pending."""
    async with asyncio.timeout(timeout):
        while True:
            job = await rt.jobs.get(job_id)
            if job is not None and job.webhook and job.webhook["state"] != "pending":
                return job
            await asyncio.sleep(0.01)


def expected_signatures(hit: Hit) -> tuple[str, str]:
    timestamp = hit.headers["x-flickrhub-timestamp"]
    v1 = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + hit.body, hashlib.sha256)
    legacy = hmac.new(SECRET.encode(), hit.body, hashlib.sha256)
    return f"v1={v1.hexdigest()}", legacy.hexdigest()


# --- the payload and its signatures --------------------------------------------------


async def test_a_completed_job_posts_the_earlier_systems_payload_signed_twice(
    rt: Runtime, host: WorkerHost, receiver: Receiver
) -> None:
    job = await submit(
        rt,
        params={"tags": "cat"},
        callback_url=receiver.url,
        callback_secret=encrypt_secret(rt, SECRET),
        meta={"session_id": "abc123", "page": 2},
        trace_id="req-123",
    )
    (hit,) = await receiver.wait_for(1)

    assert hit.path == "/hooks/flickr?source=test"
    body = hit.json()
    assert list(body) == PAYLOAD_KEYS
    assert body["job_id"] == job.id
    assert body["user_id"] == "u1"
    assert body["queue"] == "flickr_echo"
    assert body["state"] == "completed"
    assert body["result"] == {"stat": "ok", "echo": {"tags": "cat"}}
    assert body["error"] is None
    assert body["from_cache"] is False
    assert body["attempts_made"] == 1
    assert body["max_attempts"] == 3
    assert body["trace_id"] == "req-123"
    assert body["meta"] == {"session_id": "abc123", "page": 2}
    assert body["timestamp"].endswith("Z") and len(body["timestamp"]) == 24
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    # compact JSON, as JSON.stringify sent it
    assert hit.body == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

    assert hit.headers["content-type"] == "application/json"
    assert hit.headers["user-agent"].startswith("FlickrHub/")
    assert hit.headers["x-flickrhub-event"] == "job.completed"
    uuid.UUID(hit.headers["x-flickrhub-delivery"])
    assert abs(int(hit.headers["x-flickrhub-timestamp"]) - time.time()) < 10
    v1, legacy = expected_signatures(hit)
    assert hit.headers["x-flickrhub-signature"] == v1
    assert hit.headers["x-signature"] == legacy

    stored = await delivered(rt, job.id)
    assert stored.webhook is not None
    assert stored.webhook["state"] == "delivered"
    assert stored.webhook["attempts"] == 1
    assert stored.webhook["last_status"] == 200
    assert stored.webhook["last_error"] is None
    assert stored.webhook["url"] == receiver.url
    assert stored.webhook["delivery_id"] == hit.headers["x-flickrhub-delivery"]
    assert stored.webhook["delivered_at"].endswith("Z")


async def test_a_failed_job_posts_the_error(
    rt: Runtime, host: WorkerHost, receiver: Receiver
) -> None:
    job = await submit(rt, "refused", callback_url=receiver.url)
    (hit,) = await receiver.wait_for(1)
    body = hit.json()
    assert list(body) == PAYLOAD_KEYS
    assert hit.headers["x-flickrhub-event"] == "job.failed"
    assert body["job_id"] == job.id
    assert body["state"] == "failed"
    assert body["result"] is None
    assert body["error"]["message"] == "Photo not found"
    assert body["error"]["code"] == "ERR_FLICKR_API"
    assert body["attempts_made"] == 1
    assert body["meta"] is None
    # no secret: no signatures
    assert "x-flickrhub-signature" not in hit.headers
    assert "x-signature" not in hit.headers


async def test_a_dead_lettered_job_posts_a_failure_after_its_last_attempt(
    rt: Runtime, host: WorkerHost, receiver: Receiver
) -> None:
    job = await submit(rt, "flaky", max_attempts=2, callback_url=receiver.url)
    (hit,) = await receiver.wait_for(1)
    body = hit.json()
    assert body["job_id"] == job.id
    assert body["state"] == "failed"
    assert body["attempts_made"] == 2
    assert body["max_attempts"] == 2
    assert body["error"]["code"] == "ERR_FLICKR_UNAVAILABLE"
    await asyncio.sleep(0.3)
    assert len(receiver.hits) == 1  # retries of the job itself send nothing


async def test_a_verifier_over_the_raw_body_accepts_it(
    rt: Runtime, host: WorkerHost, receiver: Receiver
) -> None:
    """The README's verification recipe, run against a real delivery."""
    await submit(
        rt,
        params={"text": "héllo ✓"},
        callback_url=receiver.url,
        callback_secret=encrypt_secret(rt, SECRET),
    )
    (hit,) = await receiver.wait_for(1)

    def verify(secret: str, headers: dict[str, str], raw_body: bytes, tolerance: int = 300) -> bool:
        timestamp = headers["x-flickrhub-timestamp"]
        if abs(time.time() - int(timestamp)) > tolerance:
            return False
        signed = timestamp.encode() + b"." + raw_body
        expected = "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, headers["x-flickrhub-signature"])

    assert verify(SECRET, hit.headers, hit.body)
    assert not verify("another-secret", hit.headers, hit.body)
    assert not verify(SECRET, hit.headers, hit.body.replace(b"ok", b"OK"))
    assert hit.json()["result"]["echo"]["text"] == "héllo ✓"


# --- retries -------------------------------------------------------------------------


async def test_5xx_is_retried_with_backoff_then_delivered(
    rt: Runtime, host: WorkerHost, receiver: Receiver
) -> None:
    receiver.script = [500, 503, 502, 204]
    job = await submit(rt, callback_url=receiver.url, callback_secret=encrypt_secret(rt, SECRET))
    hits = await receiver.wait_for(4)

    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(hits)]
    assert gaps[0] >= WAIT_INITIAL * 0.9
    assert gaps[1] >= WAIT_INITIAL * 2 * 0.9
    assert gaps[2] >= WAIT_INITIAL * 4 * 0.9
    assert len({hit.headers["x-flickrhub-delivery"] for hit in hits}) == 1
    assert len({hit.body for hit in hits}) == 1
    for hit in hits:  # each attempt signed with its own timestamp
        v1, legacy = expected_signatures(hit)
        assert hit.headers["x-flickrhub-signature"] == v1
        assert hit.headers["x-signature"] == legacy

    stored = await delivered(rt, job.id)
    assert stored.webhook is not None
    assert stored.webhook["state"] == "delivered"
    assert stored.webhook["attempts"] == 4
    assert stored.webhook["last_status"] == 204


async def test_attempts_are_recorded_while_retrying(
    rt: Runtime, host: WorkerHost, receiver: Receiver
) -> None:
    receiver.script = [500, "hang"]
    job = await submit(rt, callback_url=receiver.url)
    await receiver.wait_for(2)
    stored = await rt.jobs.get(job.id)
    assert stored is not None and stored.webhook is not None
    assert stored.webhook["state"] == "pending"
    assert stored.webhook["attempts"] == 1
    assert stored.webhook["last_status"] == 500
    assert stored.webhook["last_error"] == "HTTP 500"
    assert stored.state is JobState.COMPLETED  # the job itself is long done


async def test_408_429_and_timeouts_are_retried(
    rt: Runtime, host: WorkerHost, receiver: Receiver
) -> None:
    receiver.script = [429, 408, "hang", 200]
    job = await submit(rt, callback_url=receiver.url)
    stored = await delivered(rt, job.id)
    assert len(receiver.hits) == 4
    assert stored.webhook is not None
    assert stored.webhook["state"] == "delivered"
    assert stored.webhook["attempts"] == 4


@pytest.mark.parametrize("status", [400, 401, 404, 410, 301])
async def test_other_4xx_and_redirects_give_up_at_once(
    rt: Runtime, host: WorkerHost, receiver: Receiver, status: int
) -> None:
    receiver.script = [status]
    job = await submit(rt, callback_url=receiver.url)
    stored = await delivered(rt, job.id)
    await asyncio.sleep(WAIT_INITIAL * 3)
    assert len(receiver.hits) == 1
    assert stored.webhook is not None
    assert stored.webhook["state"] == "failed"
    assert stored.webhook["attempts"] == 1
    assert stored.webhook["last_status"] == status
    assert stored.webhook["last_error"].startswith(f"HTTP {status}")
    assert stored.state is JobState.COMPLETED  # a failed webhook never changes the job


async def test_every_attempt_failing_is_recorded_as_failed(
    rt: Runtime, host: WorkerHost, receiver: Receiver
) -> None:
    receiver.script = [500] * 10
    job = await submit(rt, callback_url=receiver.url)
    stored = await delivered(rt, job.id)
    assert len(receiver.hits) == rt.settings.callback_retry_attempts == 4
    assert stored.webhook is not None
    assert stored.webhook["state"] == "failed"
    assert stored.webhook["attempts"] == 4
    assert stored.webhook["delivered_at"] is None


async def test_a_closed_port_is_retried_and_recorded(rt: Runtime, host: WorkerHost) -> None:
    dead = Receiver()
    await dead.start()
    url = dead.url
    await dead.stop()
    job = await submit(rt, callback_url=url)
    stored = await delivered(rt, job.id)
    assert stored.webhook is not None
    assert stored.webhook["state"] == "failed"
    assert stored.webhook["attempts"] == 4
    assert stored.webhook["last_error"] == "connection failed (ConnectError)"


async def test_a_slow_receiver_does_not_hold_up_the_jobs(
    rt: Runtime, host: WorkerHost, receiver: Receiver
) -> None:
    receiver.script = ["hang"] * 10
    first = await submit(rt, callback_url=receiver.url)
    await receiver.wait_for(1)
    second = await submit(rt)
    async with asyncio.timeout(1):
        while (job := await rt.jobs.get(second.id)) is None or not job.state.finished:
            await asyncio.sleep(0.01)
    assert (await rt.jobs.get(first.id)).state is JobState.COMPLETED  # type: ignore[union-attr]


# --- what sends nothing --------------------------------------------------------------


async def test_a_cancelled_job_sends_nothing(rt: Runtime, receiver: Receiver) -> None:
    dispatcher = await WebhookDispatcher.attach(rt)
    try:
        job = await submit(rt, callback_url=receiver.url)
        await rt.cancel(job)
        host = WorkerHost(rt, concurrency=2)  # the cancelled job's message is skipped
        await host.start()
        await asyncio.sleep(0.3)
        await host.stop(grace=1)
        assert receiver.hits == []
        assert dispatcher.pending == 0
        stored = await rt.jobs.get(job.id)
        assert stored is not None
        assert stored.state is JobState.CANCELLED and stored.webhook is None
    finally:
        await dispatcher.detach(grace=1)


async def test_callback_enabled_false_sends_nothing(
    make_runtime: Callable[..., Runtime], receiver: Receiver
) -> None:
    runtime = make_runtime(targets_plugin(), callback_enabled=False, webhook_allow_private=True)
    await runtime.start()
    host = WorkerHost(runtime)
    await host.start()
    try:
        job = await runtime.enqueue(Job(user_id="u1", target="echo", callback_url=receiver.url))
        async with asyncio.timeout(5):
            while (stored := await runtime.jobs.get(job.id)) is None or not stored.state.finished:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        assert receiver.hits == []
        assert stored.webhook is None
    finally:
        await host.stop(grace=1)
        await runtime.close()


async def test_jobs_without_a_callback_send_nothing(
    rt: Runtime, host: WorkerHost, receiver: Receiver
) -> None:
    job = await submit(rt)
    async with asyncio.timeout(5):
        while (stored := await rt.jobs.get(job.id)) is None or not stored.state.finished:
            await asyncio.sleep(0.01)
    assert stored.webhook is None
    assert host.webhooks is not None and host.webhooks.pending == 0


# --- shutdown and registration -------------------------------------------------------


async def test_stopping_gives_up_on_deliveries_after_the_grace_and_records_it(
    rt: Runtime, receiver: Receiver
) -> None:
    receiver.script = ["hang"] * 10
    host = WorkerHost(rt)
    await host.start()
    job = await submit(rt, callback_url=receiver.url)
    await receiver.wait_for(1)
    started = time.monotonic()
    await host.stop(grace=0.3)
    assert time.monotonic() - started < 2
    stored = await rt.jobs.get(job.id)
    assert stored is not None and stored.webhook is not None
    assert stored.webhook["state"] == "failed"
    assert stored.webhook["last_error"] == "not delivered: the worker stopped"
    assert rt.plugins.pm.get_plugin(PLUGIN_NAME) is None


async def test_two_hosts_on_one_runtime_share_one_dispatcher(
    rt: Runtime, receiver: Receiver
) -> None:
    first, second = WorkerHost(rt, ["echo"]), WorkerHost(rt, ["refused"])
    await first.start()
    await second.start()
    try:
        assert first.webhooks is second.webhooks
        await submit(rt, callback_url=receiver.url)
        await receiver.wait_for(1)
        await asyncio.sleep(0.2)
        assert len(receiver.hits) == 1  # not once per host
    finally:
        await first.stop(grace=1)
        assert rt.plugins.pm.get_plugin(PLUGIN_NAME) is second.webhooks
        await second.stop(grace=1)
    assert rt.plugins.pm.get_plugin(PLUGIN_NAME) is None


# --- where webhooks may go -----------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fec0::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",
        "64:ff9b::a00:1",
    ],
)
def test_private_and_special_addresses_are_forbidden(address: str) -> None:
    assert is_forbidden_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_forbidden_address(ipaddress.ip_address(address))


async def refusal(url: str, **kwargs: Any) -> str:
    kwargs.setdefault("allow_private", False)
    with pytest.raises(InvalidRequest) as caught:
        await check_callback_url(url, **kwargs)
    (detail,) = caught.value.details
    assert detail["field"] == "callback_url"
    return str(detail["message"])


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/x", "http"),
        ("file:///etc/passwd", "http"),
        ("javascript:alert(1)", "http"),
        ("http://", "host"),
        ("http://user:pass@example.com/", "user name"),
        ("http://user@example.com/", "user name"),
        ("http://exa mple.com/", "spaces"),
        ("http://127.0.0.1/", "private"),
        ("http://127.1/", "private"),
        ("http://[::1]:8080/", "private"),
        ("http://[::ffff:169.254.169.254]/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "private"),
        ("http://0.0.0.0:3000/", "private"),
        ("https://" + "a" * 2050 + ".com/", "longer"),
    ],
)
async def test_refused_callback_urls(url: str, words: str) -> None:
    assert words in await refusal(url)


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        assert (host, port) == ("hooks.example", 443)
        return ["93.184.216.34", "10.0.0.5"]

    message = await refusal("https://hooks.example/cb", resolve=resolve)
    assert "FLICKRHUB_WEBHOOK_ALLOW_PRIVATE" in message


async def test_localhost_is_refused_by_the_real_resolver() -> None:
    assert "private" in await refusal("http://localhost:8080/cb")


async def test_public_and_unresolvable_urls_are_accepted() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        if host == "nowhere.invalid":
            raise OSError("no such host")
        return ["93.184.216.34"]

    for url in (
        "https://hooks.example/cb?x=1",
        "http://93.184.216.34:8080/",
        "http://nowhere.invalid/",
    ):
        assert await check_callback_url(url, allow_private=False, resolve=resolve) == url


async def test_private_urls_are_accepted_when_allowed() -> None:
    url = "http://127.0.0.1:9000/hook"
    assert await check_callback_url(url, allow_private=True) == url


async def test_delivery_checks_the_address_again(
    make_runtime: Callable[..., Runtime], receiver: Receiver
) -> None:
    """DNS rebinding: public when enqueued, private when delivered: nothing is sent."""
    runtime = make_runtime(targets_plugin(), webhook_allow_private=False, retry_wait_initial=0.01)
    await runtime.start()
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    async def resolve(host: str, port: int) -> list[str]:
        return next(answers, ["127.0.0.1"])

    url = f"http://hooks.example:{receiver.port}/cb"
    assert await check_callback_url(url, allow_private=False, resolve=resolve) == url
    dispatcher = await WebhookDispatcher.attach(runtime, resolve=resolve)
    host = WorkerHost(runtime)
    await host.start()
    try:
        job = await runtime.enqueue(Job(user_id="u1", target="echo", callback_url=url))
        stored = await delivered(runtime, job.id)
        assert stored.webhook is not None
        assert stored.webhook["state"] == "failed"
        assert stored.webhook["attempts"] == 1  # refused at once, not retried
        assert "private" in stored.webhook["last_error"]
        assert receiver.hits == []
    finally:
        await host.stop(grace=1)
        await dispatcher.detach(grace=1)
        await runtime.close()


async def test_delivery_connects_to_the_checked_address_with_the_original_host(
    rt: Runtime, receiver: Receiver
) -> None:
    """The request goes to the address that was checked; Host names the URL's host."""
    looked_up: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["::1", "127.0.0.1"]  # the receiver listens on IPv4 only: the 2nd is used

    dispatcher = await WebhookDispatcher.attach(rt, resolve=resolve)
    host = WorkerHost(rt)
    await host.start()
    try:
        url = f"http://hooks.example:{receiver.port}/cb"
        job = await submit(rt, callback_url=url)
        (hit,) = await receiver.wait_for(1)
        assert hit.headers["host"] == f"hooks.example:{receiver.port}"
        assert looked_up == ["hooks.example"]
        stored = await delivered(rt, job.id)
        assert stored.webhook is not None and stored.webhook["state"] == "delivered"
    finally:
        await host.stop(grace=1)
        await dispatcher.detach(grace=1)


# --- the secret stays secret ---------------------------------------------------------


async def test_the_secret_is_stored_encrypted_and_never_shown(
    rt: Runtime, host: WorkerHost, receiver: Receiver
) -> None:
    app: Quart = create_app(rt, manage_runtime=False)
    client = app.test_client()
    with capture_logs() as logs:
        response = await client.post(
            "/api/v1/flickr/rest",
            json={
                "target": "echo",
                "user_id": "u1",
                "callback_url": receiver.url,
                "callback_secret": SECRET,
                "meta": {"k": "v"},
            },
        )
        assert response.status_code == 202, await response.get_data(as_text=True)
        job_id = (await response.get_json())["data"]["job_id"]
        (hit,) = await receiver.wait_for(1)
        await delivered(rt, job_id)

    stored = await rt.jobs.get(job_id)
    assert stored is not None and stored.callback_secret is not None
    assert stored.callback_secret.startswith("fernet:")
    assert SECRET not in stored.callback_secret
    assert keyring_of(rt).decrypt(stored.callback_secret) == SECRET
    assert SECRET not in repr(stored)
    v1, legacy = expected_signatures(hit)
    assert hit.headers["x-flickrhub-signature"] == v1
    assert hit.headers["x-signature"] == legacy
    assert hit.json()["meta"] == {"k": "v"}
    assert hit.json()["trace_id"] == response.headers["X-Request-ID"]

    for path in (f"/api/v1/flickr/jobs/{job_id}", "/api/v1/flickr/jobs?limit=10"):
        text = await (await client.get(path)).get_data(as_text=True)
        assert SECRET not in text and stored.callback_secret not in text
        assert "callback_secret" not in text
    view = (await (await client.get(f"/api/v1/flickr/jobs/{job_id}")).get_json())["data"]
    assert view["webhook"]["state"] == "delivered"
    assert view["callback_url"] == receiver.url
    logged = json.dumps(logs, default=str)
    assert SECRET not in logged and stored.callback_secret not in logged
    assert any(event["event"] == "webhook_delivered" for event in logs)


@pytest.mark.parametrize("options", [{"webhook_allow_private": False}])
async def test_the_api_refuses_private_callback_urls_without_the_flag(
    rt: Runtime, options: dict[str, Any]
) -> None:
    app: Quart = create_app(rt, manage_runtime=False)
    client = app.test_client()
    for url in ("http://127.0.0.1:9000/hook", "http://localhost/hook", "http://[::1]/"):
        response = await client.post(
            "/api/v1/flickr/rest", json={"target": "echo", "user_id": "u1", "callback_url": url}
        )
        assert response.status_code == 400, url
        error = (await response.get_json())["error"]
        assert error["code"] == "ERR_INVALID_REQUEST"
        assert error["fields"][0]["field"] == "callback_url"
    response = await client.post(
        "/api/v1/flickr/rest",
        json={"target": "echo", "user_id": "u1", "callback_url": "http://93.184.216.34/hook"},
    )
    assert response.status_code == 202


async def test_the_api_accepts_private_callback_urls_with_the_flag(rt: Runtime) -> None:
    app: Quart = create_app(rt, manage_runtime=False)
    response = await app.test_client().post(
        "/api/v1/flickr/rest",
        json={"target": "echo", "user_id": "u1", "callback_url": "http://127.0.0.1:9000/hook"},
    )
    assert response.status_code == 202


async def test_an_undecryptable_secret_fails_the_delivery_without_sending(
    rt: Runtime, host: WorkerHost, receiver: Receiver
) -> None:
    from flickrhub_core.crypto import Keyring, new_key

    foreign = Keyring([new_key()]).encrypt(SECRET)
    job = await submit(rt, callback_url=receiver.url, callback_secret=foreign)
    stored = await delivered(rt, job.id)
    assert stored.webhook is not None
    assert stored.webhook["state"] == "failed"
    assert "decrypted" in stored.webhook["last_error"]
    assert receiver.hits == []


@pytest.mark.parametrize("options", [{"webhook_allow_private": False}])
async def test_uploads_take_a_checked_callback_url_a_secret_and_meta(
    rt: Runtime, options: dict[str, Any]
) -> None:
    from tests.api.test_photos import Form, photo, post_form

    app: Quart = create_app(rt, manage_runtime=False)
    refused = Form().fields([("user_id", "u1"), ("callback_url", "http://10.0.0.8/hook")])
    status, body = await post_form(app, "/api/v1/flickr/upload", refused.file(photo(100)))
    assert status == 400, body
    assert body["error"]["fields"][0]["field"] == "callback_url"

    form = Form().fields(
        [
            ("user_id", "u1"),
            ("callback_url", "https://93.184.216.34/hook"),
            ("callback_secret", SECRET),
            ("meta", '{"album": "summer"}'),
        ]
    )
    status, body = await post_form(app, "/api/v1/flickr/upload", form.file(photo(100)))
    assert status == 202, body
    job = await rt.jobs.get(body["data"]["job_id"])
    assert job is not None and job.callback_secret is not None
    assert job.callback_url == "https://93.184.216.34/hook"
    assert keyring_of(rt).decrypt(job.callback_secret) == SECRET
    assert SECRET not in job.callback_secret
    assert job.meta == {"album": "summer"}
    assert "callback_secret" not in job.params
