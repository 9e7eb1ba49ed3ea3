"""Fault-test fixtures: one FlickrHub cluster whose backends the tests can take away.

The cluster is ``tests/distributed``'s parts (its :class:`Proc`, its vhost, Redis-prefix
and Mongo-database isolation, its service discovery): a standalone ``flickrhub
sandbox``, one ``flickrhub api`` and two ``flickrhub worker`` processes. What differs
is the wiring, so that each backend can fail without disturbing anyone else on this
machine:

* RabbitMQ (the machine's, in a vhost of this run) is reached through a
  :class:`~tests.faults.harness.CuttableProxy` per process: cutting them all is, for
  FlickrHub's connections, what a broker restart is (sockets reset, connects refused
  until it is back); cutting one is a network failure between one process and the
  broker. Restarting the shared server, or running a second node (several seconds to
  start, and a heavy Erlang VM on this 2-core machine), would be slower or disturb
  other engineers' tests;
* MongoDB (nx-27017, or ``MONGO_URL``'s) through another such proxy;
* Redis is a ``redis-server`` of this package's own, with AOF, stopped and started
  for real.

The cluster lives for the package; the function-scoped :func:`hub` fixture heals it
before each test (proxies restored, Redis running, every process up, sandbox faults
cleared), so one test's fault never leaks into the next.

In CI (``CI`` set) a missing service fails these tests; elsewhere they skip.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from flickrhub_core.sandbox import make_demo_consumer
from flickrhub_core.serve import sandbox_endpoints
from tests.distributed.cluster import (
    Backends,
    Proc,
    Services,
    clean_environ,
    find_services,
    free_port,
    http_ok,
    isolated,
    logs_of,
    missing,
)
from tests.distributed.conftest import wait_worker
from tests.e2e.helpers import connect_account
from tests.faults.harness import CuttableProxy, Jobs, PrivateRedis

#: Seconds a stopping worker may finish its jobs before handing them back.
DRAIN_SECONDS = 3.0
#: Seconds a worker's lease on a running job lasts.
LEASE_SECONDS = 4.0
#: Jobs a worker runs at once (per queue): room for the copies of another worker's jobs.
CONCURRENCY = 8


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing test shows the processes' recent output."""
    report = yield
    hub = getattr(item, "funcargs", {}).get("hub")
    if report.failed and isinstance(hub, FaultCluster):
        report.sections.append(("flickrhub processes", hub.logs()))
    return report


@dataclass
class FaultCluster:
    sandbox: str
    api: str
    api_proc: Proc
    sandbox_proc: Proc
    workers: dict[str, Proc]
    backends: Backends
    #: A proxy to RabbitMQ per process: "api", "w1", "w2".
    rabbit_proxies: dict[str, CuttableProxy]
    mongo_proxy: CuttableProxy
    redis: PrivateRedis
    user: str = ""

    @property
    def procs(self) -> list[Proc]:
        return [self.sandbox_proc, self.api_proc, *self.workers.values()]

    def logs(self) -> str:
        return logs_of(self.procs)

    def client(self) -> Jobs:
        return Jobs(self.api, self.user, self.sandbox)

    def cut_rabbit(self, *names: str) -> None:
        """Cut these processes (all by default) off RabbitMQ."""
        for name in names or tuple(self.rabbit_proxies):
            self.rabbit_proxies[name].cut()

    def restore_rabbit(self) -> None:
        for proxy in self.rabbit_proxies.values():
            proxy.restore()

    def start_worker(self, name: str) -> None:
        proc = self.workers[name]
        proc.start()
        wait_worker(proc, self.procs)

    def heal(self) -> None:
        """Back to a working cluster: every backend reachable, every process running."""
        self.restore_rabbit()
        self.mongo_proxy.restore()
        self.redis.start()
        if not self.sandbox_proc.running:
            raise AssertionError(f"the sandbox died\n{self.logs()}")
        httpx.delete(f"{self.sandbox}/sandbox/faults").raise_for_status()
        if not self.api_proc.running:
            self.api_proc.start()
        for name, proc in self.workers.items():
            if not proc.running:
                self.start_worker(name)
        self.api_proc.wait_until(lambda: http_ok(f"{self.api}/readyz"), "ready")


