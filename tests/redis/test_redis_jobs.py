"""RedisJobStore against the real Redis: records, TTLs, idempotency, listing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from flickrhub_core.errors import JobAlreadyFinished, JobAlreadyStarted, QueueFull
from flickrhub_core.jobs import Job, JobState, utcnow
from flickrhub_core.stores import CappedCreate, JobQuery, JobStore
from flickrhub_redis import IdempotencyClaims, Keys, RedisJobStore

TTL_COMPLETE = 3_000
TTL_FAIL = 9_000


def make_job(
    state: JobState = JobState.QUEUED,
    *,
    owner: str = "app",
    user_id: str = "u1",
    target: str = "rest",
    method: str | None = "flickr.test.echo",
    age: float = 0.0,
    key: str | None = None,
) -> Job:
    at = utcnow() - timedelta(seconds=age)
    return Job(
        owner=owner,
        user_id=user_id,
        target=target,
        method=method,
        state=state,
        created_at=at,
        idempotency_key=key,
        result={"stat": "ok"} if state is JobState.COMPLETED else None,
        finished_at=at if state.finished else None,
    )


@pytest.fixture
def store(client: Redis, prefix: str) -> RedisJobStore:
    return RedisJobStore(client, prefix, ttl_complete=TTL_COMPLETE, ttl_fail=TTL_FAIL)


def test_it_is_a_job_store_with_the_optional_claim_capability(store: RedisJobStore) -> None:
    assert isinstance(store, JobStore)
    assert isinstance(store, IdempotencyClaims)
    assert isinstance(store, CappedCreate)


async def test_save_get_and_replace(store: RedisJobStore) -> None:
    job = make_job(key="k1")
    job.meta = {"note": "ünïcode"}
    job.params = {"photo_id": "1"}

    await store.save(job)
    assert await store.get(job.id) == job

    job.state, job.attempts, job.result = JobState.COMPLETED, 1, {"photos": [1, 2]}
    await store.save(job)
    assert await store.get(job.id) == job
    assert await store.get("no-such-job") is None


async def test_delete_forgets_record_index_and_idempotency(
    store: RedisJobStore, client: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    job = make_job(key="k1")
    await store.save(job)

    await store.delete(job.id)

    assert await store.get(job.id) is None
    assert await store.find_idempotent("app", "k1") is None
    assert await client.exists(keys.idempotency("app", "k1"), keys.jobs("app")) == 0
    await store.delete(job.id)  # deleting twice is fine


async def test_delete_keeps_an_idempotency_entry_that_names_another_job(
    store: RedisJobStore,
) -> None:
    first, second = make_job(key="k1"), make_job(key="k1")
    await store.save(first)
    await store.save(second)  # the key now names the second job

    await store.delete(first.id)

    found = await store.find_idempotent("app", "k1")
    assert found is not None and found.id == second.id


async def test_finished_jobs_expire_and_pending_ones_do_not(
    store: RedisJobStore, client: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    expected = {
        JobState.QUEUED: -1,
        JobState.RUNNING: -1,
        JobState.RETRYING: -1,
        JobState.COMPLETED: TTL_COMPLETE,
        JobState.CANCELLED: TTL_COMPLETE,
        JobState.FAILED: TTL_FAIL,
    }
    for state, ttl in expected.items():
        job = make_job(state, key=f"key-{state.value}")
        await store.save(job)
        for key in (keys.job(job.id), keys.idempotency("app", f"key-{state.value}")):
            left = await client.pttl(key)
            if ttl == -1:
                assert left == -1, state
            else:
                assert (ttl - 5) * 1000 < left <= ttl * 1000, state


async def test_a_finished_job_is_never_saved_back_to_pending(
    store: RedisJobStore, client: Redis, prefix: str
) -> None:
    job = make_job(JobState.FAILED)
    await store.save(job)
    job.state = JobState.QUEUED

    with pytest.raises(JobAlreadyFinished) as refused:
        await store.save(job)

    assert refused.value.state == "failed"
    stored = await store.get(job.id)
    assert stored is not None and stored.state is JobState.FAILED
    assert await client.pttl(Keys(prefix).job(job.id)) > 0
    assert await store.count_pending("app") == 0


async def test_ttl_zero_means_no_expiry(client: Redis, prefix: str) -> None:
    store = RedisJobStore(client, prefix, ttl_complete=0, ttl_fail=0)
    for state in (JobState.COMPLETED, JobState.FAILED):
        job = make_job(state)
        await store.save(job)
        assert await client.pttl(Keys(prefix).job(job.id)) == -1


async def test_find_idempotent_is_per_owner(store: RedisJobStore) -> None:
    job = make_job(owner="app", key="k1")
    await store.save(job)

    assert await store.find_idempotent("app", "k1") == job
    assert await store.find_idempotent("other", "k1") is None
    assert await store.find_idempotent("app", "k2") is None


async def test_owner_names_with_colons_do_not_collide(store: RedisJobStore) -> None:
    a = make_job(owner="a:b", key="c")
    b = make_job(owner="a", key="b:c")
    await store.save(a)
    await store.save(b)

    assert (await store.find_idempotent("a:b", "c")) == a
    assert (await store.find_idempotent("a", "b:c")) == b
    assert [j.id for j in await store.list(JobQuery(owner="a:b"))] == [a.id]


async def test_claim_idempotency_has_exactly_one_winner(
    make_client: Callable[[], Redis], prefix: str
) -> None:
    # Four "processes", each with its own connection pool, race for one key.
    stores = [
        RedisJobStore(make_client(), prefix, ttl_complete=TTL_COMPLETE, ttl_fail=TTL_FAIL)
        for _ in range(4)
    ]
    ids = [f"job-{n}" for n in range(40)]

    answers = await asyncio.gather(
        *(stores[n % 4].claim_idempotency("app", "k1", job_id) for n, job_id in enumerate(ids))
    )

    winners = [job_id for job_id, answer in zip(ids, answers, strict=True) if answer is None]
    assert len(winners) == 1
    assert {answer for answer in answers if answer is not None} == {winners[0]}
    # Repeating one's own claim (a retried request) is still a win.
    assert await stores[0].claim_idempotency("app", "k1", winners[0]) is None
    # Other owners have their own keys.
    assert await stores[0].claim_idempotency("other", "k1", "job-x") is None


async def test_a_claim_expires_unless_its_job_is_saved(
    store: RedisJobStore, client: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    assert await store.claim_idempotency("app", "lost", "job-lost", ttl=0.1) is None
    assert 0 < await client.pttl(keys.idempotency("app", "lost")) <= 100

    job = make_job(key="kept")
    assert await store.claim_idempotency("app", "kept", job.id) is None
    assert 0 < await client.pttl(keys.idempotency("app", "kept")) <= 3_600_000
    await store.save(job)
    assert await client.pttl(keys.idempotency("app", "kept")) == -1  # pending: kept

    await asyncio.sleep(0.2)
    assert await store.claim_idempotency("app", "lost", "job-new") is None
    assert await store.claim_idempotency("app", "kept", "job-new") == job.id


async def test_list_is_newest_first_and_per_owner(store: RedisJobStore) -> None:
    jobs = [make_job(age=age) for age in (30, 10, 20)]
    for job in jobs:
        await store.save(job)
    await store.save(make_job(owner="other"))

    listed = await store.list(JobQuery(owner="app"))

    assert [j.id for j in listed] == [jobs[1].id, jobs[2].id, jobs[0].id]
    assert [j.id for j in await store.list(JobQuery(owner="app", limit=2))] == [
        jobs[1].id,
        jobs[2].id,
    ]
    assert await store.list(JobQuery(owner="app", limit=0)) == []
    assert await store.list(JobQuery(owner="nobody")) == []


async def test_a_filtered_page_finds_a_match_behind_many_that_do_not_match(
    store: RedisJobStore,
) -> None:
    failed = make_job(JobState.FAILED, age=200)
    await store.save(failed)
    for age in range(100):
        await store.save(make_job(JobState.COMPLETED, age=age))

    listed = await store.list(JobQuery(owner="app", state=JobState.FAILED, limit=2))

    assert [j.id for j in listed] == [failed.id]


async def test_list_filters(store: RedisJobStore) -> None:
    a = make_job(JobState.COMPLETED, user_id="u1", target="rest", method="m1", age=3)
    b = make_job(JobState.FAILED, user_id="u2", target="rest", method="m2", age=2)
    c = make_job(JobState.QUEUED, user_id="u1", target="upload", method=None, age=1)
    for job in (a, b, c):
        await store.save(job)

    async def ids(**filters: object) -> list[str]:
        return [j.id for j in await store.list(JobQuery(owner="app", **filters))]  # type: ignore[arg-type]

    assert await ids(user_id="u1") == [c.id, a.id]
    assert await ids(state=JobState.FAILED) == [b.id]
    assert await ids(target="rest") == [b.id, a.id]
    assert await ids(method="m1") == [a.id]
    assert await ids(user_id="u1", target="rest", state=JobState.COMPLETED) == [a.id]
    assert await ids(user_id="u3") == []


async def test_list_drops_entries_whose_job_expired(
    store: RedisJobStore, client: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    kept, expired = make_job(age=2), make_job(age=1)
    await store.save(kept)
    await store.save(expired)
    await client.delete(keys.job(expired.id))  # as if its TTL ran out

    assert [j.id for j in await store.list(JobQuery(owner="app"))] == [kept.id]
    assert await client.zscore(keys.jobs("app"), expired.id) is None
    assert await client.zscore(keys.jobs("app"), kept.id) is not None


async def test_the_listing_index_is_capped(client: Redis, prefix: str) -> None:
    store = RedisJobStore(client, prefix, ttl_complete=60, ttl_fail=60, max_listed=5)
    jobs = [make_job(age=100 - n) for n in range(8)]
    for job in jobs:
        await store.save(job)

    assert await client.zcard(Keys(prefix).jobs("app")) == 5
    listed = await store.list(JobQuery(owner="app", limit=10))
    assert [j.id for j in listed] == [j.id for j in reversed(jobs[3:])]
    assert await store.get(jobs[0].id) == jobs[0]  # still readable by id


async def test_jobs_created_at_the_same_instant_order_by_id(store: RedisJobStore) -> None:
    at = utcnow()
    jobs = [make_job() for _ in range(5)]
    for job in jobs:
        job.created_at = at
        await store.save(job)

    listed = await store.list(JobQuery(owner="app"))

    assert [j.id for j in listed] == sorted((j.id for j in jobs), reverse=True)


async def test_time_bounds_and_batch_filter(store: RedisJobStore) -> None:
    now = utcnow()
    jobs = [make_job(age=age) for age in (40, 30, 20, 10)]
    jobs[1].batch_id = jobs[2].batch_id = "b1"
    for job in jobs:
        await store.save(job)

    async def ids(**filters: object) -> list[str]:
        return [j.id for j in await store.list(JobQuery(owner="app", **filters))]  # type: ignore[arg-type]

    assert await ids(since=now - timedelta(seconds=30)) == [jobs[3].id, jobs[2].id, jobs[1].id]
    assert await ids(until=jobs[2].created_at) == [jobs[1].id, jobs[0].id]  # exclusive
    assert await ids(since=jobs[1].created_at, until=jobs[3].created_at) == [
        jobs[2].id,
        jobs[1].id,
    ]
    assert await ids(before=jobs[2].created_at) == [jobs[1].id, jobs[0].id]
    assert await ids(batch_id="b1") == [jobs[2].id, jobs[1].id]


async def test_a_keyset_cursor_pages_through_everything_at_any_depth(
    store: RedisJobStore,
) -> None:
    at = utcnow()
    jobs = [make_job() for _ in range(90)]
    for n, job in enumerate(jobs):
        job.created_at = at - timedelta(seconds=n // 3)  # three jobs per instant
        await store.save(job)
    expected = [j.id for j in sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)]

    seen: list[str] = []
    query = JobQuery(owner="app", limit=2)
    while page := await store.list(query):
        seen += [j.id for j in page]
        last = page[-1]
        query = JobQuery(owner="app", limit=2, before=last.created_at, before_id=last.id)

    # 45 pages of 2: the deepest would be far past 20 x limit ids from the newest.
    assert seen == expected


async def test_a_batch_is_found_however_far_back_it_lies(store: RedisJobStore) -> None:
    batch = [make_job(age=100) for _ in range(2)]
    for job in batch:
        job.batch_id = "b1"
        await store.save(job)
    for n in range(50):
        await store.save(make_job(JobState.COMPLETED, age=n))

    found = await store.list(JobQuery(owner="app", batch_id="b1", limit=1))
    assert len(found) == 1
    everything = await store.list(JobQuery(owner="app", batch_id="b1", limit=100))
    assert {j.id for j in everything} == {j.id for j in batch}


async def test_a_batch_is_per_owner(store: RedisJobStore) -> None:
    job = make_job(owner="other")
    job.batch_id = "b2"
    await store.save(job)
    assert await store.list(JobQuery(owner="app", batch_id="b2")) == []


async def test_delete_removes_a_job_from_its_batch(store: RedisJobStore) -> None:
    job = make_job()
    job.batch_id = "b3"
    await store.save(job)
    await store.delete(job.id)
    assert await store.list(JobQuery(owner="app", batch_id="b3")) == []


async def test_pending_count_follows_job_states(store: RedisJobStore) -> None:
    jobs = [make_job() for _ in range(3)]
    for job in jobs:
        await store.save(job)
    jobs[0].state = JobState.RUNNING
    jobs[1].state = JobState.COMPLETED
    for job in jobs[:2]:
        await store.save(job)
    await store.save(make_job(owner="other"))
    assert await store.count_pending("app") == 2
    await store.delete(jobs[2].id)
    assert await store.count_pending("app") == 1


async def test_create_under_the_cap_saves_as_save_does(store: RedisJobStore) -> None:
    job = make_job(key="k-new")

    await store.create(job, 2)

    assert await store.get(job.id) == job
    assert await store.find_idempotent("app", "k-new") == job
    assert await store.count_pending("app") == 1
    assert [j.id for j in await store.list(JobQuery(owner="app"))] == [job.id]


async def test_create_at_the_cap_is_refused_and_writes_nothing(
    store: RedisJobStore, client: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    for _ in range(2):
        await store.create(make_job(), 2)
    await store.save(make_job(owner="other"))  # another owner's jobs do not count
    refused = make_job(key="k-refused")
    refused.batch_id = "b-refused"

    with pytest.raises(QueueFull) as caught:
        await store.create(refused, 2)

    assert (caught.value.pending, caught.value.cap) == (2, 2)
    assert caught.value.details == {"pending": 2, "max_pending_jobs": 2}
    assert await store.get(refused.id) is None
    assert await store.count_pending("app") == 2
    assert len(await store.list(JobQuery(owner="app"))) == 2
    assert await client.exists(keys.idempotency("app", "k-refused"), keys.batch("b-refused")) == 0


async def test_create_does_not_cap_a_stored_job_or_a_finished_one(store: RedisJobStore) -> None:
    job = make_job()
    await store.create(job, 1)
    job.state = JobState.RUNNING

    await store.create(job, 1)  # a save of a stored job: not a new pending one
    await store.create(make_job(JobState.COMPLETED), 1)

    assert (await store.get(job.id)) == job
    assert await store.count_pending("app") == 1


async def test_finished_jobs_make_room_for_create(store: RedisJobStore) -> None:
    job = make_job()
    await store.create(job, 1)
    with pytest.raises(QueueFull):
        await store.create(make_job(), 1)
    job.state, job.finished_at = JobState.FAILED, utcnow()
    await store.save(job)

    await store.create(make_job(), 1)

    assert await store.count_pending("app") == 1


async def test_racing_creates_never_pass_the_cap(
    make_client: Callable[[], Redis], prefix: str
) -> None:
    """Separate clients (as separate API processes): a count then a save would let
    several pass on the same count; the script's check and write are one."""
    stores = [
        RedisJobStore(make_client(), prefix, ttl_complete=TTL_COMPLETE, ttl_fail=TTL_FAIL)
        for _ in range(4)
    ]

    async def try_create(n: int) -> bool:
        try:
            await stores[n % len(stores)].create(make_job(), 5)
        except QueueFull:
            return False
        return True

    outcomes = await asyncio.gather(*(try_create(n) for n in range(40)))

    assert outcomes.count(True) == 5
    assert await stores[0].count_pending("app") == 5


