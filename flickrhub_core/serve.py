"""Running FlickrHub's processes: the embedded all-in-one mode, the API, the worker
host and the Flickr sandbox.

These are plain coroutines so tests drive them in-process, without click: each
starts its parts, calls ``ready`` once everything accepts work, waits for ``stop``
and then shuts down in order (stop accepting HTTP, drain the worker, close the
runtime, stop the sandbox). The CLI sets ``stop`` from SIGINT/SIGTERM.

Every HTTP server (the API, a worker's metrics, the sandbox) is an
:class:`HttpServer`: uvicorn with the httptools HTTP/1.1 parser, in the running event
loop (uvloop under the CLI). Servers listen on sockets bound here, before anything
starts: port 0 picks a free port that is known before ``ready`` is called, and a port
in use is a one-line :class:`ConfigError` instead of a traceback from deep inside the
HTTP server.

Without ``FLICKRHUB_API_KEYS`` the API authenticates nobody, so it serves only on a
loopback address (:func:`check_api_exposure`) and says so once at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from uvicorn.lifespan.on import LifespanOn, LifespanSendMessage
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from flickrhub_core.errors import ConfigError
from flickrhub_core.flickr import Credentials
from flickrhub_core.jobs import DLQ
from flickrhub_core.metrics_server import metrics_app
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings
from flickrhub_core.worker.host import WorkerHost

if TYPE_CHECKING:
    from flickrhub_core.sandbox import SandboxConfig

__all__ = [
    "SANDBOX_CONSUMER_FILE",
    "SANDBOX_STATE_FILE",
    "HttpServer",
    "Urls",
    "bind_socket",
    "check_api_exposure",
    "http_url",
    "is_loopback",
    "local_url",
    "run_api",
    "run_embedded",
    "run_sandbox",
    "run_worker",
    "sandbox_consumer",
    "sandbox_endpoints",
    "sandbox_settings",
]

SANDBOX_CONSUMER_FILE = "sandbox-consumer.json"
SANDBOX_STATE_FILE = "sandbox-state.json"
#: Seconds the HTTP server lets open requests (long polls included) finish at shutdown.
HTTP_GRACE = 3.0
#: Bytes of a request line and headers the server reads before it answers 431 (h11's
#: limit, which hypercorn, FlickrHub's earlier server, enforced).
MAX_HEAD_BYTES = 16 * 1024
#: Connections waiting to be accepted: the ``listen`` backlog of every server socket.
LISTEN_BACKLOG = 1024
#: Seconds a connection refused with 431 is still read (and dropped) before it closes.
_LINGER_SECONDS = 2.0


@dataclass(frozen=True)
class Urls:
    """Where the started parts can be reached; what ``flickrhub run`` prints."""

    api: str | None = None
    docs: str | None = None
    sandbox: str | None = None
    sandbox_consumer_key: str | None = None
    data_dir: Path | None = None
    #: A worker's Prometheus endpoint (``--metrics-port``).
    metrics: str | None = None


Ready = Callable[[Urls], None]


# --- sockets and HTTP serving ---------------------------------------------------------


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, type_, proto, _, address = infos[0]
    sock = socket.socket(family, type_, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a wildcard ("") or a host name: may be reachable from elsewhere


def check_api_exposure(settings: Settings) -> str | None:
    """Refuse to serve the API unauthenticated beyond this machine.

    Without API keys, a non-loopback ``FLICKRHUB_HOST`` is a :class:`ConfigError`;
    on loopback the answer is the one line to log at start. With keys: None.
    """
    keys = settings.api_keys.get_secret_value() if settings.api_keys is not None else ""
    if keys.strip():
        return None
    if not is_loopback(settings.host):
        raise ConfigError(
            f"FLICKRHUB_HOST={settings.host} without FLICKRHUB_API_KEYS: refusing to serve "
            "unauthenticated on a non-loopback address"
        )
    return (
        f"no FLICKRHUB_API_KEYS: the API is unauthenticated and listens on "
        f"{settings.host} (loopback) only"
    )


def local_url(host: str, port: int) -> str:
    """The URL a client on this machine uses for ``host:port`` (a wildcard → loopback)."""
    if host in ("0.0.0.0", ""):  # noqa: S104 - naming the wildcard, not binding it
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def http_url(sock: socket.socket) -> str:
    """The URL a client on this machine uses for the listening ``sock``."""
    host, port = sock.getsockname()[:2]
    return local_url(host, port)


class _HeadLimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering 431 to a request head longer than
    :data:`MAX_HEAD_BYTES` (httptools itself buffers a head of any size)."""

    _in_head = False
    _head_bytes = 0
    _refused = False

    def on_message_begin(self) -> None:
        if self._refused:
            return  # the rest of what a refused connection sent is ignored
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_head = False
        # A head that arrived whole (data_received counts only heads still incomplete).
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > MAX_HEAD_BYTES:
            self._refuse_head()
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # read and dropped until the client closes (see _refuse_head)
        super().data_received(data)
        if not self._in_head or self._refused or self.transport.is_closing():
            return
        # A head still incomplete: counts the whole chunk it began in (one chunk too many
        # at most), so an endless head is refused without being buffered.
        self._head_bytes += len(data)
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse_head()

    def _refuse_head(self) -> None:
        self._refused = True
        self._in_head = False
        body = b"Request Header Fields Too Large"
        head = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        # Half-close and read on: closing with the rest of the head unread would reset
        # the connection, which can destroy the answer before the client reads it.
        self.transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, self.transport.close)


