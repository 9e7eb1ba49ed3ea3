"""The obs plugin ships log events in batches to a real HTTP receiver."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, request

import flickrhub_obs
from flickrhub_core import logs
from flickrhub_core.flickr import Credentials
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings
from flickrhub_obs import Shipper, obs_body
from tests.helpers import builtin_plugins


class Receiver:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.keys: list[str | None] = []
        self.status = 200
        self.app = Quart("obs")

        @self.app.post("/logs")
        async def logs_route() -> tuple[str, int]:
            self.batches.append(json.loads(await request.get_data()))
            self.keys.append(request.headers.get("X-API-Key"))
            return "", self.status


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    port = free_port()
    stop = asyncio.Event()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    task = asyncio.create_task(serve(rec.app, config, shutdown_trigger=stop.wait))
    await asyncio.sleep(0.3)
    try:
        yield rec, f"http://127.0.0.1:{port}/logs"
    finally:
        stop.set()
        await task


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def test_event_keeps_the_earlier_obs_schema() -> None:
    body = obs_body(
        {"event": "job_completed", "level": "info", "job_id": "j1", "flickr_method": "m"}, "h"
    )
    assert body["event"] == body["message"] == "job_completed"
    assert body["level"] == "INFO"
    assert body["context"] == {"job_id": "j1"}
    assert body["payload"] == {"flickr_method": "m"}
    assert body["schema_version"] == 1
    assert body["host"] == {"hostname": "h"}


async def test_events_arrive_in_batches_with_the_api_key(receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    shipper = Shipper(url, "obs-key", batch_size=10, interval=0.1)
    shipper.start()
    for i in range(25):
        shipper.add({"event": "e", "n": i})
    await wait_for(lambda: sum(len(b) for b in rec.batches) == 25)
    await shipper.close()
    assert max(len(b) for b in rec.batches) <= 10
    assert set(rec.keys) == {"obs-key"}
    assert [e["payload"]["n"] for b in rec.batches for e in b] == list(range(25))


async def test_full_buffer_drops_and_counts() -> None:
    shipper = Shipper("http://127.0.0.1:9/logs", None, max_buffer=3)
    for _ in range(5):
        shipper.add({"event": "e"})
    assert shipper.dropped == 2
    await shipper.close(flush_seconds=0.5)


async def test_events_survive_a_receiver_that_fails_then_recovers(
    receiver: tuple[Receiver, str],
) -> None:
    rec, url = receiver
    rec.status = 503
    shipper = Shipper(url, None, interval=0.05)
    shipper.start()
    for i in range(3):
        shipper.add({"event": "e", "n": i})
    await wait_for(lambda: len(rec.batches) >= 2)  # refused, then tried again
    rec.status = 200
    await wait_for(lambda: shipper.sent == 3)
    await shipper.close()
    assert shipper.dropped == 0
    delivered = rec.batches[-1]
    assert [e["payload"]["n"] for e in delivered] == [0, 1, 2]


async def test_events_beyond_the_buffer_are_dropped_while_the_receiver_fails(
    receiver: tuple[Receiver, str],
) -> None:
    rec, url = receiver
    rec.status = 503
    shipper = Shipper(url, None, interval=0.05, max_buffer=2, batch_size=2)
    shipper.start()
    shipper.add({"event": "e", "n": 0})
    shipper.add({"event": "e", "n": 1})
    await wait_for(lambda: len(rec.batches) >= 1)
    shipper.add({"event": "e", "n": 2})
    rec.status = 200
    await wait_for(lambda: shipper.sent == 2)
    await shipper.close()
    assert shipper.dropped == 1
    assert [e["payload"]["n"] for e in rec.batches[-1]] == [0, 1]


def test_backoff_grows_and_is_capped() -> None:
    shipper = Shipper("http://127.0.0.1:9/logs", None, interval=1.0)
    waits = []
    for failures in (1, 2, 3, 10):
        shipper._failures = failures
        waits.append(shipper.backoff())
    assert 1.0 <= waits[0] <= 2.0
    assert 2.0 <= waits[1] <= 3.0
    assert 4.0 <= waits[2] <= 5.0
    assert waits[3] <= 31.0


async def test_shutdown_flushes_what_is_buffered(receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    shipper = Shipper(url, None, interval=60)
    shipper.start()
    shipper.add({"event": "last words"})
    await shipper.close()
    assert rec.batches[0][0]["event"] == "last words"


async def test_plugin_ships_the_runtimes_log_events(
    receiver: tuple[Receiver, str], settings: Settings
) -> None:
    rec, url = receiver
    logs.configure_logging(fmt="json")
    rt = Runtime.create(
        settings.model_copy(update={"obs_api_url": url}),
        plugins=builtin_plugins(("obs", flickrhub_obs)),
        consumer=Credentials("k", "s"),
    )
    await rt.start()
    logs.get_logger().info("something_happened", job_id="j9", oauth_token_secret="hidden")
    await rt.close()
    events = [e for batch in rec.batches for e in batch]
    shipped = next(e for e in events if e["event"] == "something_happened")
    assert shipped["context"]["job_id"] == "j9"
    assert shipped["payload"]["oauth_token_secret"] == logs.REDACTED


async def test_plugin_is_idle_without_obs_api_url(settings: Settings) -> None:
    rt = Runtime.create(
        settings, plugins=builtin_plugins(("obs", flickrhub_obs)), consumer=Credentials("k", "s")
    )
    await rt.start()
    assert flickrhub_obs._shippers == {}
    await rt.close()
