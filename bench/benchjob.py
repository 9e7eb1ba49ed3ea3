"""The one job every system runs, and the settings every process of a run shares.

The job: one HTTP GET of ``flickr.test.echo`` to the stand-in, signed for the bench
user (OAuth 1.0a HMAC-SHA1, as every call on a user's behalf must be), the JSON answer
checked (``stat`` must be ``ok``), the result stored in Redis, the message acked only
after that. FlickrHub signs with its own signer; Celery, Dramatiq and taskiq with
oauthlib's ``Client`` (what requests-oauthlib and the ``flickrapi`` package sign
with); the bare consumer with :func:`hand_signer`, the least a signer can do.

Everything comes from environment variables set by ``harness.py``:
``BENCH_RABBIT_URL``, ``BENCH_REDIS_URL``, ``BENCH_STANDIN`` (``http://127.0.0.1:PORT``),
``BENCH_CONCURRENCY``.
"""

from __future__ import annotations

import base64
import hmac
import http.client
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

RABBIT_URL = os.environ.get("BENCH_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/flickrhub-bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
STANDIN = os.environ.get("BENCH_STANDIN", "http://127.0.0.1:8099")
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
QUEUE = "bench_jobs"
RESULT_TTL = 3600

#: The bench user's credentials, as FlickrHub's worker reads them (``publisher.py``).
CONSUMER_KEY = "benchconsumerkey0000000000000000"
CONSUMER_SECRET = "benchconsumersecret0000"
TOKEN = "72157720000000000-0000000000000000"
TOKEN_SECRET = "benchtokensecret0000"
HEADERS = {
    "Accept": "application/json",
    "User-Agent": "FlickrHub (+https://github.com/flickrhub)",
}

#: Signs a GET of a URL: the ``Authorization`` header's value.
Signer = Callable[[str], str]


def rest_path(job_id: str) -> str:
    return f"/services/rest/?method=flickr.test.echo&format=json&nojsoncallback=1&name={job_id}"


def library_signer() -> Signer:
    """oauthlib's ``Client``, the peers' signer."""
    from oauthlib.oauth1 import Client

    client = Client(
        CONSUMER_KEY,
        client_secret=CONSUMER_SECRET,
        resource_owner_key=TOKEN,
        resource_owner_secret=TOKEN_SECRET,
    )

    def sign(url: str) -> str:
        _, headers, _ = client.sign(url, "GET")
        return str(headers["Authorization"])

    return sign


def _enc(value: str) -> str:
    return quote(value, safe="~")


def hand_signer() -> Signer:
    """HMAC-SHA1 by hand, the bare consumer's signer: RFC 5849 for this bench's URLs
    only (their queries are unreserved ASCII, so already encoded; no repeated names).
    Checked once against oauthlib."""
    key = f"{_enc(CONSUMER_SECRET)}&{_enc(TOKEN_SECRET)}".encode()
    fixed = [
        ("oauth_consumer_key", _enc(CONSUMER_KEY)),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_token", _enc(TOKEN)),
        ("oauth_version", "1.0"),
    ]
    header = ", ".join(f'{k}="{v}"' for k, v in fixed)

    def sign(url: str, nonce: str | None = None, timestamp: str | None = None) -> str:
        base_url, _, query = url.partition("?")
        nonce = nonce or secrets.token_hex(16)
        timestamp = timestamp or str(int(time.time()))
        pairs = [tuple(pair.split("=", 1)) for pair in query.split("&")]
        pairs += [*fixed, ("oauth_nonce", nonce), ("oauth_timestamp", timestamp)]
        pairs.sort()
        normalized = "&".join(f"{k}={v}" for k, v in pairs)
        escaped = normalized.replace("%", "%25").replace("=", "%3D").replace("&", "%26")
        digest = hmac.digest(key, f"GET&{_enc(base_url)}&{escaped}".encode(), "sha1")
        signature = _enc(base64.b64encode(digest).decode())
        return (
            f'OAuth {header}, oauth_nonce="{nonce}", oauth_timestamp="{timestamp}", '
            f'oauth_signature="{signature}"'
        )

    _check(sign)
    return sign


def _check(sign: Callable[..., str]) -> None:
    """The hand-made header's signature is the one oauthlib computes."""
    from oauthlib.oauth1 import Client

    url = STANDIN + rest_path("check")
    client = Client(
        CONSUMER_KEY,
        client_secret=CONSUMER_SECRET,
        resource_owner_key=TOKEN,
        resource_owner_secret=TOKEN_SECRET,
        nonce="abc123",
        timestamp="1732803200",
    )
    _, headers, _ = client.sign(url, "GET")
    ours = sign(url, nonce="abc123", timestamp="1732803200")
    theirs = str(headers["Authorization"])
    signature = re.compile(r'oauth_signature="([^"]+)"')
    if signature.findall(ours) != signature.findall(theirs):
        raise AssertionError(f"hand signer disagrees with oauthlib:\n{ours}\n{theirs}")


def outcome(job_id: str, t_pub: float, body: bytes) -> dict[str, Any]:
    """Check the answer; the stored result carries the publish and done times."""
    data = json.loads(body)
    if data.get("stat") != "ok":
        raise RuntimeError(f"flickr answered {data!r}")
    return {"job_id": job_id, "t_pub": t_pub, "t_done": time.time(), "flickr": data}


# --- async (aiohttp): the bare consumer and taskiq -------------------------------------


class AsyncJob:
    """One aiohttp session per process (a keep-alive pool of ``CONCURRENCY``)."""

    def __init__(self, sign: Signer) -> None:
        self._session: Any = None
        self._sign = sign

    async def run(self, job_id: str, t_pub: float) -> dict[str, Any]:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONCURRENCY * 2)
            )
        url = STANDIN + rest_path(job_id)
        headers = {**HEADERS, "Authorization": self._sign(url)}
        async with self._session.get(url, headers=headers) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
        return outcome(job_id, t_pub, body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


# --- sync (http.client, one keep-alive connection per thread): Celery, Dramatiq -------

_local = threading.local()
_sign_sync: Signer | None = None


def run_sync(job_id: str, t_pub: float) -> dict[str, Any]:
    global _sign_sync
    if _sign_sync is None:
        _sign_sync = library_signer()
    conn: http.client.HTTPConnection | None = getattr(_local, "conn", None)
    for attempt in (0, 1):
        if conn is None:
            parts = urlsplit(STANDIN)
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
            _local.conn = conn
        try:
            path = rest_path(job_id)
            headers = {**HEADERS, "Authorization": _sign_sync(STANDIN + path)}
            conn.request("GET", path, headers=headers)
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
