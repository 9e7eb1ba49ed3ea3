"""One connection that a process's Redis commands share, pipelined.

redis-py gives each command a pooled connection of its own and waits for the reply
before that connection serves another: per command a pool checkout, a timed send, a
timed read and a wake-up for each. At a worker's concurrency that was about 50 µs of
CPU per command, and a job sends three. Here every command goes out on one
connection, and the commands callers issue while earlier ones are on the wire leave
together in one write; Redis answers a connection's commands in order, so each reply
goes to the oldest caller still waiting (docs/performance.md has the numbers).

The connection is redis-py's own, used through its public methods: the handshake
(TLS, AUTH, SELECT, the client name), the reply parser and the mapping of Redis's
errors to redis-py's exceptions stay redis-py's.

A command that blocks the connection (``BLPOP``), or changes its state (``SELECT``,
``MULTI``, ``SUBSCRIBE``), would stall or confuse every other caller on it: those
still get a pooled connection of their own, as do pipelines (``client.pipeline()``).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections import deque
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any

import hiredis
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.backoff import ExponentialWithJitterBackoff
from redis.client import EMPTY_RESPONSE, NEVER_DECODE
from redis.commands.core import AsyncScript
from redis.exceptions import AuthenticationError, NoScriptError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.typing import EncodableT, KeyT, ScriptTextT

#: Commands that block their connection or change its state: sent on a pooled one.
OWN_CONNECTION = frozenset(
    {
        "AUTH",
        "BLMOVE",
        "BLMPOP",
        "BLPOP",
        "BRPOP",
        "BRPOPLPUSH",
        "BZMPOP",
        "BZPOPMAX",
        "BZPOPMIN",
        "CLIENT",
        "DISCARD",
        "EXEC",
        "HELLO",
        "MONITOR",
        "MULTI",
        "PSUBSCRIBE",
        "QUIT",
        "RESET",
        "SELECT",
        "SSUBSCRIBE",
        "SUBSCRIBE",
        "UNWATCH",
        "WAIT",
        "WAITAOF",
        "WATCH",
        "XREAD",
        "XREADGROUP",
    }
)


def pack(*args: Any) -> bytes:
    """One command in Redis's protocol, packed by hiredis in C (redis-py's asyncio
    connections pack in Python: about 1 µs per argument, and a job save sends 20).
    The bytes are redis-py's (``tests/redis/test_redis_client.py``)."""
    name = args[0]
    # A command name may hold its subcommand ("CLIENT SETNAME"): sent as two words.
    if isinstance(name, str):
        args = (*name.encode().split(), *args[1:])
    elif b" " in name:
        args = (*name.split(), *args[1:])
    packed: bytes = hiredis.pack_command(args)
    return packed


#: Pauses between the tries of a command whose connection broke.
RETRY_BACKOFF = ExponentialWithJitterBackoff(base=0.05, cap=1.0)


class _Link:
    """One connection, and the callers waiting for its replies in the order sent."""

    def __init__(self, connection: AbstractConnection) -> None:
        self.connection = connection
        self.queued: list[bytes] = []
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.writer: asyncio.Task[None] | None = None
        self.reader: asyncio.Task[None] | None = None
        self.broken = False


