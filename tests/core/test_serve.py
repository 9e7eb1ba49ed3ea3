"""The one HTTP server of every process (:class:`HttpServer`: uvicorn with httptools),
on asyncio's loop and on uvloop, and the CLI's event loop (uvloop)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest
import uvloop
from quart import Quart

from flickrhub_core.cli.app import run_until_stopped
from flickrhub_core.sandbox import SandboxConfig, create_sandbox_app
from flickrhub_core.serve import MAX_HEAD_BYTES, HttpServer, bind_socket
from tests.helpers import raw_http

T = TypeVar("T")
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}
Run = Callable[[Coroutine[Any, Any, T]], T]


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Run[Any]:
    """Runs a scenario on a new event loop of each kind."""

    def run(coro: Coroutine[Any, Any, T]) -> T:
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as runner:
            return runner.run(coro)

    return run


def echo_app(events: list[str]) -> Callable[..., Awaitable[None]]:
    """Answers with the client address; ``/slow`` takes 0.2 s, ``/forever`` never ends.
    Like many bare ASGI apps, it does not speak the lifespan protocol."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        if scope["path"] == "/slow":
            await asyncio.sleep(0.2)
        elif scope["path"] == "/forever":
            events.append("started")
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                events.append("cancelled")
                raise
        body = json.dumps({"client": scope["client"][0]}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def http_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(("uvicorn", "flickrhub.http"))]


def test_answers_with_the_headers_it_had_and_the_peer_as_client(
    run: Run[None], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        server = HttpServer(echo_app([]), bind_socket("127.0.0.1", 0))
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=server.url) as client:
                response = await client.get("/", headers={"X-Forwarded-For": "203.0.113.9"})
        finally:
            await server.stop()
        assert response.status_code == 200
        # X-Forwarded-For is not trusted (as before): the client is the peer.
        assert response.json() == {"client": "127.0.0.1"}
        assert "date" in response.headers
        assert "server" not in response.headers

    run(scenario())
    # uvicorn's INFO lines ("Started server process", ...) are not logged, nor printed.
    assert http_records(caplog) == []
    assert capsys.readouterr() == ("", "")


def test_stop_lets_open_requests_finish_and_refuses_new_connections(run: Run[None]) -> None:
    async def scenario() -> None:
        server = HttpServer(echo_app([]), bind_socket("127.0.0.1", 0), grace=5)
        await server.start()
        async with httpx.AsyncClient(base_url=server.url) as client:
            slow = asyncio.create_task(client.get("/slow"))
            await asyncio.sleep(0.05)
            stopping = asyncio.create_task(server.stop())
            await asyncio.sleep(0.05)
            async with httpx.AsyncClient(base_url=server.url) as other:
                with pytest.raises(httpx.ConnectError):
                    await other.get("/")
            assert (await slow).status_code == 200
            await asyncio.wait_for(stopping, 2)  # once the request is answered, not 5 s

    run(scenario())


def test_requests_past_the_grace_are_cut_and_cancelled_quietly(
    run: Run[None], caplog: pytest.LogCaptureFixture
) -> None:
    events: list[str] = []

    async def scenario() -> None:
        server = HttpServer(echo_app(events), bind_socket("127.0.0.1", 0), grace=0.2)
        await server.start()
        async with httpx.AsyncClient(base_url=server.url) as client:
            hanging = asyncio.create_task(client.get("/forever"))
            while not events:
                await asyncio.sleep(0.01)
            await asyncio.wait_for(server.stop(), 2)
            # Hung up on, as hypercorn did: no 500 in its place.
            with pytest.raises(httpx.RemoteProtocolError):
                await hanging

    run(scenario())
    assert events == ["started", "cancelled"]
    assert [(r.name, r.levelname, r.getMessage()) for r in http_records(caplog)] == [
        ("flickrhub.http", "WARNING", "1 open request(s) cancelled after the 0.2 s shutdown grace")
    ]


def test_an_app_that_fails_to_start_is_the_error_of_start(run: Run[None]) -> None:
    app = Quart(__name__)

    @app.before_serving
    async def refuse() -> None:
        raise RuntimeError("the store is down")

    async def scenario() -> None:
        sock = bind_socket("127.0.0.1", 0)
        port = sock.getsockname()[1]
        server = HttpServer(app, sock)
        with pytest.raises(RuntimeError, match="the store is down"):
            await server.start()
        await server.stop()  # nothing left to stop, and no second error
        bind_socket("127.0.0.1", port).close()  # the port is free again

    run(scenario())


@pytest.mark.parametrize(
    "chunks",
    [
        [b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * MAX_HEAD_BYTES + b"\r\n\r\n"],
        [b"GET /?q=", *[b"x" * 4096] * 5],  # a head that never ends
    ],
    ids=["whole", "endless"],
)
def test_a_request_head_past_the_limit_is_a_431(run: Run[None], chunks: list[bytes]) -> None:
    async def scenario() -> None:
        server = HttpServer(echo_app([]), bind_socket("127.0.0.1", 0))
        await server.start()
        try:
            answer = await asyncio.to_thread(raw_http, server.url, *chunks)
            assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
            async with httpx.AsyncClient(base_url=server.url) as client:
                assert (await client.get("/")).status_code == 200
        finally:
            await server.stop()

    run(scenario())


def test_a_sandbox_drop_hangs_up_without_an_error_line(
    run: Run[None], caplog: pytest.LogCaptureFixture
) -> None:
    config = SandboxConfig(drop_rate=1.0)

    async def scenario() -> None:
        server = HttpServer(create_sandbox_app(config), bind_socket("127.0.0.1", 0))
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=server.url) as client:
                with pytest.raises(httpx.RemoteProtocolError):
                    await client.get(
                        "/services/rest/",
                        params={"method": "flickr.test.echo", "api_key": config.demo_consumer[0]},
                    )
        finally:
            await server.stop()

    run(scenario())
    assert http_records(caplog) == []


def test_the_long_running_commands_run_on_uvloop_and_keep_their_signals() -> None:
    """``run_until_stopped`` (``flickrhub run``/``api``/``worker``/``sandbox``): uvloop,
    and a SIGINT while serving sets ``stop`` (uvicorn installs no handlers of its own)."""
    seen: dict[str, Any] = {}

    async def main(stop: asyncio.Event) -> None:
        seen["loop"] = type(asyncio.get_running_loop())
        before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        server = HttpServer(echo_app([]), bind_socket("127.0.0.1", 0))
        await server.start()
        try:
            seen["handlers kept"] = before == (
                signal.getsignal(signal.SIGINT),
                signal.getsignal(signal.SIGTERM),
            )
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.wait_for(stop.wait(), 5)
            async with httpx.AsyncClient(base_url=server.url) as client:
                seen["status"] = (await client.get("/")).status_code
        finally:
            await server.stop()

    run_until_stopped(main)
    assert seen == {"loop": uvloop.Loop, "handlers kept": True, "status": 200}
