"""The distributed mode's moving parts for tests: the real services (RabbitMQ, Redis,
a MongoDB wire-protocol server), an isolated corner of each, and FlickrHub processes.

* :func:`find_services` finds RabbitMQ, Redis and MongoDB (nx-27017 started through
  ``tests/mongo``'s launcher unless ``MONGO_URL`` is set); a missing one fails the
  run in CI (``CI`` set) and skips it elsewhere, saying why.
* :func:`isolated` gives a test run its own RabbitMQ vhost (``rabbitmqctl add_vhost``;
  without a usable ``rabbitmqctl``, the URL's own vhost with the ``flickr_*`` queues
  purged before and deleted after), Redis key prefix and Mongo database, and removes
  them all at the end.
* :class:`Proc` is one ``python -m flickrhub_core.cli ...`` process with its log file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import aio_pika
import httpx
import pytest
import redis
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from flickrhub_core.crypto import new_key

DEFAULT_RABBIT = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
#: The queues of the built-in targets, and the dead-letter queue.
TARGET_QUEUES = ("flickr_rest", "flickr_upload", "flickr_replace")
DLQ = "flickr_dlq"
#: Generous: five Python processes starting at once on a small, busy machine.
STARTUP_TIMEOUT = 60.0
#: Settings a test process must never inherit from the shell that runs pytest.
INHERITED = ("FLICKR", "RABBIT_", "REDIS_", "MONGO_", "PORT", "SAVE_", "JOB_", "CACHE_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing(reason: str) -> None:
    """A service is not there: fail in CI, skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI requires it)", pytrace=False)
    pytest.skip(reason)


def clean_environ() -> dict[str, str]:
    """``os.environ`` without any FlickrHub, Flickr or service setting."""
    return {k: v for k, v in os.environ.items() if not k.upper().startswith(INHERITED)}


# --- the services ------------------------------------------------------------------------


@dataclass(frozen=True)
class Services:
    rabbit_url: str
    redis_url: str
    mongo_url: str


def rabbit_reachable(url: str) -> str | None:
    parts = urlsplit(url)
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=3):
            return None
    except OSError as exc:
        return f"RabbitMQ at {parts.hostname}:{port} is not reachable ({type(exc).__name__})"


def redis_reachable(url: str) -> str | None:
    probe = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        probe.ping()
    except (redis.RedisError, OSError) as exc:
        return f"Redis at {urlsplit(url).hostname} is not reachable ({type(exc).__name__})"
    finally:
        probe.close()
    return None


@contextlib.contextmanager
def find_services(home: Path) -> Iterator[Services]:
    """The services of ``RABBIT_URL``/``REDIS_URL``/``MONGO_URL`` (default: local
    RabbitMQ and Redis, and nx-27017 started here and stopped at the end)."""
    rabbit_url = os.environ.get("RABBIT_URL") or DEFAULT_RABBIT
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS
    for problem in (rabbit_reachable(rabbit_url), redis_reachable(redis_url)):
        if problem:
            missing(problem)
    mongo_url = os.environ.get("MONGO_URL")
    if mongo_url:
        yield Services(rabbit_url, redis_url, mongo_url)
        return
    try:
        import nx_27017  # type: ignore[import-untyped]  # noqa: F401

        from tests.mongo.conftest import _nx_27017
    except ImportError as exc:
        missing(f"nx-27017 is not installed ({exc}); install the dev group or set MONGO_URL")
        raise  # unreachable: missing() raises
    with _nx_27017(home) as url:
        yield Services(rabbit_url, redis_url, url)


# --- RabbitMQ: a vhost of its own --------------------------------------------------------