async def test_a_jobs_indexes_follow_it_from_queued_to_finished(
    store: RedisJobStore, client: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    job = make_job(key="k-life")
    job.batch_id = "b-life"
    await store.save(job)  # the API creates it; a worker then saves it as it runs
    for state in (JobState.RUNNING, JobState.RETRYING, JobState.RUNNING):
        job.state = state
        await store.save(job)
        assert await store.count_pending("app") == 1
        assert [j.id for j in await store.list(JobQuery(owner="app", state=state))] == [job.id]
        assert [j.id for j in await store.list(JobQuery(owner="app", batch_id="b-life"))] == [
            job.id
        ]
        assert await store.find_idempotent("app", "k-life") == job

    job.state, job.result, job.finished_at = JobState.COMPLETED, {"stat": "ok"}, utcnow()
    await store.save(job)

    assert await store.count_pending("app") == 0
    done = JobQuery(owner="app", state=JobState.COMPLETED)
    assert [j.id for j in await store.list(done)] == [job.id]
    assert [j.id for j in await store.list(JobQuery(owner="app", batch_id="b-life"))] == [job.id]
    assert await store.find_idempotent("app", "k-life") == job
    for key, ttl in (
        (keys.job(job.id), TTL_COMPLETE),
        (keys.idempotency("app", "k-life"), TTL_COMPLETE),
        (keys.batch("b-life"), TTL_FAIL),  # the longest job TTL
    ):
        assert (ttl - 5) * 1000 < await client.pttl(key) <= ttl * 1000, key


async def test_of_two_outcomes_of_one_job_only_the_first_is_stored(store: RedisJobStore) -> None:
    job = make_job(JobState.RUNNING)
    await store.save(job)
    completed = job.model_copy(update={"state": JobState.COMPLETED, "result": {"n": 1}})
    failed = job.model_copy(update={"state": JobState.FAILED, "error": {"code": "E"}})

    outcomes = await asyncio.gather(
        store.save(completed), store.save(failed), return_exceptions=True
    )

    refused = [o for o in outcomes if isinstance(o, JobAlreadyFinished)]
    assert len(refused) == 1 and outcomes.count(None) == 1
    first = completed if outcomes[0] is None else failed
    stored = await store.get(job.id)
    assert stored is not None and stored.state is first.state
    assert refused[0].state == first.state.value


async def test_a_second_finish_in_the_same_state_is_refused(store: RedisJobStore) -> None:
    job = make_job(JobState.RUNNING)
    job.started_at = utcnow()
    await store.save(job)
    first = job.model_copy(update={"state": JobState.COMPLETED, "finished_at": utcnow()})
    await store.save(first)
    later = first.model_copy(update={"finished_at": utcnow() + timedelta(seconds=1)})
    with pytest.raises(JobAlreadyFinished):
        await store.save(later)
    stored = await store.get(job.id)
    assert stored is not None and stored.finished_at == first.finished_at


async def test_a_started_job_cannot_be_saved_as_never_started(store: RedisJobStore) -> None:
    queued = make_job(JobState.QUEUED)
    await store.save(queued)
    running = queued.model_copy(update={"state": JobState.RUNNING, "started_at": utcnow()})
    await store.save(running)
    cancelled = queued.model_copy(update={"state": JobState.CANCELLED, "finished_at": utcnow()})
    with pytest.raises(JobAlreadyStarted):
        await store.save(cancelled)
    stored = await store.get(queued.id)
    assert stored is not None and stored.state is JobState.RUNNING
    assert await store.count_pending("app") == 1


async def test_a_finished_job_saved_in_its_own_state_is_replaced(store: RedisJobStore) -> None:
    dead = make_job(JobState.FAILED)
    dead.dead_lettered = True
    await store.save(dead)
    in_dlq = JobQuery(owner="app", in_dlq=True)
    assert [j.id for j in await store.list(in_dlq)] == [dead.id]

    dead.replayed_by = "the-replay"  # what a DLQ replay records on the dead job
    await store.save(dead)

    stored = await store.get(dead.id)
    assert stored is not None and stored.replayed_by == "the-replay"
    assert await store.list(in_dlq) == []
