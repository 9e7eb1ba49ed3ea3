"""The ``redis`` plugin: state that every API and worker process must share.

When ``REDIS_URL`` is set it answers the ``job_store``, ``cache_backend``,
``request_token_store`` and ``rate_limiter`` hooks; when it is not, it answers
nothing, so the embedded mode keeps the in-memory backends.

All keys start with ``FLICKRHUB_REDIS_PREFIX`` (``<p>``, default ``flickrhub:``):

=================================  ==============================================
``<p>job:<id>``                    job JSON; TTL once finished (``JOB_TTL_*``)
``<p>idem:<owner>:<key>``          Idempotency-Key → job id, its job's TTL
``<p>jobs:<owner>``                sorted set of job ids by ``created_at``
``<p>cachegen:<user>``             the user's cache generation (INCR invalidates)
``<p>cache:<user>:<gen>:<key>``    a cached Flickr answer, its own TTL
``<p>cache:stats``                 hash: cluster-wide cache ``hits``/``misses``
``<p>oauth:req:<oauth_token>``     pending OAuth request token, single use
``<p>ratelimit:<consumer_key>``    GCRA theoretical arrival time (µs, server clock)
``<p>lease:<id>``                  the worker running the job, while it runs
=================================  ==============================================

One client (one connection pool) per runtime serves all four stores; it connects
on first use, ``startup`` checks it with PING and ``shutdown`` closes it.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from flickrhub_core import hookimpl
from flickrhub_core.stores import IdempotencyClaims
from flickrhub_redis._cache import RedisCache
from flickrhub_redis._client import Keys, connect, ping
from flickrhub_redis._jobs import RedisJobStore
from flickrhub_redis._oauth import RedisRequestTokenStore
from flickrhub_redis._ratelimit import RedisRateLimiter

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from flickrhub_core.runtime import Runtime
    from flickrhub_core.settings import Settings
    from flickrhub_core.stores import Cache, JobStore, RateLimiter, RequestTokenStore

__all__ = [
    "IdempotencyClaims",
    "Keys",
    "RedisCache",
    "RedisJobStore",
    "RedisRateLimiter",
    "RedisRequestTokenStore",
    "cache_backend",
    "client_of",
    "job_store",
    "rate_limiter",
    "request_token_store",
    "shutdown",
    "startup",
]


class _Stores:
    """This plugin's client and stores for one runtime."""

    def __init__(self, settings: Settings, url: str) -> None:
        self.url = url
        self.client = connect(url)
        prefix = settings.redis_prefix
        self.jobs = RedisJobStore(
            self.client,
            prefix,
            ttl_complete=settings.job_ttl_complete,
            ttl_fail=settings.job_ttl_fail,
        )
        self.cache = RedisCache(self.client, prefix)
        self.request_tokens = RedisRequestTokenStore(self.client, prefix)
        self.limiter = RedisRateLimiter(
            self.client,
            prefix,
            per_hour=settings.flickr_rate_limit_per_hour,
            burst=settings.rate_limit_burst,
        )


# Per runtime, since tests (and embedders) may build several in one process.
_stores: weakref.WeakKeyDictionary[Runtime, _Stores] = weakref.WeakKeyDictionary()


def _for(runtime: Runtime) -> _Stores | None:
    """The runtime's stores, made on first ask; None when ``REDIS_URL`` is unset."""
    stores = _stores.get(runtime)
    if stores is None:
        secret = runtime.settings.redis_url
        url = secret.get_secret_value().strip() if secret is not None else ""
        if not url:
            return None
        stores = _stores[runtime] = _Stores(runtime.settings, url)
    return stores


def client_of(runtime: Runtime) -> Redis | None:
    """The Redis client this plugin opened for ``runtime``, if it answered any hook."""
    stores = _stores.get(runtime)
    return None if stores is None else stores.client


@hookimpl
def job_store(runtime: Runtime) -> JobStore | None:
    stores = _for(runtime)
    return None if stores is None else stores.jobs


@hookimpl
def cache_backend(runtime: Runtime) -> Cache | None:
    stores = _for(runtime)
    return None if stores is None else stores.cache


@hookimpl
def request_token_store(runtime: Runtime) -> RequestTokenStore | None:
    stores = _for(runtime)
    return None if stores is None else stores.request_tokens


@hookimpl
def rate_limiter(runtime: Runtime) -> RateLimiter | None:
    stores = _for(runtime)
    return None if stores is None else stores.limiter


@hookimpl
def startup(runtime: Runtime) -> Awaitable[None] | None:
    stores = _stores.get(runtime)
    return None if stores is None else _start(runtime, stores)


@hookimpl
def shutdown(runtime: Runtime) -> Awaitable[None] | None:
    stores = _stores.get(runtime)
    return None if stores is None else stores.client.aclose()


async def _start(runtime: Runtime, stores: _Stores) -> None:
    # Redis away (restarting, loading its data) is a 503 for the API, not a 500.
    runtime.add_unavailable_errors(RedisConnectionError, RedisTimeoutError)
    await ping(stores.client, stores.url)
    runtime.log.info("redis_connected", prefix=runtime.settings.redis_prefix)