def _rabbitmqctl(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rabbitmqctl", "-q", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _loopback(host: str | None) -> bool:
    return host in (None, "", "localhost", "127.0.0.1", "::1")


@dataclass
class Rabbit:
    """The RabbitMQ corner of one test run: its URL, and its vhost if one was made."""

    url: str
    #: The vhost made for this run, or None when the URL's own vhost is shared.
    vhost: str | None

    @property
    def vhost_name(self) -> str:
        path = urlsplit(self.url).path
        return unquote(path[1:]) if len(path) > 1 else "/"

    def queues(self) -> dict[str, dict[str, int]]:
        """``rabbitmqctl list_queues -p <vhost> name messages messages_unacknowledged``.

        Quorum queues' numbers here come from statistics emitted every few seconds,
        so they lag; :meth:`depths` reads them exactly."""
        done = _rabbitmqctl(
            "list_queues",
            "-p",
            self.vhost_name,
            "name",
            "messages",
            "messages_ready",
            "messages_unacknowledged",
            "--formatter",
            "json",
        )
        assert done.returncode == 0, done.stderr
        return {row.pop("name"): row for row in json.loads(done.stdout or "[]")}

    def unacked_on_channels(self) -> dict[str, int]:
        """Unacknowledged messages per open channel of this vhost, live (not from
        statistics). ``list_channels`` ignores ``-p``: the rows are filtered here."""
        done = _rabbitmqctl(
            "list_channels", "vhost", "name", "messages_unacknowledged", "--formatter", "json"
        )
        assert done.returncode == 0, done.stderr
        return {
            row["name"]: row["messages_unacknowledged"]
            for row in json.loads(done.stdout or "[]")
            if row["vhost"] == self.vhost_name
        }

    def depths(self, names: tuple[str, ...] = (*TARGET_QUEUES, DLQ)) -> dict[str, int]:
        """Messages in each queue (ready, and unacked ones of open channels), read exactly
        with a passive declare; a queue that does not exist counts 0."""

        async def read() -> dict[str, int]:
            connection = await aio_pika.connect(self.url)
            try:
                found = {}
                for name in names:
                    channel = await connection.channel()
                    try:
                        queue = await channel.declare_queue(name, passive=True)
                        found[name] = int(queue.declaration_result.message_count or 0)
                    except aio_pika.exceptions.ChannelNotFoundEntity:
                        found[name] = 0
                    with contextlib.suppress(Exception):
                        await channel.close()
                return found
            finally:
                await connection.close()

        return asyncio.run(read())

    def drop_flickr_queues(self) -> None:
        """Without a vhost of our own: delete the ``flickr_*`` queues and exchange."""

        async def drop() -> None:
            connection = await aio_pika.connect(self.url)
            try:
                for name in (*TARGET_QUEUES, DLQ):
                    channel = await connection.channel()
                    with contextlib.suppress(Exception):
                        await channel.queue_delete(name)
                    with contextlib.suppress(Exception):
                        await channel.close()
                channel = await connection.channel()
                with contextlib.suppress(Exception):
                    await channel.exchange_delete("flickr_dlx")
            finally:
                await connection.close()

        asyncio.run(drop())


@contextlib.contextmanager
def rabbit_corner(base_url: str) -> Iterator[Rabbit]:
    """A fresh vhost ``flickrhub-e2e-<uuid>`` (its user given all rights), deleted at the
    end. Without ``rabbitmqctl`` (or for a RabbitMQ elsewhere) the URL's own vhost is
    used: the ``flickr_*`` queues are deleted before and after, so never point these
    tests at a RabbitMQ whose flickr_* queues matter (delay queues, whose names are
    unknown, expire by themselves after 15 minutes)."""
    parts = urlsplit(base_url)
    vhost = f"flickrhub-e2e-{uuid.uuid4().hex[:12]}"
    made = False
    if shutil.which("rabbitmqctl") and _loopback(parts.hostname):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            if _rabbitmqctl("add_vhost", vhost).returncode == 0:
                made = True
                user = unquote(parts.username or "guest")
                granted = _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
                if granted.returncode != 0:
                    _rabbitmqctl("delete_vhost", vhost)
                    raise RuntimeError(f"rabbitmqctl set_permissions failed: {granted.stderr}")
    if made:
        rabbit = Rabbit(parts._replace(path="/" + quote(vhost, safe="")).geturl(), vhost)
        try:
            yield rabbit
        finally:
            _rabbitmqctl("delete_vhost", vhost)
        return
    rabbit = Rabbit(base_url, None)
    rabbit.drop_flickr_queues()
    try:
        yield rabbit
    finally:
        rabbit.drop_flickr_queues()


# --- one run's backends --------------------------------------------------------------------


@dataclass
class Backends:
    """This run's RabbitMQ vhost, Redis key prefix, Mongo database and Fernet key."""

    rabbit: Rabbit
    redis_url: str
    redis_prefix: str
    mongo_url: str
    mongo_db: str
    secret_key: str = field(default_factory=new_key)

    def env(self) -> dict[str, str]:
        """What a deployment sets to get the distributed mode."""
        return {
            "RABBIT_URL": self.rabbit.url,
            "REDIS_URL": self.redis_url,
            "FLICKRHUB_REDIS_PREFIX": self.redis_prefix,
            "MONGO_URL": self.mongo_url,
            "MONGO_DB": self.mongo_db,
            "FLICKRHUB_SECRET_KEY": self.secret_key,
        }

    def mongo(self) -> MongoClient[dict[str, Any]]:
        return MongoClient(self.mongo_url, serverSelectionTimeoutMS=5000)


@contextlib.contextmanager
def isolated(services: Services) -> Iterator[Backends]:
    run = uuid.uuid4().hex[:12]
    with rabbit_corner(services.rabbit_url) as rabbit:
        backends = Backends(
            rabbit=rabbit,
            redis_url=services.redis_url,
            redis_prefix=f"flickrhub-e2e:{run}:",
            mongo_url=services.mongo_url,
            mongo_db=f"flickrhub_e2e_{run}",
        )
        try:
            yield backends
        finally:
            _drop_redis_keys(backends)
            _drop_mongo_db(backends)


def _drop_redis_keys(backends: Backends) -> None:
    client = redis.Redis.from_url(backends.redis_url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{backends.redis_prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _drop_mongo_db(backends: Backends) -> None:
    client = backends.mongo()
    try:
        with contextlib.suppress(PyMongoError):
            client.drop_database(backends.mongo_db)
    finally:
        client.close()


# --- processes -----------------------------------------------------------------------------


class Proc:
    """One ``python -m flickrhub_core.cli ARGS`` process, output in ``log``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], home: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.home = home
        self.starts = 0
        self.log = home / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        self.starts += 1
        # A restart keeps the earlier output: the old log gets a numbered name.
        if self.log.exists():
            self.log.rename(self.home / f"{self.name}.{self.starts - 1}.log")
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flickrhub_core.cli", *self.args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.home,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def all_output(self) -> str:
        """This process's output over all its starts."""
        earlier = sorted(self.home.glob(f"{self.name}.*.log"))
        return "".join(path.read_text(errors="replace") for path in earlier) + self.output()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The JSON log events of all its starts (``name``: only those)."""
        found = []
        for line in self.all_output().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if name is None or event.get("event") == name:
                        found.append(event)
        return found

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.process.returncode}) {what}")
            if ready():
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.name} not {what} within {STARTUP_TIMEOUT} s")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGINT (a graceful stop), then SIGKILL if it takes longer than ``timeout``."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def logs_of(procs: list[Proc], tail: int = 4000) -> str:
    return "\n".join(f"----- {p.name} -----\n{p.all_output()[-tail:]}" for p in procs)
