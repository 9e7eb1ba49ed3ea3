"""The real `flickrhub run` process, driven by the real client commands, as a user
would: connect an account, call a method, upload a photo, Ctrl-C, start again."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cli.images import gray_jpeg

pytestmark = pytest.mark.e2e

FLICKRHUB = [sys.executable, "-m", "flickrhub_core.cli"]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@dataclass
class Running:
    process: subprocess.Popen[str]
    api: str
    stdout: list[str]


def env_for(clean_env: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PORT="0",
        FLICKRHUB_SANDBOX_PORT="0",
        FLICKRHUB_LOG_FORMAT="json",
        FLICKRHUB_SHUTDOWN_GRACE="2",
        PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def flickrhub_run(env: dict[str, str], cwd: Path, log: Path) -> Iterator[Running]:
    """Start `flickrhub run`, read the API URL it prints, wait for /healthz."""
    with log.open("a") as stderr:
        process = subprocess.Popen(
            [*FLICKRHUB, "run"], stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=cwd
        )
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not seen or not seen[-1].startswith("Press Ctrl-C"):
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            assert line is not None, f"flickrhub run exited: {log.read_text()}"
            seen.append(line)
        api = next(line.split()[-1] for line in seen if line.strip().startswith("API:"))
        assert httpx.get(f"{api}/healthz", timeout=5).status_code == 200
        yield Running(process, api, seen)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def flickrhub(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FLICKRHUB, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60
    )


def interrupt(running: Running) -> int:
    """Ctrl-C; the exit status, which must come within STOP_TIMEOUT."""
    running.process.send_signal(signal.SIGINT)
    return running.process.wait(timeout=STOP_TIMEOUT)


def test_run_auth_call_upload_then_ctrl_c(clean_env: Path) -> None:
    env, cwd, log = env_for(clean_env), clean_env, clean_env / "run.log"
    with flickrhub_run(env, cwd, log) as running:
        printed = "\n".join(running.stdout)
        assert "Sandbox:" in printed
        api = ["--api", running.api]

        auth = flickrhub("auth", "--approve-sandbox", *api, env=env, cwd=cwd)
        assert auth.returncode == 0, auth.stderr
        user_id = auth.stdout.strip()
        assert len(user_id) == 36, auth.stdout

        echo = flickrhub(
            "call",
            "flickr.test.echo",
            "foo=bar",
            "--user",
            user_id,
            "--wait",
            *api,
            env=env,
            cwd=cwd,
        )
        assert echo.returncode == 0, echo.stderr
        assert json.loads(echo.stdout)["foo"]["_content"] == "bar"
        assert "completed" in echo.stderr

        photo = clean_env / "gray.jpg"
        photo.write_bytes(gray_jpeg())
        upload = flickrhub(
            "upload",
            str(photo),
            "--user",
            user_id,
            "--title",
            "Gray",
            "--wait",
            *api,
            env=env,
            cwd=cwd,
        )
        assert upload.returncode == 0, upload.stderr
        assert "Uploading gray.jpg" in upload.stderr
        photo_id = json.loads(upload.stdout)["photoid"]["_content"]

        info = flickrhub(
            "call",
            "flickr.photos.getInfo",
            f"photo_id={photo_id}",
            "--user",
            user_id,
            "--wait",
            *api,
            env=env,
            cwd=cwd,
        )
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["photo"]["title"]["_content"] == "Gray"

        failed = flickrhub(
            "call",
            "flickr.photos.getInfo",
            "photo_id=1",
            "--user",
            user_id,
            "--wait",
            *api,
            env=env,
            cwd=cwd,
        )
        assert failed.returncode == 1, failed.stderr

        assert interrupt(running) == 0, log.read_text()


def test_a_restarted_run_keeps_the_user(clean_env: Path) -> None:
    env, cwd, log = env_for(clean_env), clean_env, clean_env / "run.log"
    with flickrhub_run(env, cwd, log) as running:
        auth = flickrhub("auth", "--approve-sandbox", "--api", running.api, env=env, cwd=cwd)
        assert auth.returncode == 0, auth.stderr
        user_id = auth.stdout.strip()
        assert interrupt(running) == 0
    with flickrhub_run(env, cwd, log) as running:
        login = flickrhub(
            "call",
            "flickr.test.login",
            "--user",
            user_id,
            "--wait",
            "--api",
            running.api,
            env=env,
            cwd=cwd,
        )
        assert login.returncode == 0, login.stderr + log.read_text()[-3000:]
        assert interrupt(running) == 0


def test_run_freezes_what_start_up_made_once_it_serves(clean_env: Path) -> None:
    env, cwd, log = env_for(clean_env), clean_env, clean_env / "run.log"
    with flickrhub_run(env, cwd, log) as running:
        assert interrupt(running) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    frozen = [line for line in lines if line["event"] == "gc_frozen"]
    assert len(frozen) == 1
    # Modules, app, plugins and pools: tens of thousands of objects, out of full collections.
    assert frozen[0]["objects"] > 10_000
