"""The ``flickrhub`` command group and what every command shares.

A :class:`FlickrHubError` (bad settings, an unknown plugin, an API refusal) is
the operator's problem, not a bug: it ends the command with one line on stderr
and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import click
import httpx
import uvloop

from flickrhub_core import __version__
from flickrhub_core.errors import FlickrHubError
from flickrhub_core.logs import configure_logging, get_logger
from flickrhub_core.settings import Settings, load_settings

#: Exit status for "refused": bad settings, broken plugin, API error, unreachable API.
EXIT_ERROR = 2


def fail(message: str) -> None:
    """Print the one-line error and exit with :data:`EXIT_ERROR`."""
    line = " ".join(str(message).split())
    click.echo(f"flickrhub: error: {line}", err=True)
    raise click.exceptions.Exit(EXIT_ERROR)


class FlickrHubGroup(click.Group):
    """Turns the errors an operator can fix into one line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FlickrHubError as exc:
            fail(exc.message)
        except httpx.TransportError as exc:
            url = exc.request.url if _has_request(exc) else "the API"
            fail(f"cannot reach {url}: {exc or type(exc).__name__}")
        return None


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when unset
    except RuntimeError:
        return False
    return True


@click.group(cls=FlickrHubGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flickrhub")
def cli() -> None:
    """FlickrHub: queued, retried, cached, rate-limited Flickr API calls.

    Settings come from the environment and a .env file (see `flickrhub config`).
    """


def settings_of(ctx: click.Context | None = None) -> Settings:
    """The invocation's settings, read once; a bad value ends it with one line."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = load_settings()
    return root.obj


def setup_logging(settings: Settings) -> None:
    configure_logging(
        level=settings.log_level,
        fmt=settings.log_format,
        service=settings.service_name,
        env=settings.service_env,
    )


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The event loop of the long-running commands: uvloop, a cheaper loop (in CPU per
    request and per socket event) than asyncio's own."""
    return uvloop.new_event_loop()


def settle_heap() -> None:
    """Keep what start-up made out of the garbage collector's full collections.

    A started process holds about 100,000 long-lived objects (modules, the app, the
    plugins, the pools), and every full collection walks them all: in an API at 500
    requests/s that was a pause of up to 100 ms every few seconds, the tail of its
    latency (docs/performance.md). Once the process serves they are collected one
    last time and frozen (:func:`gc.freeze`), so later full collections walk only what
    requests and jobs made.
    """
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    get_logger().info(
        "gc_frozen",
        objects=gc.get_freeze_count(),
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def run_until_stopped(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` in a new event loop (:func:`new_event_loop`); SIGINT and
    SIGTERM set ``stop``.

    The first signal removes the handlers again, so a second Ctrl-C interrupts a
    shutdown that hangs.
    """

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        signals = (signal.SIGINT, signal.SIGTERM)

        def on_signal() -> None:
            stop.set()
            for sig in signals:
                loop.remove_signal_handler(sig)

        for sig in signals:
            loop.add_signal_handler(sig, on_signal)
        try:
            await main(stop)
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    with asyncio.Runner(loop_factory=new_event_loop) as loop_runner:
        loop_runner.run(runner())
