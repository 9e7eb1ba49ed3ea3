"""The redis plugin's client shares one pipelined connection among its callers.

Each caller must get its own reply, whatever else is on the wire: its own error, not
a neighbour's; nothing shifted by a caller that gave up. A broken or silent
connection fails only the commands on it, and the next command gets a new one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from flickrhub_redis import _client
from flickrhub_redis._pipelined import PipelinedRedis

#: Lua that keeps Redis busy for about a second (well under its 5 s script limit).
BUSY_SECOND = """
local t = redis.call('TIME')
local stop = t[1] * 1000000 + t[2] + 1000000
repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] >= stop
return 1
"""


@pytest.fixture
async def pipelined(
    redis_url: str, make_client: Callable[[], Redis]
) -> AsyncIterator[PipelinedRedis]:
    make_client()  # deletes the test's keys at the end
    client = _client.connect(redis_url)
    assert isinstance(client, PipelinedRedis)
    try:
        yield client
    finally:
        await client.aclose()


async def test_commands_sent_together_leave_in_fewer_writes_than_commands(
    pipelined: PipelinedRedis, prefix: str, round_trips: Callable[[], int]
) -> None:
    await pipelined.ping()  # connected
    before = round_trips()

    await asyncio.gather(*(pipelined.set(f"{prefix}k{i}", i) for i in range(200)))

    assert round_trips() - before < 20


async def test_every_caller_gets_its_own_reply(pipelined: PipelinedRedis, prefix: str) -> None:
    await asyncio.gather(*(pipelined.set(f"{prefix}k{i}", f"v{i}") for i in range(300)))

    replies = await asyncio.gather(*(pipelined.get(f"{prefix}k{i}") for i in range(300)))

    assert replies == [f"v{i}".encode() for i in range(300)]


async def test_an_error_reply_fails_only_its_own_command(
    pipelined: PipelinedRedis, prefix: str
) -> None:
    await pipelined.set(f"{prefix}text", "not a number")

    results = await asyncio.gather(
        pipelined.set(f"{prefix}a", 1),
        pipelined.incr(f"{prefix}text"),
        pipelined.incr(f"{prefix}a"),
        return_exceptions=True,
    )

    assert results[0] is True
    assert isinstance(results[1], ResponseError)
    assert results[2] == 2


async def test_a_caller_that_gave_up_does_not_shift_the_replies_of_the_others(
    pipelined: PipelinedRedis, prefix: str
) -> None:
    await asyncio.gather(*(pipelined.set(f"{prefix}k{i}", f"v{i}") for i in range(50)))
    abandoned = asyncio.ensure_future(pipelined.get(f"{prefix}k0"))
    others = [asyncio.ensure_future(pipelined.get(f"{prefix}k{i}")) for i in range(1, 50)]
    await asyncio.sleep(0)  # both sent
    abandoned.cancel()

    replies = await asyncio.gather(*others)

    assert replies == [f"v{i}".encode() for i in range(1, 50)]
    assert await pipelined.get(f"{prefix}k7") == b"v7"


async def test_scripts_are_loaded_when_redis_does_not_know_them(
    pipelined: PipelinedRedis, prefix: str
) -> None:
    script = pipelined.register_script("return redis.call('SET', KEYS[1], ARGV[1])")
    await pipelined.script_flush()

    assert await script(keys=[f"{prefix}s"], args=["x"]) == b"OK"
    assert await pipelined.get(f"{prefix}s") == b"x"


async def test_a_script_still_runs_inside_a_pipeline(
    pipelined: PipelinedRedis, prefix: str
) -> None:
    script = pipelined.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    await pipelined.script_flush()
    pipe = pipelined.pipeline(transaction=True)
    await script(keys=[f"{prefix}n"], args=["2"], client=pipe)
    await script(keys=[f"{prefix}n"], args=["3"], client=pipe)

    assert await pipe.execute() == [2, 5]


async def test_a_blocking_command_waits_on_a_connection_of_its_own(
    pipelined: PipelinedRedis, prefix: str
) -> None:
    waiting = asyncio.ensure_future(pipelined.blpop([f"{prefix}list"], timeout=5))
    await asyncio.sleep(0.05)

    # The shared connection is not held up behind the BLPOP.
    await asyncio.wait_for(pipelined.rpush(f"{prefix}list", "item"), 2)

    assert await asyncio.wait_for(waiting, 2) == (f"{prefix}list".encode(), b"item")


async def test_a_killed_connection_is_replaced_and_the_command_sent_again(
    pipelined: PipelinedRedis, prefix: str, client: Redis
) -> None:
    await pipelined.client_setname("flickrhub-pipelined-test")  # a pooled connection
    await pipelined.set(f"{prefix}a", 1)  # the shared connection, named by the URL
    shared = [c for c in await client.client_list() if c["name"] == "flickrhub"]
    for connection in shared:
        await client.client_kill_filter(_id=connection["id"])

    assert await pipelined.incr(f"{prefix}a") == 2


async def test_a_reply_later_than_the_socket_timeout_fails_and_the_next_command_works(
    redis_url: str,
) -> None:
    pool = BlockingConnectionPool.from_url(redis_url, socket_timeout=0.3)
    slow = PipelinedRedis.pipelined(pool, retries=3)
    try:
        with pytest.raises(RedisTimeoutError):
            await slow.eval(BUSY_SECOND, 0)
        await asyncio.sleep(1)  # Redis is done with the script
        assert await slow.ping() is True
    finally:
        await slow.aclose()


async def test_closing_the_client_fails_the_commands_still_waiting(
    pipelined: PipelinedRedis,
) -> None:
    busy = asyncio.ensure_future(pipelined.eval(BUSY_SECOND, 0))
    await asyncio.sleep(0.1)

    await pipelined.aclose()

    with pytest.raises(RedisConnectionError):
        await busy
