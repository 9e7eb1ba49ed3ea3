"""The redis plugin's client: commands packed in C go out exactly as redis-py packs them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection

from flickrhub_redis import _client

ours = _client._TcpConnection()
theirs = Connection()

values = st.one_of(
    st.text(),
    st.binary(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(st.lists(values, max_size=24))
def test_commands_are_packed_as_redis_py_packs_them(args: list[str | bytes | int | float]) -> None:
    command = ("EVALSHA", *args)
    assert b"".join(ours.pack_command(*command)) == b"".join(theirs.pack_command(*command))


@pytest.mark.parametrize("name", ["CLIENT SETNAME", b"CLIENT SETNAME"])
def test_a_command_name_holding_its_subcommand_goes_out_as_two_words(name: str | bytes) -> None:
    assert ours.pack_command(name, "worker") == [
        b"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$6\r\nworker\r\n"
    ]


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("redis://127.0.0.1:6379/0", Connection),
        ("rediss://127.0.0.1:6380/0", SSLConnection),
        ("unix:///run/redis.sock?db=0", UnixDomainSocketConnection),
    ],
)
def test_every_url_scheme_keeps_its_connection_class_and_packs_in_c(
    url: str, base: type[Connection]
) -> None:
    connection_class = _client.connect(url).connection_pool.connection_class
    assert issubclass(connection_class, base)
    assert issubclass(connection_class, _client._PackedInC)


async def test_values_of_every_type_round_trip_through_the_plugin_client(
    redis_url: str, prefix: str, make_client: Callable[[], object]
) -> None:
    make_client()  # deletes the test's keys at the end
    client = _client.connect(redis_url)
    sent = {"text": "caf\u00e9 \u2600", "bytes": b"\x00\xff", "int": -(2**63), "float": 0.1}
    try:
        for name, value in sent.items():
            await client.set(f"{prefix}{name}", value)  # type: ignore[arg-type]
        stored = await client.mget([f"{prefix}{name}" for name in sent])
        await client.client_setname("flickrhub-test")
        assert await client.client_getname() == "flickrhub-test"
    finally:
        await client.aclose()
    assert stored == [b"caf\xc3\xa9 \xe2\x98\x80", b"\x00\xff", b"-9223372036854775808", b"0.1"]