class _Lifespan(LifespanOn):
    """uvicorn's lifespan protocol, keeping why the app refused to start."""

    failure = ""

    async def send(self, message: LifespanSendMessage) -> None:
        if message["type"] == "lifespan.startup.failed":
            self.failure = str(dict(message).get("message") or "")
        await super().send(message)


class _Server(uvicorn.Server):
    """uvicorn's server, embedded in a process that owns its signals and shutdown."""

    def __init__(self, config: uvicorn.Config, grace: float) -> None:
        super().__init__(config)
        config.load()
        config.lifespan_class = _Lifespan
        self.grace = grace
        self.listening = asyncio.Event()
        self._exit = asyncio.Event()

    def request_exit(self) -> None:
        self.should_exit = True
        self._exit.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would put its own SIGINT/SIGTERM handlers in place while serving (with
        # signal.signal, over the event loop's) and raise the signal again after. The
        # process's handlers stay in charge instead (run_until_stopped sets ``stop``),
        # and HttpServer.stop() ends serving.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        except SystemExit:  # uvicorn's answer to a failed lifespan startup
            reason = getattr(self.lifespan, "failure", "") or "lifespan startup failed"
            raise RuntimeError(f"the HTTP app did not start: {reason}") from None
        self.listening.set()

    async def main_loop(self) -> None:
        # uvicorn's loop, woken by request_exit() instead of noticing within 0.1 s.
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await self._exit.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting, let open requests finish within the grace, then hang up on
        the rest and cancel them (as hypercorn did: no 500, no error per request)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle ones close; busy ones close after their response
        tasks = set(self.server_state.tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.grace)
            if pending:
                _http_log().warning(
                    "%d open request(s) cancelled after the %g s shutdown grace",
                    len(pending),
                    self.grace,
                )
                for connection in list(self.server_state.connections):
                    cycle = getattr(connection, "cycle", None)
                    if cycle is not None and not cycle.response_complete:
                        cycle.disconnected = True  # nothing more is written to it
                        connection.transport.close()
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending)
        # Connections still sending a last response: until the grace ends (uvloop's
        # wait_closed waits for every connection), then they are cut.
        closed = asyncio.gather(*(server.wait_closed() for server in self.servers))
        try:
            await asyncio.wait_for(closed, max(deadline - loop.time(), 0))
        except TimeoutError:
            for connection in list(self.server_state.connections):
                connection.transport.abort()
        await self.lifespan.shutdown()


