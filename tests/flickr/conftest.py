"""Shared fixtures for the Flickr client tests: endpoints, credentials, a mock Flickr."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from flickrhub_core.flickr import CallRecord, Credentials, Endpoints, FlickrClient
from tests.flickr.flickr_server_check import FlickrCheck

FIXTURES = Path(__file__).parent / "fixtures"

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def fixture_bytes() -> Callable[[str], bytes]:
    """Read a recorded Flickr body (copied from shared/reference/flickr-fixtures)."""
    return lambda name: (FIXTURES / name).read_bytes()


@pytest.fixture
def endpoints() -> Endpoints:
    return Endpoints(
        rest_url="https://api.flickr.com/services/rest/",
        upload_url="https://up.flickr.com/services/upload/",
        replace_url="https://up.flickr.com/services/replace/",
        oauth_url="https://www.flickr.com/services/oauth",
    )


@pytest.fixture
def creds() -> Credentials:
    return Credentials(
        consumer_key="consumer-key-1",
        consumer_secret="consumer-secret-1",
        token="72157626318069415-087bfc7b5816092c",
        token_secret="a202d1f853ec69de",
    )


@pytest.fixture
def records() -> list[CallRecord]:
    """What the client reported through ``on_call``."""
    return []


@pytest.fixture
async def make_client(
    endpoints: Endpoints, records: list[CallRecord]
) -> AsyncIterator[Callable[..., FlickrClient]]:
    """Build a FlickrClient over an httpx transport (MockTransport for a plain handler)."""
    clients: list[FlickrClient] = []

    def make(handler: Handler | httpx.AsyncBaseTransport) -> FlickrClient:
        transport = (
            handler
            if isinstance(handler, httpx.AsyncBaseTransport)
            else httpx.MockTransport(handler)
        )
        client = FlickrClient(endpoints, transport=transport, on_call=records.append)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def flickr_check() -> FlickrCheck:
    return FlickrCheck()
