"""``flickrhub run | api | worker | sandbox``: the long-running processes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import click

from flickrhub_core import serve
from flickrhub_core.cli.app import (
    cli,
    fail,
    run_until_stopped,
    settings_of,
    settle_heap,
    setup_logging,
)
from flickrhub_core.settings import Settings

PORT = click.IntRange(0, 65535)
RATE = click.FloatRange(0.0, 1.0)


def _serve(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    try:
        run_until_stopped(main)
    except OSError as exc:
        # A dependency refused the connection at start (broker, store, ...).
        fail(f"cannot start: {exc}")
    click.echo("Stopped.", err=True)


def _serving(announce: Callable[[serve.Urls], None]) -> Callable[[serve.Urls], None]:
    """The ``ready`` of a long-running command: settle the heap start-up made
    (:func:`settle_heap`), then ``announce`` that the process serves."""

    def ready(urls: serve.Urls) -> None:
        settle_heap()
        announce(urls)

    return ready


def _with_listen(settings: Settings, host: str | None, port: int | None) -> Settings:
    update: dict[str, Any] = {}
    if host is not None:
        update["host"] = host
    if port is not None:
        update["port"] = port
    return settings.model_copy(update=update) if update else settings


def _print_urls(urls: serve.Urls) -> None:
    lines = ["FlickrHub is running."]
    if urls.api:
        lines.append(f"  API:      {urls.api}")
    if urls.docs:
        lines.append(f"  Docs:     {urls.docs}")
    if urls.sandbox:
        lines.append(
            f"  Sandbox:  {urls.sandbox}  (simulated Flickr, consumer key "
            f"{urls.sandbox_consumer_key}; set FLICKR_API_KEY to use flickr.com)"
        )
    if urls.data_dir:
        lines.append(f"  Data:     {urls.data_dir}")
    lines.append("")
    lines.append(f"Connect a Flickr account:  flickrhub auth --api {urls.api}")
    lines.append("Press Ctrl-C to stop.")
    click.echo("\n".join(lines))


listen_host = click.option("--host", default=None, help="Listen address [FLICKRHUB_HOST].")
listen_port = click.option("--port", type=PORT, default=None, help="Listen port [PORT].")


@cli.command()
@listen_host
@listen_port
def run(host: str | None, port: int | None) -> None:
    """Run API, worker and (without FLICKR_API_KEY) the Flickr sandbox in one process.

    Everything stays on this machine: in-memory queue, tokens in FLICKRHUB_DATA_DIR.
    """
    settings = _with_listen(settings_of(), host, port)
    setup_logging(settings)
    _serve(lambda stop: serve.run_embedded(settings, ready=_serving(_print_urls), stop=stop))


@cli.command()
@listen_host
@listen_port
def api(host: str | None, port: int | None) -> None:
    """Run the HTTP API alone (needs RABBIT_URL and REDIS_URL)."""
    settings = _with_listen(settings_of(), host, port)
    setup_logging(settings)

    def ready(urls: serve.Urls) -> None:
        click.echo(f"FlickrHub API on {urls.api} (docs: {urls.docs}). Press Ctrl-C to stop.")

    _serve(lambda stop: serve.run_api(settings, ready=_serving(ready), stop=stop))


@cli.command()
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="NAME",
    help="Consume only this target's queue (repeatable; default: every enabled target).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=None,
    help="Jobs run at once per queue [WORKER_CONCURRENCY].",
)
@click.option(
    "--metrics-port",
    type=PORT,
    default=None,
    help="Serve Prometheus /metrics (and /healthz) on FLICKRHUB_HOST at this port; "
    "0: off [FLICKRHUB_WORKER_METRICS_PORT].",
)
def worker(targets: tuple[str, ...], concurrency: int | None, metrics_port: int | None) -> None:
    """Run a worker host alone (needs RABBIT_URL and REDIS_URL).

    SIGTERM or Ctrl-C drains it: it stops taking jobs and lets running ones finish
    for FLICKRHUB_DRAIN_SECONDS; the rest go back to their queue.
    """
    settings = settings_of()
    setup_logging(settings)

    def ready(urls: serve.Urls) -> None:
        names = ", ".join(targets) if targets else "all targets"
        metrics = f" Metrics on {urls.metrics}." if urls.metrics else ""
        click.echo(f"FlickrHub worker consuming {names}.{metrics} Press Ctrl-C to stop.")

    _serve(
        lambda stop: serve.run_worker(
            settings,
            list(targets) or None,
            concurrency,
            metrics_port=metrics_port,
            ready=_serving(ready),
            stop=stop,
        )
    )


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address.")
@click.option(
    "--port",
    type=PORT,
    default=3001,
    show_default=True,
    envvar="FLICKRHUB_SANDBOX_PORT",
    help="Listen port (0: any free port) [FLICKRHUB_SANDBOX_PORT].",
)
@click.option(
    "--rate-limit-per-hour",
    type=click.IntRange(0),
    default=3600,
    show_default=True,
    help="Requests allowed per consumer key per hour (0: no limit).",
)
@click.option(
    "--rate-limit-window",
    type=click.FloatRange(0, 86_400, min_open=True),
    default=3600.0,
    show_default=True,
    metavar="SECONDS",
    help="The rolling window --rate-limit-per-hour counts over (shorter: 429s that end soon).",
)
@click.option("--latency-ms", type=click.IntRange(0, 600_000), default=0, show_default=True)
@click.option("--error-rate-5xx", type=RATE, default=0.0, show_default=True)
@click.option(
    "--error-rate-105", type=RATE, default=0.0, show_default=True, help='Rate of "stat: fail" 105.'
)
@click.option("--drop-rate", type=RATE, default=0.0, show_default=True, help="Dropped connections.")
@click.option("--seed", type=int, default=None, help="Make faults and ids reproducible.")
def sandbox(
    host: str,
    port: int,
    rate_limit_per_hour: int,
    rate_limit_window: float,
    latency_ms: int,
    error_rate_5xx: float,
    error_rate_105: float,
    drop_rate: float,
    seed: int | None,
) -> None:
    """Run the Flickr simulator alone.

    It accepts the consumer pair from FLICKR_API_KEY/FLICKR_API_SECRET, or makes up
    a demo pair and prints it.
    """
    from flickrhub_core.sandbox import SandboxConfig, make_demo_consumer

    settings = settings_of()
    setup_logging(settings)
    made_up = not (settings.flickr_api_key and settings.flickr_api_secret)
    if settings.flickr_api_key and settings.flickr_api_secret:
        key, secret = settings.flickr_api_key, settings.flickr_api_secret.get_secret_value()
    else:
        key, secret = make_demo_consumer()
    config = SandboxConfig(
        consumers={key: secret},
        rate_limit_per_hour=rate_limit_per_hour,
        rate_limit_window_s=rate_limit_window,
        latency_ms=latency_ms,
        error_rate_5xx=error_rate_5xx,
        error_rate_105=error_rate_105,
        drop_rate=drop_rate,
        seed=seed,
    )

    def ready(urls: serve.Urls) -> None:
        base = urls.sandbox
        lines = [f"Flickr sandbox on {base}", "Point FlickrHub at it with:"]
        lines.append(f"  FLICKR_API_KEY={key}")
        lines.append(f"  FLICKR_API_SECRET={secret}" if made_up else "  FLICKR_API_SECRET=(yours)")
        for name, url in serve.sandbox_endpoints(str(base)).items():
            lines.append(f"  {name.upper()}={url}")
        lines.append("Press Ctrl-C to stop.")
        click.echo("\n".join(lines))

    _serve(
        lambda stop: serve.run_sandbox(
            config, host=host, port=port, ready=_serving(ready), stop=stop
        )
    )
