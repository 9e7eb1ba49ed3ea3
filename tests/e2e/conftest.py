"""End-to-end fixtures: the real ``flickrhub run`` process on loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    api: str
    sandbox: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_flickrhub(
    tmp: Path, data_dir: Path, *, python: str = sys.executable, **env: str
) -> Running:
    """Start ``flickrhub run`` with ``python`` and wait until its API answers /healthz."""
    port, sandbox_port = free_port(), free_port()
    log = tmp / f"flickrhub-{port}.log"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FLICKR", "PORT"))},
        "PORT": str(port),
        "FLICKRHUB_SANDBOX_PORT": str(sandbox_port),
        "FLICKRHUB_DATA_DIR": str(data_dir),
        "FLICKRHUB_LOG_FORMAT": "json",
        "FLICKRHUB_RETRY_WAIT_INITIAL": "0.05",
        "FLICKRHUB_RETRY_WAIT_MAX": "0.2",
        "FLICKRHUB_RATE_LIMIT_BURST": "100",
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [python, "-m", "flickrhub_core.cli", "run"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=tmp,
        )
    running = Running(
        f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}", data_dir, process, log
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"flickrhub run exited early:\n{running.output()}")
        try:
            if httpx.get(f"{running.api}/healthz", timeout=1).status_code == 200:
                return running
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_flickrhub(running)
    raise AssertionError(f"flickrhub run did not start:\n{running.output()}")


def stop_flickrhub(running: Running) -> int:
    if running.process.poll() is None:
        running.process.send_signal(signal.SIGINT)
        try:
            return running.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()
            raise
    return running.process.returncode


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("e2e")
    running = start_flickrhub(tmp, tmp / "data")
    try:
        yield running
    finally:
        stop_flickrhub(running)
