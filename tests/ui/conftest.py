"""Fixtures of the web UI's tests: an app over an in-memory runtime (unit tests),
and for the browser tests the real ``flickrhub run`` process and Debian's Chromium
driven by Playwright (never a downloaded browser: ``playwright install`` is not used).

Without Chromium or Playwright the browser tests are skipped, except under CI
(``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol

from flickrhub_api import create_app
from flickrhub_core.runtime import Runtime
from tests.e2e.conftest import Running, start_flickrhub, stop_flickrhub

Client = TestClientProtocol

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Where the screenshots the docs show are written (with FLICKRHUB_UPDATE_SCREENSHOTS=1).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


# --- unit tests: the app in-process -------------------------------------------------------


@pytest.fixture
def rt(make_runtime: Any) -> Runtime:
    runtime: Runtime = make_runtime()
    return runtime


@pytest.fixture
async def app(rt: Runtime) -> AsyncIterator[Quart]:
    app = create_app(rt)
    async with app.test_app():
        yield app


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()


# --- browser tests --------------------------------------------------------------------------


def chromium_path() -> str:
    """Debian's Chromium; a missing one skips the test, or fails it under CI."""
    path = os.environ.get("FLICKRHUB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    problem = None
    if not Path(path).exists():
        problem = f"no Chromium at {path} (apt-get install -y chromium)"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed (uv sync installs the dev group)"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests need Chromium under CI: {problem}")
        pytest.skip(problem)
    return path


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    chromium_path()  # no process to start when the browser is missing
    tmp = tmp_path_factory.mktemp("ui")
    running = start_flickrhub(tmp, tmp / "data")
    try:
        yield running
    finally:
        stop_flickrhub(running)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    executable = chromium_path()
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
async def page(browser: Any, hub: Running) -> AsyncIterator[Any]:
    """A page whose script errors and CSP violations fail the test (pages answered
    with an error status on purpose, such as a refused form, are not counted)."""
    context = await browser.new_context(viewport=VIEWPORT, color_scheme="light")
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=hub.api)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        yield page
    finally:
        await context.close()
    # CSP violations and script errors show up in the console.
    assert not problems, problems


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """``docs/screenshots`` when asked to update them, else a throwaway directory."""
    if os.environ.get("FLICKRHUB_UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path
