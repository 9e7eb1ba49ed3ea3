"""Fixtures for the command line: a clean environment and a click runner."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flickrhub_core.cli import cli

#: The built-in plugins; tests name them so installed third-party plugins never load.
BUILTINS = "rest,upload,replace,local"
SETTING_PREFIXES = ("FLICKR", "REDIS_", "RABBIT_", "MONGO_", "OBS_", "PORT", "OAUTH_", "CALLBACK_")


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No FlickrHub settings from this machine and no ``.env``: only what a test sets."""
    for name in list(os.environ):
        if name.upper().startswith(SETTING_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLICKRHUB_PLUGINS", BUILTINS)
    monkeypatch.setenv("FLICKRHUB_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


Invoke = Callable[..., Result]


@pytest.fixture
def invoke(clean_env: Path) -> Invoke:
    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, input=input)

    return run
