"""The one job every system runs, and the settings every process of a run shares.

The job: one HTTP GET of ``flickr.test.echo`` to the stand-in, the JSON answer
checked (``stat`` must be ``ok``), the result stored in Redis, the message acked
only after that. FlickrHub signs its request (OAuth 1.0a HMAC-SHA1); the peers send
an ``Authorization`` header of the same size with fixed values.

Everything comes from environment variables set by ``harness.py``:
``BENCH_RABBIT_URL``, ``BENCH_REDIS_URL``, ``BENCH_STANDIN`` (``http://127.0.0.1:PORT``),
``BENCH_CONCURRENCY``.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from typing import Any
from urllib.parse import urlsplit

RABBIT_URL = os.environ.get("BENCH_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/flickrhub-bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
STANDIN = os.environ.get("BENCH_STANDIN", "http://127.0.0.1:8099")
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
QUEUE = "bench_jobs"
RESULT_TTL = 3600

# What FlickrHub's signed GET carries, with fixed values of the same lengths.
AUTHORIZATION = (
    'OAuth oauth_nonce="151829427713282519761732803200", oauth_timestamp="1732803200", '
    'oauth_version="1.0", oauth_signature_method="HMAC-SHA1", '
    'oauth_consumer_key="benchconsumerkey0000000000000000", '
    'oauth_token="72157720000000000-0000000000000000", '
    'oauth_signature="Q8fBk0b3Lr0mZ9vX2kHc1pGQ7xE%3D"'
)
HEADERS = {
    "Authorization": AUTHORIZATION,
    "Accept": "application/json",
    "User-Agent": "FlickrHub (+https://github.com/flickrhub)",
}


def rest_path(job_id: str) -> str:
    return f"/services/rest/?method=flickr.test.echo&format=json&nojsoncallback=1&name={job_id}"


def outcome(job_id: str, t_pub: float, body: bytes) -> dict[str, Any]:
    """Check the answer; the stored result carries the publish and done times."""
    data = json.loads(body)
    if data.get("stat") != "ok":
        raise RuntimeError(f"flickr answered {data!r}")
    return {"job_id": job_id, "t_pub": t_pub, "t_done": time.time(), "flickr": data}


# --- async (aiohttp): the bare consumer and taskiq -------------------------------------


class AsyncJob:
    """One aiohttp session per process (a keep-alive pool of ``CONCURRENCY``)."""

    def __init__(self) -> None:
        self._session: Any = None

    async def run(self, job_id: str, t_pub: float) -> dict[str, Any]:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONCURRENCY * 2)
            )
        async with self._session.get(STANDIN + rest_path(job_id), headers=HEADERS) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
        return outcome(job_id, t_pub, body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


# --- sync (http.client, one keep-alive connection per thread): Celery, Dramatiq -------

_local = threading.local()


def run_sync(job_id: str, t_pub: float) -> dict[str, Any]:
    conn: http.client.HTTPConnection | None = getattr(_local, "conn", None)
    for attempt in (0, 1):
        if conn is None:
            parts = urlsplit(STANDIN)
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
            _local.conn = conn
        try:
            conn.request("GET", rest_path(job_id), headers=HEADERS)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            return outcome(job_id, t_pub, body)
        except (http.client.HTTPException, OSError):
            conn.close()
            conn = _local.conn = None
            if attempt:
                raise
    raise AssertionError("unreachable")
