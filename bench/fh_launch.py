"""Start the ``flickrhub`` CLI, optionally with another httpx transport behind the
Flickr client (the product code is not changed; this only wraps its constructor).

``BENCH_HTTPX_TRANSPORT``: ``default`` (httpx's own) or ``aiohttp`` (httpx-aiohttp's
``AiohttpTransport``, keeping httpx's API).
``BENCH_PROFILE``: a path: run under cProfile and dump stats there on exit.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _patch_transport() -> None:
    from flickrhub_core import runtime
    from flickrhub_core.flickr.client import FlickrClient

    class AiohttpBackedClient(FlickrClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            from httpx_aiohttp import AiohttpTransport

            kwargs.setdefault("transport", AiohttpTransport())
            super().__init__(*args, **kwargs)

    runtime.FlickrClient = AiohttpBackedClient  # type: ignore[misc]


def main() -> None:
    if os.environ.get("BENCH_HTTPX_TRANSPORT", "default") == "aiohttp":
        _patch_transport()
    from flickrhub_core.cli import cli

    profile = os.environ.get("BENCH_PROFILE")
    if not profile:
        cli(prog_name="flickrhub")
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        cli(prog_name="flickrhub", standalone_mode=False)
    finally:
        profiler.disable()
        profiler.dump_stats(profile)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
