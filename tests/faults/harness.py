"""What the fault tests break, and how they look at what is left.

* :class:`CuttableProxy` is ``tests/rabbitmq``'s :class:`DroppingProxy` run on a thread
  of its own (the FlickrHub processes are subprocesses; the tests are synchronous),
  with a *cut*: every proxied connection aborted and new ones refused (the listening
  socket closed, so a connect gets ECONNREFUSED, as from a stopped server) until
  :meth:`~CuttableProxy.restore` listens again on the same port. In front of the
  machine's shared RabbitMQ and MongoDB it makes "the broker restarted" and "MongoDB
  is away" for FlickrHub's connections only: other engineers' tests and CI jobs on
  the same servers see nothing.
* :class:`PrivateRedis` is a ``redis-server`` of our own on a free port, with the
  append-only file on (the documented production setup, ``compose.yaml``), so it can
  be stopped and started again without losing the job records.
* :class:`Jobs` submits reads and uploads, waits for their outcomes and checks the
  promises of issue 5: one terminal state per job, no read lost, no upload or
  replace sent to Flickr twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import redis

from tests.distributed.cluster import Proc, free_port, missing
from tests.e2e.helpers import jpeg
from tests.rabbitmq.conftest import DroppingProxy

T = TypeVar("T")

TERMINAL = ("completed", "failed", "cancelled")
#: The workers' log events that end a job.
FINISHED = ("job_completed", "job_failed", "job_dead", "job_cancelled")
#: How long a test waits for a batch to finish once the fault is gone.
SETTLE_TIMEOUT = 60.0


def wait_for(check: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
    """``check()`` once it is truthy; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.05)


# --- a proxy that can be cut ------------------------------------------------------------


