"""A sandbox on a loopback port in a background thread, for tests with blocking clients.

Blocking Flickr clients (``flickrapi`` uses ``requests``) cannot share an event loop
with the server, so :class:`SandboxServer` runs :func:`serve_sandbox` in its own thread
and loop, waits until the port accepts connections and always shuts it down::

    with SandboxServer(SandboxConfig()) as sandbox:
        key, secret = sandbox.consumer
        requests.get(sandbox.rest_url, params={"method": "flickr.test.echo", "api_key": key})
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType

from quart import Quart

from .app import create_sandbox_app
from .config import SandboxConfig
from .server import serve_sandbox
from .state import EXTENSION_KEY, SandboxState


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class SandboxServer:
    def __init__(
        self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int | None = None
    ) -> None:
        self.config = config if config is not None else SandboxConfig()
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.app: Quart = create_sandbox_app(self.config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"{self.base_url}/services/rest/"

    @property
    def upload_url(self) -> str:
        return f"{self.base_url}/services/upload/"

    @property
    def replace_url(self) -> str:
        return f"{self.base_url}/services/replace/"

    @property
    def oauth_url(self) -> str:
        return f"{self.base_url}/services/oauth"

    @property
    def consumer(self) -> tuple[str, str]:
        return self.config.demo_consumer

    @property
    def state(self) -> SandboxState:
        state: SandboxState = self.app.extensions[EXTENSION_KEY]
        return state

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await serve_sandbox(self.config, self.host, self.port, self._stop.wait, app=self.app)

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by __enter__ if start-up fails
            self._error = exc

    def __enter__(self) -> SandboxServer:
        self._thread = threading.Thread(target=self._run, name="flickr-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"sandbox failed to start: {self._error!r}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.__exit__(None, None, None)
        raise RuntimeError(f"sandbox did not listen on {self.base_url} within 10 s")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
