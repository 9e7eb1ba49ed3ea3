"""The embedded in-memory backends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from flickrhub_core.errors import (
    InvalidRequest,
    JobAlreadyFinished,
    JobAlreadyStarted,
    NotFound,
    QueueFull,
)
from flickrhub_core.jobs import Job, JobState, utcnow
from flickrhub_core.memory import (
    MemoryBlobStore,
    MemoryCache,
    MemoryJobStore,
    MemoryRateLimiter,
    MemoryRequestTokenStore,
    MemoryTokenStore,
)
from flickrhub_core.stores import CappedCreate, JobQuery, PendingAuth
from tests.helpers import connected_token


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_token_owner_names_whose_token_it_is_or_none() -> None:
    tokens = MemoryTokenStore()
    await tokens.put(connected_token("u1"))
    await tokens.put(connected_token("u2", "2@N01").model_copy(update={"owner": "other"}))

    assert await tokens.owner("u1") == "default"
    assert await tokens.owner("u2") == "other"
    assert await tokens.owner("nobody") is None
    await tokens.delete("u1")
    assert await tokens.owner("u1") is None


async def test_cache_entry_expires_after_its_ttl() -> None:
    cache = MemoryCache()
    await cache.set("u", "k", b"v", ttl=0.05)
    assert await cache.get("u", "k") == b"v"
    await asyncio.sleep(0.06)
    assert await cache.get("u", "k") is None


async def test_a_cache_hit_tells_the_time_it_has_left() -> None:
    cache = MemoryCache()
    await cache.set("u", "k", b"v", ttl=60)

    found = await cache.read("u", "k")

    assert found.value == b"v"
    assert found.seconds_left is not None and 59 < found.seconds_left <= 60
    assert (await cache.read("u", "other")).value is None


async def test_an_answer_is_not_cached_once_the_users_reads_were_invalidated_since_the_miss() -> (
    None
):
    cache = MemoryCache()
    missed = await cache.read("u", "k")
    assert missed.generation is not None

    await cache.invalidate_user("u")  # a write of this user finished meanwhile

    assert await cache.set_if_current("u", "k", b"stale", 60, missed.generation) is False
    assert await cache.get("u", "k") is None
    again = await cache.read("u", "k")
    assert again.generation is not None
    assert await cache.set_if_current("u", "k", b"fresh", 60, again.generation) is True
    assert await cache.get("u", "k") == b"fresh"


async def test_cache_invalidation_forgets_only_that_user() -> None:
    cache = MemoryCache()
    await cache.set("u1", "k", b"1", ttl=60)
    await cache.set("u2", "k", b"2", ttl=60)
    await cache.invalidate_user("u1")
    assert (await cache.get("u1", "k"), await cache.get("u2", "k")) == (None, b"2")


async def test_cache_is_bounded() -> None:
    cache = MemoryCache(max_entries=2)
    for key in "abc":
        await cache.set("u", key, b"x", ttl=60)
    assert await cache.get("u", "a") is None
    assert await cache.get("u", "c") == b"x"


async def test_request_token_is_used_once() -> None:
    store = MemoryRequestTokenStore()
    pending = PendingAuth(
        oauth_token="t",
        oauth_token_secret="s",
        consumer_key="k",
        consumer_secret="cs",
        state="st",
        callback="oob",
    )
    await store.put(pending, ttl=60)
    assert await store.take("t") == pending
    assert await store.take("t") is None


async def test_request_token_expires() -> None:
    store = MemoryRequestTokenStore()
    pending = PendingAuth(
        oauth_token="t",
        oauth_token_secret="s",
        consumer_key="k",
        consumer_secret="cs",
        state="st",
        callback="oob",
    )
    await store.put(pending, ttl=0.01)
    await asyncio.sleep(0.02)
    assert await store.take("t") is None


async def test_rate_limiter_allows_a_burst_then_spaces_calls() -> None:
    limiter = MemoryRateLimiter(per_hour=36_000, burst=3)  # one call per 0.1 s
    waits = [await limiter.acquire("key") for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0.05 < waits[3] <= 0.11


async def test_rate_limiter_keys_are_independent() -> None:
    limiter = MemoryRateLimiter(per_hour=36_000, burst=1)
    await limiter.acquire("a")
    assert await limiter.acquire("b") == 0.0


async def test_rate_limiter_back_off_delays_the_next_call() -> None:
    limiter = MemoryRateLimiter(per_hour=0)
    await limiter.back_off("key", 0.05)
    started = time.monotonic()
    await limiter.acquire("key")
    assert time.monotonic() - started >= 0.04


async def test_unlimited_rate_limiter_never_waits() -> None:
    limiter = MemoryRateLimiter(per_hour=0)
    assert [await limiter.acquire("k") for _ in range(100)] == [0.0] * 100


async def test_blob_round_trip_keeps_bytes_and_hash() -> None:
    store = MemoryBlobStore()
    info = await store.put(
        chunks(b"a" * 100_000, b"b"), filename="p.jpg", content_type="image/jpeg"
    )
    data = b"".join([c async for c in store.open(info.id)])
    assert data == b"a" * 100_000 + b"b"
    assert info.size == 100_001
    assert len(info.sha256) == 64


async def test_blob_over_the_limit_is_refused_and_not_kept() -> None:
    store = MemoryBlobStore()
    with pytest.raises(InvalidRequest):
        await store.put(chunks(b"x" * 10, b"y" * 10), filename="p", content_type=None, max_bytes=15)
    assert store._blobs == {}


async def test_missing_blob_is_not_found() -> None:
    with pytest.raises(NotFound):
        [c async for c in MemoryBlobStore().open("nope")]


async def test_job_listing_filters_and_orders_newest_first() -> None:
    store = MemoryJobStore()
    for i in range(3):
        await store.save(Job(user_id="u1", target="rest", method=f"m{i}"))
    await store.save(Job(user_id="u2", target="rest", method="x", state=JobState.FAILED))
    await store.save(Job(owner="other", user_id="u1", target="rest", method="m9"))
    listed = await store.list(JobQuery(owner="default", user_id="u1"))
    assert [j.method for j in listed] == ["m2", "m1", "m0"]
    failed = await store.list(JobQuery(owner="default", state=JobState.FAILED))
    assert [j.user_id for j in failed] == ["u2"]


async def test_idempotency_key_finds_the_first_job_of_its_owner() -> None:
    store = MemoryJobStore()
    job = Job(user_id="u", target="rest", idempotency_key="k1")
    await store.save(job)
    assert (await store.find_idempotent("default", "k1")).id == job.id  # type: ignore[union-attr]
    assert await store.find_idempotent("someone-else", "k1") is None


async def test_saved_job_is_a_copy() -> None:
    store = MemoryJobStore()
    job = Job(user_id="u", target="rest")
    await store.save(job)
    job.state = JobState.RUNNING
    assert (await store.get(job.id)).state is JobState.QUEUED  # type: ignore[union-attr]


async def test_create_at_the_pending_cap_is_refused_and_stores_nothing() -> None:
    store = MemoryJobStore()
    assert isinstance(store, CappedCreate)
    first = Job(user_id="u", target="rest")
    await store.create(first, 1)
    refused = Job(user_id="u", target="rest", idempotency_key="k1")

    with pytest.raises(QueueFull) as caught:
        await store.create(refused, 1)

    assert (caught.value.pending, caught.value.cap) == (1, 1)
    assert await store.get(refused.id) is None
    assert await store.find_idempotent("default", "k1") is None
    first.state = JobState.RUNNING
    await store.create(first, 1)  # a stored job is saved, not counted
    await store.create(Job(user_id="u", target="rest"), 2)
    assert await store.count_pending("default") == 2


async def test_pending_count_follows_job_states() -> None:
    store = MemoryJobStore()
    jobs = [Job(user_id="u", target="rest") for _ in range(3)]
    for job in jobs:
        await store.save(job)
    jobs[0].state = JobState.RUNNING
    jobs[1].state = JobState.COMPLETED
    for job in jobs[:2]:
        await store.save(job)
    await store.save(Job(owner="other", user_id="u", target="rest"))
    assert await store.count_pending("default") == 2
    await store.delete(jobs[2].id)
    assert await store.count_pending("default") == 1


async def test_a_finished_jobs_state_never_changes() -> None:
    store = MemoryJobStore()
    job = Job(user_id="u", target="rest", state=JobState.FAILED, dead_lettered=True)
    await store.save(job)
    for other in (JobState.COMPLETED, JobState.CANCELLED, JobState.RUNNING, JobState.QUEUED):
        with pytest.raises(JobAlreadyFinished) as refused:
            await store.save(job.model_copy(update={"state": other}))
        assert refused.value.state == "failed"
    stored = await store.get(job.id)
    assert stored is not None and stored.state is JobState.FAILED
    assert await store.count_pending("default") == 0


async def test_a_finished_job_saved_in_its_own_state_is_replaced() -> None:
    store = MemoryJobStore()
    job = Job(user_id="u", target="rest", state=JobState.FAILED, dead_lettered=True)
    await store.save(job)
    job.replayed_by = "the-replay"  # what a DLQ replay records on the dead job
    await store.save(job)
    stored = await store.get(job.id)
    assert stored is not None and stored.replayed_by == "the-replay"


async def test_a_second_finish_in_the_same_state_is_refused() -> None:
    store = MemoryJobStore()
    job = Job(user_id="u", target="rest", state=JobState.RUNNING, started_at=utcnow())
    await store.save(job)
    first = job.model_copy(update={"state": JobState.COMPLETED, "finished_at": utcnow()})
    await store.save(first)
    later = first.model_copy(update={"finished_at": utcnow() + timedelta(seconds=1)})
    with pytest.raises(JobAlreadyFinished):
        await store.save(later)
    assert await store.get(job.id) == first


async def test_a_started_job_cannot_be_saved_as_never_started() -> None:
    store = MemoryJobStore()
    queued = Job(user_id="u", target="rest")
    await store.save(queued)
    running = queued.model_copy(update={"state": JobState.RUNNING, "started_at": utcnow()})
    await store.save(running)
    cancelled = queued.model_copy(update={"state": JobState.CANCELLED, "finished_at": utcnow()})
    with pytest.raises(JobAlreadyStarted):
        await store.save(cancelled)
    assert await store.get(queued.id) == running


async def test_unlimited_rate_limiter_waits_only_while_a_back_off_lasts() -> None:
    limiter = MemoryRateLimiter(per_hour=0)
    await limiter.back_off("k", 0.02)
    assert await limiter.acquire("k") > 0
    assert [await limiter.acquire("k") for _ in range(3)] == [0.0] * 3