class _AsHttpLog(logging.Filter):
    """Renames uvicorn's records ``flickrhub.http`` (see :func:`_http_log`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            return False  # a request cancelled at shutdown: counted in one warning instead
        record.name = "flickrhub.http"
        return True


_AS_HTTP_LOG = _AsHttpLog()


def _http_log() -> logging.Logger:
    """uvicorn's own messages: warnings and errors only, rendered (and redacted) as
    every other line by the root handler :func:`flickrhub_core.logs.configure_logging`
    installs, with ``logger`` ``flickrhub.http``; its INFO lines ("Started server
    process", "Application startup complete") are not logged."""
    logging.getLogger("uvicorn").setLevel(logging.WARNING)
    for name in ("uvicorn.error", "uvicorn.asgi"):
        logging.getLogger(name).addFilter(_AS_HTTP_LOG)  # addFilter skips a duplicate
    logger = logging.getLogger("flickrhub.http")
    logger.setLevel(logging.WARNING)
    return logger


def _uvicorn_config(app: Any) -> uvicorn.Config:
    _http_log()
    return uvicorn.Config(
        app,
        loop="none",  # the running loop (uvloop in the CLI's processes)
        http=_HeadLimitedProtocol,  # httptools
        lifespan="auto",  # Quart's startup/shutdown; apps without lifespan still serve
        log_config=None,
        log_level="warning",
        access_log=False,
        # hypercorn neither trusted X-Forwarded-For nor does this: scope["client"] is the peer.
        proxy_headers=False,
        server_header=False,  # no "server: uvicorn" (hypercorn's "server" went with it)
        date_header=True,
        backlog=LISTEN_BACKLOG,
    )


class HttpServer:
    """One ASGI app served by uvicorn (the httptools HTTP/1.1 parser) on a socket from
    :func:`bind_socket`, in the running event loop."""

    def __init__(self, app: Any, sock: socket.socket, *, grace: float = HTTP_GRACE) -> None:
        self.app = app
        self.url = http_url(sock)
        self._sock: socket.socket | None = sock
        self._server = _Server(_uvicorn_config(app), grace)
        self._task: asyncio.Task[None] | None = None

    async def _serve(self, sock: socket.socket) -> None:
        try:
            await self._server.serve(sockets=[sock])
        finally:
            sock.close()

    async def start(self) -> None:
        """Serve in a task; return once requests are answered (or raise why not)."""
        assert self._sock is not None, "HttpServer.start() called twice"
        sock, self._sock = self._sock, None
        task = self._task = asyncio.create_task(self._serve(sock))
        listening = asyncio.create_task(self._server.listening.wait())
        try:
            await asyncio.wait({task, listening}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            listening.cancel()
        if task.done():
            self._task = None  # stop() has nothing left to wait for
            task.result()  # raises the reason it stopped
            raise RuntimeError("the HTTP server stopped during start")

    async def stop(self) -> None:
        """Stop accepting, let open requests finish (up to ``grace``, by default
        :data:`HTTP_GRACE` s), then cut and cancel the rest."""
        if self._sock is not None:  # never started
            self._sock.close()
            self._sock = None
        if self._task is None:
            return
        self._server.request_exit()
        await self._task


# --- the sandbox ------------------------------------------------------------------------


def sandbox_consumer(data_dir: Path) -> tuple[str, str]:
    """The embedded sandbox's consumer pair, made once and kept in the data dir.

    Access tokens are issued for one consumer key, so a new pair on every start
    would orphan every stored token.
    """
    from flickrhub_core.sandbox import make_demo_consumer

    path = data_dir / SANDBOX_CONSUMER_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return str(data["key"]), str(data["secret"])
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(
            f"{path} is not a sandbox consumer file: delete it to make a new pair"
        ) from None
    key, secret = make_demo_consumer()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"key": key, "secret": secret}, out)
    return key, secret


def sandbox_endpoints(base_url: str) -> dict[str, str]:
    """The Flickr endpoint settings (by field name) of a sandbox at ``base_url``."""
    return {
        "flickr_rest_url": f"{base_url}/services/rest/",
        "flickr_upload_url": f"{base_url}/services/upload/",
        "flickr_replace_url": f"{base_url}/services/replace/",
        "flickr_oauth_url": f"{base_url}/services/oauth",
    }


def sandbox_settings(settings: Settings, base_url: str) -> Settings:
    """``settings`` with every Flickr endpoint pointing at the sandbox at ``base_url``."""
    return settings.model_copy(update=sandbox_endpoints(base_url))


def _embedded_sandbox(settings: Settings) -> tuple[HttpServer, Credentials]:
    """The sandbox of ``flickrhub run`` (not started yet) and its consumer pair."""
    from flickrhub_core.sandbox import SandboxConfig, create_sandbox_app

    key, secret = sandbox_consumer(settings.data_dir)
    config = SandboxConfig(
        consumers={key: secret},
        max_upload_bytes=settings.max_upload_bytes,
        # The sandbox's users and tokens must outlive a restart, as the stored tokens do.
        state_path=settings.data_dir / SANDBOX_STATE_FILE,
    )
    app = create_sandbox_app(config)
    return HttpServer(app, bind_socket("127.0.0.1", settings.sandbox_port)), Credentials(
        key, secret
    )