def _via(url: str, port: int) -> str:
    """``url`` with its host and port replaced by the proxy's (user info kept)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return parts._replace(netloc=netloc).geturl()


def _proxy_for(url: str, default_port: int) -> CuttableProxy:
    parts = urlsplit(url)
    if "," in parts.netloc or parts.scheme not in ("amqp", "mongodb"):
        missing(f"the fault proxy forwards one plain amqp:// or mongodb:// server, not {url!r}")
    return CuttableProxy(parts.hostname or "127.0.0.1", parts.port or default_port)


@pytest.fixture(scope="package")
def fault_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with find_services(tmp_path_factory.mktemp("nx-27017")) as found:
        yield found


@pytest.fixture(scope="package")
def cluster(
    fault_services: Services, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FaultCluster]:
    home: Path = tmp_path_factory.mktemp("faults")
    with contextlib.ExitStack() as stack:
        backends = stack.enter_context(isolated(fault_services))
        redis_server = PrivateRedis(home / "redis")
        stack.callback(redis_server.stop)
        redis_server.start()
        rabbit_proxies = {}
        for name in ("api", "w1", "w2"):
            rabbit_proxies[name] = proxy = _proxy_for(backends.rabbit.url, 5672)
            stack.callback(proxy.close)
        mongo_proxy = _proxy_for(backends.mongo_url, 27017)
        stack.callback(mongo_proxy.close)

        key, secret = make_demo_consumer()
        sandbox_port, api_port = free_port(), free_port()
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        base = {
            **clean_environ(),
            "FLICKR_API_KEY": key,
            "FLICKR_API_SECRET": secret,
            "FLICKRHUB_LOG_FORMAT": "json",
            "FLICKRHUB_DATA_DIR": str(home / "data"),
        }
        hub_env = {
            **base,
            **backends.env(),
            "REDIS_URL": redis_server.url,
            "FLICKRHUB_REDIS_PREFIX": backends.redis_prefix,
            "MONGO_URL": _via(backends.mongo_url, mongo_proxy.port),
            **{name.upper(): url for name, url in sandbox_endpoints(sandbox_url).items()},
            "FLICKRHUB_RETRY_WAIT_INITIAL": "0.05",
            "FLICKRHUB_RETRY_WAIT_MAX": "0.2",
            "FLICKRHUB_RATE_LIMIT_BURST": "1000",
            "FLICKRHUB_CLIENT_RATE_LIMIT_PER_MINUTE": "0",
            # A killed worker's jobs wait this long for its lease (10 s by default).
            "FLICKRHUB_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            "FLICKRHUB_DRAIN_SECONDS": str(DRAIN_SECONDS),
            "FLICKRHUB_SHUTDOWN_GRACE": str(DRAIN_SECONDS),
            "WORKER_CONCURRENCY": str(CONCURRENCY),
            # The tests watch the workers start jobs: `job_started` is logged at debug.
            "FLICKRHUB_LOG_LEVEL": "debug",
            "JOB_RETRY_ATTEMPTS": "3",
            "SAVE_COMPLETED_TO_MONGO": "true",
        }
        sandbox = Proc(
            "sandbox",
            ["sandbox", "--port", str(sandbox_port), "--rate-limit-per-hour", "0"],
            base,
            home,
        )

        def rabbit_url(name: str) -> dict[str, str]:
            # aio-pika reconnects every 5 s by default; 1 s keeps the tests short.
            url = _via(backends.rabbit.url, rabbit_proxies[name].port)
            return {"RABBIT_URL": f"{url}?reconnect_interval=1"}

        api = Proc("api", ["api"], {**hub_env, **rabbit_url("api"), "PORT": str(api_port)}, home)
        workers = {
            name: Proc(name, ["worker"], {**hub_env, **rabbit_url(name)}, home)
            for name in ("w1", "w2")
        }
        running = FaultCluster(
            sandbox=sandbox_url,
            api=f"http://127.0.0.1:{api_port}",
            api_proc=api,
            sandbox_proc=sandbox,
            workers=workers,
            backends=backends,
            rabbit_proxies=rabbit_proxies,
            mongo_proxy=mongo_proxy,
            redis=redis_server,
        )
        for proc in running.procs:
            stack.callback(proc.stop)
        try:
            for proc in running.procs:
                proc.start()
            sandbox.wait_until(lambda: http_ok(f"{sandbox_url}/sandbox/faults"), "up")
            api.wait_until(lambda: http_ok(f"{running.api}/readyz"), "ready")
            for proc in workers.values():
                wait_worker(proc, running.procs)
            running.user = connect_account(running.api)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{running.logs()}") from None
        yield running


@pytest.fixture
def hub(cluster: FaultCluster) -> FaultCluster:
    """The cluster, healed: whatever the last test broke works again."""
    cluster.heal()
    return cluster


@pytest.fixture
def jobs(hub: FaultCluster) -> Iterator[Jobs]:
    client = hub.client()
    try:
        yield client
    finally:
        with contextlib.suppress(httpx.HTTPError):
            client.clear_faults()
        client.close()
