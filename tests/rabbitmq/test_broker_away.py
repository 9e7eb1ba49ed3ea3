"""Publishing while RabbitMQ is away: refused at once (``RECONNECT_WAIT``), not after the
whole publish timeout, so the API's 503 reaches a client before its own timeout; once
the broker is back, publishing works again on the restored connection.

"Away" is the :class:`DroppingProxy` in front of RabbitMQ with its connections
aborted and its listening socket closed (connects refused), as during a restart.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from flickrhub_core.broker.rabbitmq import (
    DEFAULT_PUBLISH_TIMEOUT,
    RECONNECT_WAIT,
    RabbitBroker,
)
from flickrhub_core.errors import ConfigError, ServiceUnavailable
from flickrhub_core.runtime import _broker_from
from flickrhub_core.settings import load_settings
from tests.rabbitmq.conftest import DroppingProxy, MakeBroker, via_proxy


def fast_reconnect(url: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}reconnect_interval=0.5"


async def go_away(proxy: DroppingProxy) -> None:
    assert proxy.server is not None
    proxy.server.close()
    await proxy.server.wait_closed()
    proxy.drop()


async def come_back(proxy: DroppingProxy) -> None:
    proxy.server = await asyncio.start_server(proxy._serve, "127.0.0.1", proxy.port)


async def test_publishing_while_the_broker_is_away_is_refused_at_once_then_works(
    make_broker: MakeBroker, proxy: DroppingProxy, rabbit_url: str
) -> None:
    broker = await make_broker(fast_reconnect(via_proxy(rabbit_url, proxy.port)))
    await broker.publish("flickr_rest", b"before")
    await go_away(proxy)
    for body in (b"away-1", b"away-2", b"away-3"):
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            await broker.publish("flickr_rest", body)
        assert time.monotonic() - started < RECONNECT_WAIT + 1.0
    with pytest.raises(ServiceUnavailable):
        await broker.publish_delayed("flickr_rest", b"away-later", 1.0)
    await come_back(proxy)
    async with asyncio.timeout(20):
        while True:
            try:
                await broker.publish("flickr_rest", b"after")
                break
            except ServiceUnavailable:
                await asyncio.sleep(0.2)
    # Nothing refused was queued: only the two that were accepted.
    assert await broker.depth("flickr_rest") == 2


def test_the_publish_timeout_is_a_setting() -> None:
    assert DEFAULT_PUBLISH_TIMEOUT < 10  # under common HTTP client timeouts
    broker = _broker_from(
        load_settings(RABBIT_URL="amqp://127.0.0.1/", FLICKRHUB_PUBLISH_TIMEOUT=2.5)
    )
    assert isinstance(broker, RabbitBroker)
    assert broker.publish_timeout == 2.5
    assert load_settings().publish_timeout == DEFAULT_PUBLISH_TIMEOUT
    with pytest.raises(ConfigError, match="FLICKRHUB_PUBLISH_TIMEOUT"):
        load_settings(FLICKRHUB_PUBLISH_TIMEOUT=0)
    with pytest.raises(ConfigError, match="FLICKRHUB_PUBLISH_TIMEOUT"):
        RabbitBroker("amqp://127.0.0.1/", publish_timeout=0)