async def run_sandbox(
    config: SandboxConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ready: Ready | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve the Flickr simulator alone until ``stop`` is set."""
    from flickrhub_core.sandbox import create_sandbox_app

    server = HttpServer(create_sandbox_app(config), bind_socket(host, port))
    await server.start()
    try:
        if ready is not None:
            key, _ = config.demo_consumer
            ready(Urls(sandbox=server.url, sandbox_consumer_key=key))
        await _wait(stop)
    finally:
        await server.stop()


# --- FlickrHub processes ------------------------------------------------------------


def _api_app(runtime: Runtime) -> Any:
    from flickrhub_api import create_app

    return create_app(runtime, manage_runtime=False)


async def _started_runtime(stack: AsyncExitStack, runtime: Runtime) -> Runtime:
    await runtime.start()
    stack.push_async_callback(runtime.close)
    return runtime


async def _started_server(stack: AsyncExitStack, app: Any, sock: socket.socket) -> HttpServer:
    server = HttpServer(app, sock)
    stack.push_async_callback(server.stop)
    await server.start()
    return server


async def _started_worker(stack: AsyncExitStack, host: WorkerHost) -> WorkerHost:
    await host.start()
    stack.push_async_callback(host.stop, host.rt.settings.drain_seconds)
    return host


async def run_embedded(
    settings: Settings,
    *,
    ready: Ready | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """API, worker host and (without ``FLICKR_API_KEY``) the sandbox in one process.

    Shutdown runs in reverse start order: the API stops accepting first, then the
    worker drains, then the runtime closes, and the sandbox stops last so jobs still
    running during the drain can reach it.
    """
    unauthenticated = check_api_exposure(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    async with AsyncExitStack() as stack:
        sandbox: HttpServer | None = None
        consumer: Credentials | None = None
        if not settings.uses_real_flickr:
            sandbox, consumer = _embedded_sandbox(settings)
            stack.push_async_callback(sandbox.stop)
            settings = sandbox_settings(settings, sandbox.url)
        runtime = Runtime.create(settings, role="embedded", consumer=consumer)
        app = _api_app(runtime)  # bad API settings refuse before anything starts
        api_sock = bind_socket(settings.host, settings.port)
        stack.callback(api_sock.close)
        # The exit stack unwinds in reverse start order, which is the shutdown order.
        if sandbox is not None:
            await sandbox.start()
        await _started_runtime(stack, runtime)
        await _started_worker(stack, WorkerHost(runtime))
        api = await _started_server(stack, app, api_sock)
        if unauthenticated:
            runtime.log.warning("api_unauthenticated", detail=unauthenticated)
        if ready is not None:
            ready(
                Urls(
                    api=api.url,
                    docs=f"{api.url}/docs",
                    sandbox=sandbox.url if sandbox else None,
                    sandbox_consumer_key=consumer.consumer_key if consumer else None,
                    data_dir=settings.data_dir.resolve(),
                )
            )
        runtime.log.info("flickrhub_ready", api=api.url, sandbox=sandbox and sandbox.url)
        await _wait(stop)
        runtime.log.info("flickrhub_stopping")


async def run_api(
    settings: Settings,
    *,
    ready: Ready | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """The API alone (role ``api``): needs a shared broker and stores."""
    unauthenticated = check_api_exposure(settings)
    async with AsyncExitStack() as stack:
        runtime = Runtime.create(settings, role="api")
        app = _api_app(runtime)  # bad API settings refuse before anything starts
        sock = bind_socket(settings.host, settings.port)
        stack.callback(sock.close)
        await _started_runtime(stack, runtime)
        api = await _started_server(stack, app, sock)
        if unauthenticated:
            runtime.log.warning("api_unauthenticated", detail=unauthenticated)
        if ready is not None:
            ready(Urls(api=api.url, docs=f"{api.url}/docs"))
        runtime.log.info("api_ready", api=api.url)
        await _wait(stop)


async def run_worker(
    settings: Settings,
    targets: list[str] | None = None,
    concurrency: int | None = None,
    *,
    metrics_port: int | None = None,
    ready: Ready | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """The worker host alone (role ``worker``), consuming ``targets`` (default: all).

    With a metrics port (``metrics_port``, else ``FLICKRHUB_WORKER_METRICS_PORT``;
    0: none) it also serves Prometheus ``/metrics`` and ``/healthz`` on
    ``FLICKRHUB_HOST``; that server stops last, so the drain can still be watched.
    """
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    async with AsyncExitStack() as stack:
        runtime = Runtime.create(settings, role="worker")
        # An unknown target refuses here, before anything connects.
        host = WorkerHost(runtime, targets or None, concurrency=concurrency)
        metrics_url: str | None = None
        if port:
            sock = bind_socket(settings.host, port)
            stack.callback(sock.close)
            queues = [runtime.targets[name].queue for name in host.target_names] + [DLQ]
            server = await _started_server(stack, metrics_app(runtime.broker, queues), sock)
            metrics_url = f"{server.url}/metrics"
        await _started_runtime(stack, runtime)
        await _started_worker(stack, host)
        if metrics_url is not None:
            runtime.log.info("metrics_server_started", url=metrics_url)
        if ready is not None:
            ready(Urls(metrics=metrics_url))
        await _wait(stop)


async def _wait(stop: asyncio.Event | None) -> None:
    await (stop or asyncio.Event()).wait()
