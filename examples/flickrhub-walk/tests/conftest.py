"""A target context for ``walk`` jobs, with progress reports recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import structlog
from fakes import Progress

from flickrhub_core import Job, TargetContext
from flickrhub_core.memory import MemoryBlobStore
from flickrhub_core.settings import Settings


@pytest.fixture
def progress() -> Progress:
    return Progress()


@pytest.fixture
def make_ctx(progress: Progress) -> Callable[..., TargetContext]:
    """A context for a ``walk`` job of ``method`` with ``params``, over ``flickr``."""

    def make(flickr: Any, method: str, params: dict[str, str]) -> TargetContext:
        job = Job(user_id="u1", target="walk", method=method, params=params)
        return TargetContext(
            job=job,
            flickr=flickr,
            blobs=MemoryBlobStore(),
            settings=Settings(_env_file=None),
            log=structlog.get_logger(),
            report_progress=progress,
        )

    return make
