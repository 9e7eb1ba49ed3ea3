"""The one Redis client of a runtime, and the key names all stores share.

Its commands share one pipelined connection (:mod:`flickrhub_redis._pipelined`);
the pool serves pipelines and the few commands that need a connection of their own.

Errors raised here name ``REDIS_URL`` but never show it: the URL may carry a password.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.asyncio.retry import Retry
from redis.exceptions import AuthenticationError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from flickrhub_core.errors import ConfigError, ServiceUnavailable
from flickrhub_redis._pipelined import RETRY_BACKOFF, PipelinedRedis, pack

#: A dead Redis must fail the start quickly, not hang it.
CONNECT_TIMEOUT = 5.0
#: Every command here is O(1)-ish; a reply this late means Redis is in trouble.
COMMAND_TIMEOUT = 10.0
#: Pooled connections per process (pipelines, blocking commands). Past this a command
#: waits for a free one (up to POOL_TIMEOUT) instead of failing, as redis-py's default
#: pool would.
MAX_CONNECTIONS = 100
POOL_TIMEOUT = 5.0
#: A command that fails on a broken connection is sent again on a new one, this many
#: times: after a Redis restart the connection is dead, and without this every command
#: on it (a job's save, a rate-limiter slot) would fail before it is replaced.
#: Timeouts are not retried (a slow Redis would hang callers three times as long).
COMMAND_RETRIES = 3


class _PackedInC:
    """Pooled connections pack commands with hiredis too (:func:`pack`)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        return [pack(*args)]


class _TcpConnection(_PackedInC, Connection):
    pass


class _TlsConnection(_PackedInC, SSLConnection):
    pass


class _UnixConnection(_PackedInC, UnixDomainSocketConnection):
    pass


#: redis-py's class for each URL scheme (``from_url`` picks it) and ours for it.
_PACKED_IN_C: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: _TcpConnection,
    SSLConnection: _TlsConnection,
    UnixDomainSocketConnection: _UnixConnection,
}


def connect(url: str) -> Redis:
    """Make the client; no connection is opened until the first command."""
    try:
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            client_name="flickrhub",
            retry=Retry(RETRY_BACKOFF, COMMAND_RETRIES, supported_errors=(RedisConnectionError,)),
            retry_on_error=[RedisConnectionError],
        )
        pool.connection_class = _PACKED_IN_C.get(pool.connection_class, pool.connection_class)
        return PipelinedRedis.pipelined(pool, COMMAND_RETRIES)
    except ValueError:
        raise ConfigError(
            "REDIS_URL is not a valid Redis URL (redis://, rediss:// or unix://)"
        ) from None


async def ping(client: Redis, url: str) -> None:
    """Check Redis answers; a failure is one line without the URL or its password."""
    try:
        await client.ping()
    except (AuthenticationError, ResponseError) as exc:
        raise ConfigError(f"Redis (REDIS_URL) refused the connection: {_safe(exc, url)}") from None
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable(f"Redis (REDIS_URL) is not reachable: {_safe(exc, url)}") from None


def _safe(exc: BaseException, url: str) -> str:
    """The exception's text with the URL and its password blanked out, just in case."""
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    secrets = [url]
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        secrets += [password, unquote(password)]
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text


def _part(value: str) -> str:
    """Escape ``:`` inside one key component so ``idem:a:b`` can't mean two things."""
    return value.replace("%", "%25").replace(":", "%3A")


class Keys:
    """Every key this plugin writes, under one prefix (``FLICKRHUB_REDIS_PREFIX``)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def job(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    def jobs(self, owner: str) -> str:
        return f"{self.prefix}jobs:{_part(owner)}"

    def pending(self, owner: str) -> str:
        return f"{self.prefix}pending:{_part(owner)}"

    def dead(self, owner: str) -> str:
        return f"{self.prefix}dlq:{_part(owner)}"

    def cancel(self, job_id: str) -> str:
        return f"{self.prefix}cancel:{job_id}"

    def lease(self, job_id: str) -> str:
        return f"{self.prefix}lease:{job_id}"

    def start(self, job_id: str) -> str:
        return f"{self.prefix}start:{job_id}"

    def batch(self, batch_id: str) -> str:
        return f"{self.prefix}batch:{_part(batch_id)}"

    def idempotency(self, owner: str, key: str) -> str:
        return f"{self.prefix}idem:{_part(owner)}:{key}"

    def cache_generation(self, user_id: str) -> str:
        return f"{self.prefix}cachegen:{_part(user_id)}"

    def cache_entry_prefix(self, user_id: str) -> str:
        """``<p>cache:<user>:``; the scripts append ``<gen>:<key>``."""
        return f"{self.prefix}cache:{_part(user_id)}:"

    def cache_stats(self) -> str:
        return f"{self.prefix}cache:stats"

    def request_token(self, oauth_token: str) -> str:
        return f"{self.prefix}oauth:req:{oauth_token}"

    def rate_limit(self, key: str) -> str:
        return f"{self.prefix}ratelimit:{key}"


def text(value: bytes | str) -> str:
    """Redis replies are bytes (the client does not decode); ids are ASCII."""
    return value.decode() if isinstance(value, bytes) else value
