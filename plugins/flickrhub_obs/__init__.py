"""The ``obs`` plugin: ships every log event to an OBS endpoint, in batches, off the
hot path.

Enabled when ``OBS_API_URL`` is set. ``log_event`` only appends to a bounded
buffer (a full buffer drops the event and counts it); a background task posts
batches as a JSON array with the ``X-API-Key: OBS_API_KEY`` header. A batch OBS
does not take goes back to the front of the buffer and is retried with
exponential backoff and jitter; while OBS stays away the buffer fills and new
events are dropped (and counted) until it comes back. Each event
keeps the earlier system's OBS body: ``schema_version``, ``log_id``,
``timestamp``, ``level``, ``service``, ``environment``, ``kind``, ``category``,
``event``, ``message``, ``context`` (ids), ``payload`` (the rest) and ``host``.
Events were redacted by the core before they reach this plugin.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

import httpx
from prometheus_client import Counter

from flickrhub_core import hookimpl

if TYPE_CHECKING:
    from flickrhub_core.runtime import Runtime

SENT = Counter("flickrhub_obs_events_sent_total", "Log events delivered to OBS")
DROPPED = Counter(
    "flickrhub_obs_events_dropped_total", "Log events dropped (buffer full or OBS failing)"
)
CONTEXT_KEYS = ("request_id", "user_id", "job_id", "queue", "trace_id", "attempt", "target")
#: Longest pause between tries while OBS is failing.
MAX_BACKOFF = 30.0
LEVELS = {
    "debug": "DEBUG",
    "info": "INFO",
    "warning": "WARN",
    "error": "ERROR",
    "critical": "ERROR",
}


def obs_body(event: dict[str, Any], hostname: str) -> dict[str, Any]:
    """One event in the OBS schema the earlier system used."""
    event = dict(event)
    name = str(event.pop("event", ""))
    level = LEVELS.get(str(event.pop("level", "info")), "INFO")
    timestamp = event.pop("timestamp", None)
    service = event.pop("service", None)
    environment = event.pop("environment", None)
    context = {key: event.pop(key) for key in CONTEXT_KEYS if key in event}
    return {
        "schema_version": 1,
        "log_id": str(uuid.uuid4()),
        "timestamp": timestamp,
        "level": level,
        "service": service,
        "environment": environment,
        "kind": "SYSTEM",
        "category": "flickr.api",
        "event": name,
        "message": name,
        "context": context,
        "payload": event,
        "host": {"hostname": hostname},
    }


class Shipper:
    """Buffers events and posts them in batches; never blocks or raises to the logger."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        max_buffer: int = 10_000,
        batch_size: int = 100,
        interval: float = 1.0,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._headers = {"X-API-Key": api_key} if api_key else {}
        self._buffer: deque[dict[str, Any]] = deque()
        self._max = max_buffer
        self._batch = batch_size
        self._interval = interval
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._hostname = socket.gethostname()
        self._failures = 0
        self.dropped = 0
        self.sent = 0

    def add(self, event: dict[str, Any]) -> None:
        if len(self._buffer) >= self._max:
            self.dropped += 1
            DROPPED.inc()
            return
        self._buffer.append(obs_body(event, self._hostname))
        if len(self._buffer) >= self._batch:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="obs-shipper")

    async def close(self, flush_seconds: float = 5.0) -> None:
        """Stop the loop and send what is buffered, within ``flush_seconds``."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(flush_seconds):
                while self._buffer and await self._send_batch():
                    pass
        self._drop(len(self._buffer))
        self._buffer.clear()
        await self._client.aclose()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            while self._buffer:
                if not await self._send_batch():
                    await asyncio.sleep(self.backoff())
                    break

    def backoff(self) -> float:
        """Seconds before the next try after ``_failures`` failed sends in a row."""
        return min(MAX_BACKOFF, self._interval * 2.0 ** (self._failures - 1)) + random.uniform(
            0, self._interval
        )

    async def _send_batch(self) -> bool:
        batch = [self._buffer.popleft() for _ in range(min(self._batch, len(self._buffer)))]
        try:
            response = await self._client.post(self.url, json=batch, headers=self._headers)
            ok = response.is_success
        except httpx.HTTPError:
            ok = False
        if ok:
            self._failures = 0
            self.sent += len(batch)
            SENT.inc(len(batch))
            return True
        # OBS is down or refusing: keep the batch for the next try, in order; events
        # that arrived meanwhile past the bound are dropped.
        self._failures += 1
        self._buffer.extendleft(reversed(batch))
        overflow = len(self._buffer) - self._max
        for _ in range(max(0, overflow)):
            self._buffer.pop()
        if overflow > 0:
            self._drop(overflow)
        return False

    def _drop(self, count: int) -> None:
        self.dropped += count
        DROPPED.inc(count)


_shippers: dict[int, Shipper] = {}


@hookimpl
def log_event(event: dict[str, Any]) -> None:
    for shipper in _shippers.values():
        shipper.add(event)


@hookimpl
def startup(runtime: Runtime) -> None:
    s = runtime.settings
    if not s.obs_api_url:
        return
    key = s.obs_api_key.get_secret_value() if s.obs_api_key else None
    shipper = Shipper(s.obs_api_url, key)
    shipper.start()
    _shippers[id(runtime)] = shipper


@hookimpl
async def shutdown(runtime: Runtime) -> None:
    shipper = _shippers.pop(id(runtime), None)
    if shipper is not None:
        await shipper.close()
