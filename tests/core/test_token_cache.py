"""A worker keeps decrypted tokens for ``FLICKRHUB_TOKEN_CACHE_SECONDS``; the API never."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from flickrhub_core import hookimpl
from flickrhub_core.broker import MemoryBroker
from flickrhub_core.crypto import new_key
from flickrhub_core.memory import MemoryTokenStore
from flickrhub_core.runtime import Role, Runtime
from flickrhub_core.settings import Settings
from flickrhub_core.stores import StoredToken, TokenStore
from flickrhub_core.token_cache import CachedTokenStore
from tests.helpers import builtin_plugins, connected_token

TTL = 30.0
U1 = connected_token("u1")
U2 = connected_token("u2", "2@N01")


class CountingStore(MemoryTokenStore):
    """A token store that counts its reads."""

    def __init__(self, *tokens: StoredToken) -> None:
        super().__init__()
        self._tokens = {token.user_id: token for token in tokens}
        self.reads = 0

    async def get(self, user_id: str) -> StoredToken | None:
        self.reads += 1
        return await super().get(user_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> CountingStore:
    return CountingStore(U1, U2)


@pytest.fixture
def cache(store: CountingStore, clock: Clock) -> CachedTokenStore:
    return CachedTokenStore(store, TTL, clock=clock)


async def test_a_token_read_again_within_the_ttl_comes_from_the_cache(
    cache: CachedTokenStore, store: CountingStore, clock: Clock
) -> None:
    first = await cache.get("u1")
    clock.now += TTL - 1

    assert await cache.get("u1") is first is U1
    assert store.reads == 1


async def test_a_token_is_read_again_once_its_ttl_has_passed(
    cache: CachedTokenStore, store: CountingStore, clock: Clock
) -> None:
    await cache.get("u1")
    clock.now += TTL

    await cache.get("u1")

    assert store.reads == 2


async def test_a_user_not_found_is_looked_up_again_next_time(
    cache: CachedTokenStore, store: CountingStore
) -> None:
    assert await cache.get("new") is None
    connected = connected_token("new", "3@N01")
    await store.put(connected)  # through the API, in another process

    assert await cache.get("new") is connected
    assert store.reads == 2


async def test_delete_through_the_cache_drops_the_users_entry(cache: CachedTokenStore) -> None:
    await cache.get("u1")

    assert await cache.delete("u1") is True

    assert await cache.get("u1") is None


async def test_put_through_the_cache_drops_the_users_entry(cache: CachedTokenStore) -> None:
    await cache.get("u1")
    reconnected = U1.model_copy(update={"token": "new-token"})

    await cache.put(reconnected)

    assert await cache.get("u1") == reconnected


async def test_a_read_that_raced_a_delete_keeps_nothing() -> None:
    reading = asyncio.Event()
    release = asyncio.Event()

    class SlowStore(CountingStore):
        async def get(self, user_id: str) -> StoredToken | None:
            token = await super().get(user_id)  # read before the delete
            reading.set()
            await release.wait()
            return token

    cache = CachedTokenStore(SlowStore(U1), TTL)
    read = asyncio.create_task(cache.get("u1"))
    await reading.wait()
    await cache.delete("u1")
    release.set()
    await read

    assert await cache.get("u1") is None


async def test_the_least_recently_used_token_goes_first_past_the_bound(
    store: CountingStore, clock: Clock
) -> None:
    await store.put(connected_token("u3", "3@N01"))
    cache = CachedTokenStore(store, TTL, max_entries=2, clock=clock)
    await cache.get("u1")
    await cache.get("u2")
    await cache.get("u1")  # u2 is now the least recently used

    await cache.get("u3")

    assert len(cache) == 2
    store.reads = 0
    await cache.get("u1")
    await cache.get("u2")
    assert store.reads == 1  # u1 was kept, u2 read again


async def test_other_methods_go_to_the_store(cache: CachedTokenStore, store: CountingStore) -> None:
    assert await cache.find_account(U1.owner, "key", "1@N01") is U1
    assert await cache.list(U1.owner) == [U1, U2]
    assert await cache.owner("u1") == U1.owner
    assert await cache.owner("nobody") is None
    assert store.reads == 0


async def test_owner_is_never_answered_from_the_cache(
    cache: CachedTokenStore, store: CountingStore
) -> None:
    await cache.get("u1")  # kept
    await store.delete("u1")  # revoked by another process
    await store.put(U2.model_copy(update={"owner": "other-client"}))

    assert await cache.owner("u1") is None
    assert await cache.owner("u2") == "other-client"


# --- in the runtime ------------------------------------------------------------------


class SharedBroker(MemoryBroker):
    shared = True


class SharedBackends:
    """Stands in for the shared stores ``api`` and ``worker`` need (never used here)."""

    def __init__(self) -> None:
        self.tokens = MemoryTokenStore()

    @hookimpl
    def job_store(self, runtime: Runtime) -> object:
        return object()

    @hookimpl
    def request_token_store(self, runtime: Runtime) -> object:
        return object()

    @hookimpl
    def token_store(self, runtime: Runtime) -> TokenStore:
        return self.tokens


def runtime_for(
    role: Role, settings: Settings, backends: SharedBackends, **update: object
) -> Runtime:
    keyed = settings.model_copy(update={"secret_key": SecretStr(new_key()), **update})
    plugins = builtin_plugins(("shared", backends))
    return Runtime(keyed, plugins, role=role, broker=SharedBroker())


def test_a_worker_caches_its_token_store(settings: Settings) -> None:
    backends = SharedBackends()

    runtime = runtime_for("worker", settings, backends)

    assert isinstance(runtime.tokens, CachedTokenStore)
    assert runtime.tokens.ttl == settings.token_cache_seconds == 30
    assert runtime.token_store is backends.tokens


@pytest.mark.parametrize("role", ["api", "embedded"])
def test_the_api_reads_the_token_store_itself(settings: Settings, role: Role) -> None:
    backends = SharedBackends()

    runtime = runtime_for(role, settings, backends)

    assert runtime.tokens is runtime.token_store is backends.tokens


def test_a_ttl_of_zero_turns_the_cache_off(settings: Settings) -> None:
    backends = SharedBackends()

    runtime = runtime_for("worker", settings, backends, token_cache_seconds=0)

    assert runtime.tokens is backends.tokens
