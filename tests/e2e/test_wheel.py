"""The built wheel installs into a clean virtual environment and runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import start_flickrhub, stop_flickrhub
from tests.e2e.helpers import call, connect_account

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]


def test_wheel_installs_and_runs_flickrhub(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv, "uv is needed to build the wheel (the README's commands use it)"
    dist = tmp_path / "dist"
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(dist), str(ROOT)], check=True)
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "-p", "3.11", str(venv)], check=True)
    python = venv / "bin" / "python"
    wheels = [str(w) for w in dist.glob("*.whl")]
    subprocess.run([uv, "pip", "install", "-q", "-p", str(python), *wheels], check=True)

    plugins = subprocess.run(
        [venv / "bin" / "flickrhub", "plugins"], check=True, capture_output=True, text=True
    )
    assert {"rest", "upload", "replace", "local"} <= {
        line.split()[0] for line in plugins.stdout.splitlines()[1:]
    }
    running = start_flickrhub(tmp_path, tmp_path / "data", python=str(python))
    try:
        user = connect_account(running.api)
        assert call(running.api, user, "flickr.test.login")["state"] == "completed"
    finally:
        assert stop_flickrhub(running) == 0