class SharedConnection:
    """A redis-py connection that many callers use at once.

    A writer task sends, in one write, whatever callers queued while it last wrote;
    a reader task reads replies while any are due and hands each to the oldest
    caller waiting. A failed write or read, or a reply later than the connection's
    ``socket_timeout``, fails every caller still waiting on that connection
    (``ConnectionError``, ``TimeoutError``); the next command opens a new one.
    """

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._link: _Link | None = None

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        """Queue one packed command; the future gets its reply (or its error)."""
        loop = asyncio.get_running_loop()
        link = self._link
        if link is None or link.broken:
            connection = self._pool.make_connection()  # type: ignore[no-untyped-call]
            link = self._link = _Link(connection)
        reply: asyncio.Future[Any] = loop.create_future()
        link.queued.append(packed)
        link.waiting.append(reply)
        if link.writer is None:
            link.writer = _task(loop, self._write(link), "redis-writer")
        return reply

    async def _write(self, link: _Link) -> None:
        try:
            while link.queued:
                batch, link.queued = link.queued, []
                await link.connection.send_packed_command(batch, check_health=False)
                if link.reader is None:
                    loop = asyncio.get_running_loop()
                    link.reader = _task(loop, self._read(link), "redis-reader")
        except BaseException as exc:
            await self._break(link, exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            link.writer = None

    async def _read(self, link: _Link) -> None:
        try:
            while link.waiting:
                try:
                    reply: Any = await link.connection.read_response()
                except ResponseError as error:  # this command's error; the connection is fine
                    reply = error
                waiter = link.waiting.popleft()
                if waiter.done():  # its caller gave up (cancelled)
                    continue
                if isinstance(reply, ResponseError):
                    waiter.set_exception(reply)
                else:
                    waiter.set_result(reply)
        except BaseException as exc:
            await self._break(link, exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            link.reader = None

    async def _break(self, link: _Link, exc: BaseException) -> None:
        """Fail every caller of ``link`` and close it; a new link replaces it. The
        first failure does this; the other task's, once cancelled, finds it done."""
        if link.broken:
            return
        link.broken = True
        error = exc if isinstance(exc, RedisError) else _lost(exc)
        link.queued.clear()
        while link.waiting:
            waiter = link.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        current = asyncio.current_task()
        for task in (link.writer, link.reader):
            if task is not None and task is not current:
                task.cancel()
        await link.connection.disconnect(nowait=True)

    async def aclose(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await self._break(link, ClientClosed("the Redis client was closed"))


def _task(
    loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, None], name: str
) -> asyncio.Task[None]:
    # A context of its own: it serves every caller, whatever their log context.
    return loop.create_task(work, name=name, context=contextvars.Context())


class ClientClosed(RedisConnectionError):
    """The client was closed while the command waited: not sent again."""


def _lost(exc: BaseException) -> RedisConnectionError:
    return RedisConnectionError(f"the Redis connection was lost ({type(exc).__name__})")


class PipelinedRedis(Redis):
    """redis-py's client whose commands share one pipelined connection
    (:class:`SharedConnection`); a command that fails on a broken connection is sent
    again, on a new one, up to ``retries`` times with a short backoff."""

    retries = 0
    _shared: SharedConnection

    def register_script(self, script: ScriptTextT) -> AsyncScript:  # type: ignore[override]
        return _SharedScript(self, script)

    @classmethod
    def pipelined(cls, pool: ConnectionPool, retries: int) -> PipelinedRedis:
        client = cls(connection_pool=pool)
        client.auto_close_connection_pool = True  # as from_pool: aclose() closes the pool
        client.retries = retries
        client._shared = SharedConnection(pool)
        return client

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        name = args[0]
        if str(name).split(" ", 1)[0].upper() in OWN_CONNECTION:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        try:
            response = await self._send(pack(*args))
        except ResponseError:
            if EMPTY_RESPONSE in options:
                return options[EMPTY_RESPONSE]
            raise
        for option in (EMPTY_RESPONSE, NEVER_DECODE, "keys"):
            options.pop(option, None)
        callback = self.response_callbacks.get(name)
        if callback is None:
            return response
        parsed = callback(response, **options)
        return await parsed if inspect.isawaitable(parsed) else parsed

    async def _send(self, packed: bytes) -> Any:
        failures = 0
        while True:
            try:
                return await self._shared.send(packed)
            except (AuthenticationError, ClientClosed):  # a wrong password stays wrong
                raise
            except RedisConnectionError:
                failures += 1
                if failures > self.retries:
                    raise
                await asyncio.sleep(RETRY_BACKOFF.compute(failures))

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await self._shared.aclose()
        await super().aclose(close_connection_pool)


class _SharedScript(AsyncScript):
    """redis-py's script, called straight through the shared connection: its own
    ``__call__`` imports and checks for a pipeline on every call (a few µs, three
    calls per job). Through a pipeline (``client=``) it is redis-py's call as before."""

    async def __call__(  # type: ignore[override]
        self,
        keys: Sequence[KeyT] | None = None,
        args: Iterable[EncodableT] | None = None,
        client: Redis | None = None,
    ) -> Any:
        if client is not None and client is not self.registered_client:
            return await super().__call__(keys, args, client)
        words = (*(keys or ()), *(args or ()))
        count = len(keys) if keys else 0
        redis = self.registered_client
        try:
            return await redis.evalsha(self.sha, count, *words)
        except NoScriptError:  # the server restarted or flushed its scripts: load it again
            self.sha = await redis.script_load(self.script)
            return await redis.evalsha(self.sha, count, *words)
