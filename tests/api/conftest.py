"""Fixtures for the API tests: an app over an in-memory runtime, a test client,
connected users, and a fake Flickr for the OAuth dance."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

import httpx
import pytest
from quart import Quart
from quart.typing import TestClientProtocol

from flickrhub_api import create_app
from flickrhub_core.jobs import Job, JobState
from flickrhub_core.memory import MemoryTokenStore
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import StoredToken
from tests.helpers import answer_flickr_with

REST = "/api/v1/flickr/rest"
#: Aliased: pytest would try to collect a name starting with "Test".
Client = TestClientProtocol


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime]) -> Runtime:
    """A runtime the app starts and closes (memory backends, built-in targets)."""
    return make_runtime()


@pytest.fixture
async def app(rt: Runtime) -> AsyncIterator[Quart]:
    app = create_app(rt)
    async with app.test_app():
        yield app


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()


async def connect(
    rt: Runtime, user_id: str = "user-1", *, owner: str = "default", nsid: str = "1@N01"
) -> StoredToken:
    token = StoredToken(
        user_id=user_id,
        owner=owner,
        consumer_key="key",
        consumer_secret="secret",
        token="access-token",
        token_secret="access-secret",
        user_nsid=nsid,
        username="someone",
    )
    await rt.tokens.put(token)
    return token


@pytest.fixture
async def user(rt: Runtime, app: Quart) -> StoredToken:
    """A connected Flickr account of the default owner."""
    return await connect(rt)


class SealedTokenStore(MemoryTokenStore):
    """A token store whose tokens cannot be read, as if no key decrypted them: only
    :meth:`owner` answers. Enqueue routes must need nothing more."""

    async def get(self, user_id: str) -> StoredToken | None:
        raise AssertionError("an enqueue read (decrypted) the token")

    async def find_account(
        self, owner: str, consumer_key: str, user_nsid: str
    ) -> StoredToken | None:
        raise AssertionError("an enqueue read (decrypted) the token")


@pytest.fixture
async def sealed_user(rt: Runtime, app: Quart) -> StoredToken:
    """``user-1`` of the default owner, in a :class:`SealedTokenStore`."""
    rt.backends.tokens = SealedTokenStore()
    return await connect(rt)


async def finish_job(rt: Runtime, job_id: str, result: object = None) -> Job:
    """Complete a job as a worker would."""
    job = await rt.jobs.get(job_id)
    assert job is not None
    job.state = JobState.COMPLETED
    job.result = result
    await rt.jobs.save(job)
    return job


# --- a fake Flickr for OAuth ------------------------------------------------------------


def _oauth_fields(request: httpx.Request) -> dict[str, str]:
    header = request.headers.get("Authorization", "")
    return {k: unquote(v) for k, v in re.findall(r'(\w+)="([^"]*)"', header)}


@dataclass
class FakeFlickr:
    """Flickr's three OAuth steps, just enough to drive the routes.

    ``nsid`` is the account the next verifier authorises; ``fail_with`` makes the
    next access-token exchange answer with that status and body instead.
    """

    nsid: str = "21207597@N07"
    username: str = "jamalfanaian"
    verifier: str = "good-verifier"
    issued: int = 0
    callbacks: list[str] = field(default_factory=list)
    fail_with: tuple[int, str] | None = None
    #: Answer every request with 503, as a Flickr outage does.
    down: bool = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503, text="Service Unavailable")
        fields = _oauth_fields(request)
        if request.url.path.endswith("/request_token"):
            self.issued += 1
            self.callbacks.append(fields.get("oauth_callback", ""))
            body = (
                f"oauth_callback_confirmed=true&oauth_token=req-{self.issued}"
                f"&oauth_token_secret=req-secret-{self.issued}"
            )
            return httpx.Response(200, text=body)
        if request.url.path.endswith("/access_token"):
            if self.fail_with is not None:
                status, body = self.fail_with
                self.fail_with = None
                return httpx.Response(status, text=body)
            if fields.get("oauth_verifier") != self.verifier:
                return httpx.Response(401, text="oauth_problem=verifier_invalid")
            body = (
                f"fullname=Jamal%20Fanaian&oauth_token=access-{fields['oauth_token']}"
                f"&oauth_token_secret=access-secret&user_nsid={self.nsid}"
                f"&username={self.username}"
            )
            return httpx.Response(200, text=body)
        return httpx.Response(404)


@pytest.fixture
async def fake_flickr(rt: Runtime, app: Quart) -> FakeFlickr:
    """Point the started runtime's Flickr client at a :class:`FakeFlickr`."""
    fake = FakeFlickr()
    await answer_flickr_with(rt, fake.handle)
    return fake  # the runtime closes the new client when the app stops