class _Cuttable(DroppingProxy):
    async def listen(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await super()._serve(reader, writer)
        except OSError:  # the upstream server itself is away: hang up on the client
            writer.transport.abort()

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        self.drop()

    async def restore(self) -> None:
        if self.server is None:
            await self.listen()


class CuttableProxy:
    """A TCP proxy to ``host:port`` on 127.0.0.1, run on its own event-loop thread."""

    def __init__(self, host: str, port: int) -> None:
        self._proxy = _Cuttable(host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._call(self._proxy.listen())
        self.cut_at: float | None = None

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    @property
    def port(self) -> int:
        return self._proxy.port

    @property
    def is_cut(self) -> bool:
        return self._proxy.server is None

    def cut(self) -> None:
        """Abort every proxied connection and refuse new ones."""
        self._call(self._proxy.cut())
        self.cut_at = time.monotonic()

    def restore(self) -> None:
        """Accept connections again (on the same port)."""
        self._call(self._proxy.restore())
        self.cut_at = None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._proxy.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


# --- a Redis of our own -------------------------------------------------------------------


class PrivateRedis:
    """``redis-server`` on a free loopback port with AOF on (``appendfsync everysec``,
    as ``compose.yaml`` runs it), its files in ``home``; stop and start at will."""

    def __init__(self, home: Path) -> None:
        if shutil.which("redis-server") is None:
            missing("redis-server is not installed: the Redis-restart test runs its own")
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=2)

    def start(self) -> None:
        if self.running:
            return
        self.starts += 1
        log = (self.home / f"redis.{self.starts}.log").open("wb")
        with log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "everysec",
                    "--dir",
                    str(self.home),
                    "--daemonize",
                    "no",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def answers() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                tail = (self.home / f"redis.{self.starts}.log").read_text(errors="replace")
                raise AssertionError(f"redis-server exited:\n{tail[-2000:]}")
            probe = self.client()
            try:
                return bool(probe.ping())
            except (redis.RedisError, OSError):
                return False
            finally:
                probe.close()

        wait_for(answers, timeout=15, what="redis-server answering")

    def stop(self) -> None:
        """A clean stop (SIGTERM): Redis writes the AOF out first, as on a restart."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- jobs, outcomes and the promises ----------------------------------------------------------


@dataclass
class Batch:
    """Jobs submitted in one go: reads (``flickr.test.echo`` with a unique ``key``) and
    uploads (a unique ``title``)."""

    reads: dict[str, str] = field(default_factory=dict)  # job id -> key
    uploads: dict[str, str] = field(default_factory=dict)  # job id -> title

    @property
    def ids(self) -> list[str]:
        return [*self.reads, *self.uploads]

    def __iadd__(self, other: Batch) -> Batch:
        self.reads.update(other.reads)
        self.uploads.update(other.uploads)
        return self


class Jobs:
    """A client of one API for one connected account."""

    def __init__(self, api: str, user: str, sandbox: str) -> None:
        self.api = api
        self.user = user
        self.sandbox = sandbox
        self.http = httpx.Client(timeout=30)

    def close(self) -> None:
        self.http.close()

    def read(self, key: str, *, timeout: float = 30) -> httpx.Response:
        return self.http.post(
            f"{self.api}/api/v1/flickr/rest",
            json={"user_id": self.user, "method": "flickr.test.echo", "params": {"key": key}},
            timeout=timeout,
        )

    def upload(self, title: str, *, size: int = 20_000) -> httpx.Response:
        return self.http.post(
            f"{self.api}/api/v1/flickr/upload",
            data={"user_id": self.user, "title": title},
            files={"photo": ("photo.jpg", jpeg(size), "image/jpeg")},
        )

    def submit(self, reads: int, uploads: int = 0, tag: str = "") -> Batch:
        run = f"{tag}{uuid.uuid4().hex[:8]}"
        batch = Batch()
        # Interleaved, so uploads are among the first jobs the workers take.
        for n in range(max(reads, uploads)):
            if n < uploads:
                title = f"{run}-photo-{n}"
                response = self.upload(title)
                assert response.status_code == 202, response.text
                batch.uploads[response.json()["data"]["job_id"]] = title
            if n < reads:
                key = f"{run}-read-{n}"
                response = self.read(key)
                assert response.status_code == 202, response.text
                batch.reads[response.json()["data"]["job_id"]] = key
        return batch

    def get(self, job_id: str, wait: float = 0) -> dict[str, Any]:
        response = self.http.get(
            f"{self.api}/api/v1/flickr/jobs/{job_id}",
            params={"user_id": self.user, "wait": wait},
            timeout=wait + 15,
        )
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    def outcomes(self, ids: Iterable[str], timeout: float = SETTLE_TIMEOUT) -> dict[str, Any]:
        """Every job's record once it is terminal; fails naming those still pending."""
        deadline = time.monotonic() + timeout
        found: dict[str, Any] = {}
        for job_id in ids:
            while True:
                left = deadline - time.monotonic()
                job = self.get(job_id, wait=max(0, min(10, int(left))))
                if job["state"] in TERMINAL:
                    found[job_id] = job
                    break
                if left <= 0:
                    pending = [i for i in ids if i not in found]
                    raise AssertionError(
                        f"{len(pending)} job(s) not finished within {timeout} s, e.g. {job}"
                    )
        return found

    def sandbox_calls(self, method: str, param: str) -> Counter[str]:
        response = self.http.get(
            f"{self.sandbox}/sandbox/calls", params={"method": method, "param": param}
        )
        response.raise_for_status()
        return Counter(response.json()["values"])

    def faults(self, **rule: Any) -> None:
        self.http.post(f"{self.sandbox}/sandbox/faults", json=rule).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete(f"{self.sandbox}/sandbox/faults").raise_for_status()


def arrived(client: Jobs, batch: Batch, ids: Iterable[str]) -> bool:
    """Whether the calls of these jobs of ``batch`` reached the sandbox (a job is logged
    ``job_started`` a moment before its request goes out)."""
    ids = set(ids)
    reads = client.sandbox_calls("flickr.test.echo", "key")
    uploads = client.sandbox_calls("upload", "title")
    return all(reads[k] for i, k in batch.reads.items() if i in ids) and all(
        uploads[t] for i, t in batch.uploads.items() if i in ids
    )


def finished_events(workers: Iterable[Proc]) -> dict[str, list[tuple[str, str]]]:
    """Per job id, each (worker, event) that finished it, over all the workers' starts."""
    found: dict[str, list[tuple[str, str]]] = {}
    for proc in workers:
        for event in proc.events():
            if event.get("event") in FINISHED and "job_id" in event:
                found.setdefault(event["job_id"], []).append((proc.name, event["event"]))
    return found


def running_on(proc: Proc, ids: Iterable[str]) -> set[str]:
    """The jobs of ``ids`` that ``proc`` started and has not finished (per its log)."""
    wanted = set(ids)
    started: set[str] = set()
    for event in proc.events():
        job_id = event.get("job_id")
        if job_id not in wanted:
            continue
        if event.get("event") == "job_started":
            started.add(job_id)
        elif event.get("event") in FINISHED:
            started.discard(job_id)
    return started


@dataclass
class Verdict:
    """What :func:`check_promises` found, for the test's own further assertions."""

    jobs: dict[str, Any]
    finished_by: dict[str, list[tuple[str, str]]]
    upload_counts: Counter[str]
    read_counts: Counter[str]

    def state(self, job_id: str) -> str:
        return str(self.jobs[job_id]["state"])


def check_promises(
    client: Jobs,
    batch: Batch,
    workers: Iterable[Proc],
    *,
    timeout: float = SETTLE_TIMEOUT,
    refusals: bool = False,
) -> Verdict:
    """Issue 5's promises for ``batch``:

    * every job reaches one terminal state (none stuck queued, running or retrying),
      and exactly one worker logged exactly one finishing event for it;
    * no read is lost: every read completed, with the answer to what it asked;
    * no upload reached the sandbox twice (counted per unique title, as the sandbox
      counts arrivals), a completed upload reached it once, and a failed one failed
      with ``ERR_OUTCOME_UNKNOWN`` (it may have been sent, so it was not sent again).

    With ``refusals`` the sandbox may have refused uploads outright (429): those are
    sent again, so arrivals are not counted; the caller counts the photos instead.
    """
    workers = list(workers)
    jobs = client.outcomes(batch.ids, timeout=timeout)

    def all_finished() -> dict[str, list[tuple[str, str]]] | None:
        found = finished_events(workers)
        return found if all(job_id in found for job_id in batch.ids) else None

    # The finishing event is logged after the state is stored: give it a moment.
    finished_by = wait_for(all_finished, timeout=10, what="a finishing event for every job")
    twice = {i: finished_by[i] for i in batch.ids if len(finished_by[i]) != 1}
    assert not twice, f"jobs finished more than once: {twice}"

    for job_id, key in batch.reads.items():
        job = jobs[job_id]
        assert job["state"] == "completed", job
        assert job["result"]["key"] == {"_content": key}, job

    reads = client.sandbox_calls("flickr.test.echo", "key")
    assert all(reads[key] >= 1 for key in batch.reads.values())
    uploads = client.sandbox_calls("upload", "title")
    for job_id, title in batch.uploads.items():
        job = jobs[job_id]
        if not refusals:
            assert uploads[title] <= 1, f"upload {title!r} reached Flickr {uploads[title]} times"
        if job["state"] == "completed":
            assert refusals or uploads[title] == 1, job
            assert job["result"]["photoid"]["_content"], job
        else:
            assert job["state"] == "failed", job
            assert job["error"]["code"] == "ERR_OUTCOME_UNKNOWN", job
    return Verdict(jobs, finished_by, uploads, reads)


@contextlib.contextmanager
def timed(budget: float, what: str) -> Iterator[None]:
    """Fails if the block takes longer than ``budget`` seconds."""
    started = time.monotonic()
    yield
    took = time.monotonic() - started
    assert took <= budget, f"{what} took {took:.1f} s (budget {budget} s)"


def in_ci() -> bool:
    return bool(os.environ.get("CI"))
