"""Distributed-mode fixtures: the Flickr sandbox, two ``flickrhub api`` and two
``flickrhub worker`` processes on real RabbitMQ, Redis and a MongoDB wire-protocol
server, each run in a vhost, key prefix and database of its own (see :mod:`.cluster`).

Worker ``worker-rest`` is narrowed twice: ``FLICKRHUB_PLUGINS=rest,redis,mongo`` and
``--target rest``; ``worker-all`` consumes every target. Both APIs run every plugin.
In CI (``CI`` set) a missing service fails these tests; elsewhere they skip.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
)

WORKER_READY = "FlickrHub worker consuming"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing test that used the cluster shows the processes' recent output."""
    report = yield
    cluster = getattr(item, "funcargs", {}).get("cluster")
    if report.failed and isinstance(cluster, Cluster):
        report.sections.append(("flickrhub processes", cluster.logs()))
    return report


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with find_services(tmp_path_factory.mktemp("nx-27017")) as found:
        yield found


@pytest.fixture(scope="module")
def backends(services: Services) -> Iterator[Backends]:
    """A RabbitMQ vhost, Redis prefix and Mongo database for this module, removed after."""
    with isolated(services) as made:
        yield made


@dataclass
class Cluster:
    sandbox: str
    apis: list[str]
    api_procs: list[Proc]
    workers: dict[str, Proc]
    sandbox_proc: Proc
    backends: Backends

    @property
    def procs(self) -> list[Proc]:
        return [self.sandbox_proc, *self.api_procs, *self.workers.values()]

    def logs(self) -> str:
        return logs_of(self.procs)

    def start_worker(self, name: str) -> None:
        proc = self.workers[name]
        proc.start()
        wait_worker(proc, self.procs)


def wait_worker(proc: Proc, everyone: list[Proc]) -> None:
    try:
        proc.wait_until(lambda: WORKER_READY in proc.output(), "consuming")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{logs_of(everyone)}") from None


@pytest.fixture(scope="module")
def cluster(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    home: Path = tmp_path_factory.mktemp("cluster")
    key, secret = make_demo_consumer()
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    base = {
        **clean_environ(),
        "FLICKR_API_KEY": key,
        "FLICKR_API_SECRET": secret,
        "FLICKRHUB_LOG_FORMAT": "json",
        "FLICKRHUB_DATA_DIR": str(home / "data"),
    }
    hub = {
        **base,
        **backends.env(),
        **{name.upper(): url for name, url in sandbox_endpoints(sandbox_url).items()},
        "FLICKRHUB_RETRY_WAIT_INITIAL": "0.05",
        "FLICKRHUB_RETRY_WAIT_MAX": "0.2",
        "FLICKRHUB_RATE_LIMIT_BURST": "1000",
        "FLICKRHUB_CLIENT_RATE_LIMIT_PER_MINUTE": "0",
        "FLICKRHUB_SHUTDOWN_GRACE": "5",
        # The tests watch the workers start jobs: `job_started` is logged at debug.
        "FLICKRHUB_LOG_LEVEL": "debug",
        "JOB_RETRY_ATTEMPTS": "3",
        "SAVE_COMPLETED_TO_MONGO": "true",
    }
    api_ports = [free_port(), free_port()]
    sandbox = Proc(
        "sandbox",
        ["sandbox", "--port", str(sandbox_port), "--rate-limit-per-hour", "0"],
        base,
        home,
    )
    apis = [
        Proc(f"api-{n}", ["api"], {**hub, "PORT": str(port)}, home)
        for n, port in enumerate(api_ports, 1)
    ]
    workers = {
        "worker-rest": Proc(
            "worker-rest",
            ["worker", "--target", "rest"],
            {**hub, "FLICKRHUB_PLUGINS": "rest,redis,mongo"},
            home,
        ),
        "worker-all": Proc("worker-all", ["worker"], hub, home),
    }
    running = Cluster(
        sandbox=sandbox_url,
        apis=[f"http://127.0.0.1:{port}" for port in api_ports],
        api_procs=apis,
        workers=workers,
        sandbox_proc=sandbox,
        backends=backends,
    )
    with contextlib.ExitStack() as stack:
        for proc in running.procs:
            stack.callback(proc.stop)
        try:
            # All at once: starting Python processes is what takes the time here.
            for proc in running.procs:
                proc.start()
            sandbox.wait_until(lambda: http_ok(f"{sandbox_url}/sandbox/faults"), "up")
            for proc, url in zip(apis, running.apis, strict=True):
                proc.wait_until(lambda url=url: http_ok(f"{url}/readyz"), "ready")
            for proc in workers.values():
                wait_worker(proc, running.procs)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{running.logs()}") from None
        yield running
