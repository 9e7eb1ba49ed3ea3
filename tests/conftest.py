"""Shared fixtures: runtimes built from explicit plugin lists (never auto-loaded)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flickrhub_core import logs
from flickrhub_core.flickr import Credentials
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings, load_settings
from tests.helpers import builtin_plugins


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        FLICKRHUB_DATA_DIR=tmp_path / "data",
        FLICKRHUB_RETRY_WAIT_INITIAL=0.01,
        FLICKRHUB_RETRY_WAIT_MAX=0.05,
        FLICKR_RATE_LIMIT_PER_HOUR=0,
        RABBIT_URL=None,  # in-memory broker even when RABBIT_URL is set for tests/rabbitmq
    )


@pytest.fixture
def make_runtime(settings: Settings) -> Callable[..., Runtime]:
    def make(*extra: tuple[str, object], **overrides: Any) -> Runtime:
        s = settings.model_copy(update=overrides) if overrides else settings
        return Runtime.create(
            s, plugins=builtin_plugins(*extra), consumer=Credentials("key", "secret")
        )

    return make


@pytest.fixture
async def runtime(make_runtime: Callable[..., Runtime]) -> AsyncIterator[Runtime]:
    rt = make_runtime()
    await rt.start()
    try:
        yield rt
    finally:
        await rt.close()


@pytest.fixture
def lines() -> Iterator[list[dict[str, Any]]]:
    """Every event logged during the test (at debug and up), as plugins' ``log_event``
    sees it: redacted, one dict per line."""
    seen: list[dict[str, Any]] = []
    logs.configure_logging(level="debug", fmt="json")
    logs.add_sink(seen.append)
    yield seen
    logs.clear_sinks()
    logs.reset_logging()
