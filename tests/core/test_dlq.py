"""Dead letters over the in-memory backends: list, replay and purge
(:mod:`flickrhub_core.dlq`), and the broker's ``take_dead``."""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import pytest

from flickrhub_core import Job, JobError, JobState, Target, TargetContext, dlq, hookimpl
from flickrhub_core.broker import MemoryBroker
from flickrhub_core.errors import Conflict, InvalidRequest, NotFound, ServiceUnavailable
from flickrhub_core.jobs import DLQ
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import StoredToken
from flickrhub_core.worker import WorkerHost
from tests.helpers import finished, store_dead_job, working


class Flaky(Target):
    """Fails (retryably) while ``failures`` lasts, then succeeds."""

    name = "flaky"
    failures: ClassVar[int] = 0
    calls: ClassVar[int] = 0

    async def execute(self, ctx: TargetContext) -> Any:
        type(self).calls += 1
        if type(self).failures > 0:
            type(self).failures -= 1
            raise JobError("Flickr is down", code="ERR_FLICKR_HTTP", retryable=True)
        return {"ok": True, "params": ctx.job.params}


def plugin() -> tuple[str, object]:
    @hookimpl
    def register_targets(register: Callable[[Target], None]) -> None:
        register(Flaky())

    module = types.ModuleType("dlq_targets")
    module.register_targets = register_targets  # type: ignore[attr-defined]
    return ("dlq_targets", module)


@pytest.fixture(autouse=True)
def reset() -> None:
    Flaky.failures = 0
    Flaky.calls = 0


def account(user_id: str = "u1", owner: str = "default") -> StoredToken:
    return StoredToken(
        user_id=user_id,
        owner=owner,
        consumer_key="key",
        consumer_secret="secret",
        token="t",
        token_secret="ts",
        user_nsid="1@N01",
    )


@pytest.fixture
async def rt(make_runtime: Callable[..., Runtime]) -> AsyncIterator[Runtime]:
    runtime = make_runtime(plugin())
    await runtime.start()
    await runtime.tokens.put(account())
    await runtime.tokens.put(account("u2", owner="other"))
    try:
        yield runtime
    finally:
        await runtime.close()


@pytest.fixture
async def host(rt: Runtime) -> AsyncIterator[WorkerHost]:
    async with working(WorkerHost(rt, concurrency=4), grace=1) as worker:
        yield worker


async def dead_job(rt: Runtime, *, owner: str = "default", age: float = 0, **fields: Any) -> Job:
    """A job as a worker leaves one that exhausted its retries: record and DLQ copy."""
    return await store_dead_job(
        rt,
        age=age,
        owner=owner,
        user_id="u2" if owner == "other" else "u1",
        target="flaky",
        method="flickr.test.echo",
        params={"n": "1"},
        error={"code": "ERR_FLICKR_HTTP", "message": "HTTP 502", "retryable": True},
        **fields,
    )


async def dlq_ids(rt: Runtime) -> list[str]:
    return [(body.decode().split('"')[3]) for body, _ in await rt.broker.peek_dead()]


# --- the way in -------------------------------------------------------------------------


async def test_an_exhausted_job_is_listed_with_its_reason(rt: Runtime, host: WorkerHost) -> None:
    Flaky.failures = 3
    job = await rt.enqueue(Job(user_id="u1", target="flaky", max_attempts=3))
    done = await finished(rt, job.id)
    assert done.dead_lettered and done.in_dlq
    jobs, more = await dlq.list_dead(rt, "default")
    assert [j.id for j in jobs] == [job.id] and not more
    view = dlq.dead_view(jobs[0])
    assert view["reason"] == "Flickr is down"
    assert view["in_dlq"] is True and view["replayed_by"] is None
    assert view["dead_at"] is not None
    assert await dlq.list_dead(rt, "other") == ([], False)


async def test_the_listing_pages_newest_first(rt: Runtime) -> None:
    jobs = [await dead_job(rt, age=10 - n) for n in range(5)]
    first, more = await dlq.list_dead(rt, "default", limit=2)
    assert [j.id for j in first] == [jobs[4].id, jobs[3].id] and more
    last = first[-1]
    rest, more = await dlq.list_dead(
        rt, "default", limit=10, before=last.created_at, before_id=last.id
    )
    assert [j.id for j in rest] == [jobs[2].id, jobs[1].id, jobs[0].id] and not more


async def test_failed_jobs_that_did_not_die_are_not_dead_letters(rt: Runtime) -> None:
    failed = Job(user_id="u1", target="flaky", state=JobState.FAILED)
    await rt.jobs.save(failed)
    assert await dlq.list_dead(rt, "default") == ([], False)
    with pytest.raises(NotFound):
        await dlq.get_dead(rt, "default", failed.id)
    with pytest.raises(NotFound):
        await dlq.replay(rt, "default", failed.id)
    with pytest.raises(NotFound):
        await dlq.purge(rt, "default", failed.id)


# --- replay -----------------------------------------------------------------------------


async def test_replay_queues_a_new_job_with_fresh_attempts_linked_both_ways(
    rt: Runtime, host: WorkerHost
) -> None:
    dead = await dead_job(
        rt,
        meta={"mine": {"kept": True}},
        callback_url="https://example.com/hook",
        idempotency_key="first-key",
        batch_id="batch-1",
        trace_id="req-old",
    )
    fresh = await dlq.replay(rt, "default", dead.id, trace_id="req-new")
    assert fresh.id != dead.id
    assert (fresh.attempts, fresh.state, fresh.replay_of) == (0, JobState.QUEUED, dead.id)
    assert (fresh.target, fresh.method, fresh.params, fresh.user_id) == (
        dead.target,
        dead.method,
        dead.params,
        dead.user_id,
    )
    assert fresh.meta == {"mine": {"kept": True}}
    assert fresh.callback_url == "https://example.com/hook"
    assert fresh.trace_id == "req-new"
    assert fresh.idempotency_key is None and fresh.batch_id is None
    assert fresh.max_attempts == rt.settings.job_retry_attempts

    done = await finished(rt, fresh.id)
    assert done.state is JobState.COMPLETED and done.attempts == 1
    assert done.replay_of == dead.id
    again = await rt.jobs.get(dead.id)
    assert again is not None
    assert again.replayed_by == fresh.id and again.state is JobState.FAILED
    assert not again.in_dlq
    assert await dlq.list_dead(rt, "default") == ([], False)
    assert await rt.broker.peek_dead() == []  # its message left flickr_dlq
    assert (await dlq.get_dead(rt, "default", dead.id)).replayed_by == fresh.id


async def test_a_second_replay_is_a_409_naming_the_first_copy(rt: Runtime) -> None:
    dead = await dead_job(rt)
    fresh = await dlq.replay(rt, "default", dead.id)
    with pytest.raises(Conflict) as caught:
        await dlq.replay(rt, "default", dead.id)
    assert caught.value.code == "ERR_ALREADY_REPLAYED"
    assert caught.value.details == {"job_id": dead.id, "replayed_by": fresh.id}
    assert fresh.id in caught.value.message
    assert await rt.broker.depth("flickr_flaky") == 1


async def test_concurrent_replays_make_one_job(rt: Runtime) -> None:
    dead = await dead_job(rt)
    results = await asyncio.gather(
        *(dlq.replay(rt, "default", dead.id) for _ in range(5)), return_exceptions=True
    )
    made = [r for r in results if isinstance(r, Job)]
    assert len(made) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, Job))
    assert await rt.broker.depth("flickr_flaky") == 1


async def test_a_replay_that_dies_again_can_be_replayed_in_turn(
    rt: Runtime, host: WorkerHost
) -> None:
    dead = await dead_job(rt)
    Flaky.failures = 3
    first = await dlq.replay(rt, "default", dead.id)
    died = await finished(rt, first.id)
    assert died.dead_lettered and died.attempts == 3  # a fresh count, used up again
    jobs, _ = await dlq.list_dead(rt, "default")
    assert [j.id for j in jobs] == [first.id]
    second = await dlq.replay(rt, "default", first.id)
    assert second.replay_of == first.id
    assert (await finished(rt, second.id)).state is JobState.COMPLETED


async def test_another_owners_dead_job_is_not_found(rt: Runtime) -> None:
    theirs = await dead_job(rt, owner="other")
    for action in (dlq.get_dead, dlq.replay, dlq.purge):
        with pytest.raises(NotFound) as caught:
            await action(rt, "default", theirs.id)
        assert caught.value.code == "ERR_DEAD_LETTER_NOT_FOUND"
    with pytest.raises(NotFound):
        await dlq.get_dead(rt, "default", "no-such-job")
    assert (await rt.jobs.get(theirs.id)).in_dlq  # type: ignore[union-attr]


async def test_a_queue_that_refuses_the_copy_leaves_the_dead_job_as_it_was(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = await dead_job(rt)

    async def refuse(queue: str, body: bytes) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(rt.broker, "publish", refuse)
    with pytest.raises(ServiceUnavailable):
        await dlq.replay(rt, "default", dead.id)
    again = await rt.jobs.get(dead.id)
    assert again is not None and again.in_dlq and again.replayed_by is None
    monkeypatch.undo()
    fresh = await dlq.replay(rt, "default", dead.id)
    assert fresh.replay_of == dead.id


async def test_a_user_no_longer_connected_is_a_409(rt: Runtime) -> None:
    dead = await dead_job(rt)
    await rt.tokens.delete("u1")
    with pytest.raises(Conflict) as caught:
        await dlq.replay(rt, "default", dead.id)
    assert caught.value.code == "ERR_TOKEN_NOT_FOUND"
    assert (await rt.jobs.get(dead.id)).in_dlq  # type: ignore[union-attr]


async def test_a_disabled_target_is_a_409(rt: Runtime) -> None:
    dead = await dead_job(rt)
    del rt.targets["flaky"]
    with pytest.raises(Conflict) as caught:
        await dlq.replay(rt, "default", dead.id)
    assert caught.value.code == "ERR_TARGET_DISABLED"


async def blob(rt: Runtime) -> str:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"\xff\xd8photo"

    info = await rt.blobs.put(chunks(), filename="cat.jpg", content_type="image/jpeg")
    return info.id


async def test_a_dead_photo_job_keeps_its_photo_for_the_copy(rt: Runtime, host: WorkerHost) -> None:
    blob_id = await blob(rt)
    dead = await dead_job(rt, blob_id=blob_id)
    fresh = await dlq.replay(rt, "default", dead.id)
    assert fresh.blob_id == blob_id
    assert await rt.blobs.stat(blob_id) is not None
    await finished(rt, fresh.id)
    assert await rt.blobs.stat(blob_id) is None  # the copy finished: the photo goes


async def test_a_photo_that_is_gone_cannot_be_replayed(rt: Runtime) -> None:
    dead = await dead_job(rt, blob_id="gone")
    with pytest.raises(Conflict) as caught:
        await dlq.replay(rt, "default", dead.id)
    assert caught.value.code == "ERR_BLOB_MISSING"


# --- purge ------------------------------------------------------------------------------


async def test_purge_takes_it_out_for_good_and_drops_its_photo(rt: Runtime) -> None:
    blob_id = await blob(rt)
    dead = await dead_job(rt, blob_id=blob_id)
    kept = await dead_job(rt)
    job, removed = await dlq.purge(rt, "default", dead.id)
    assert removed == 1
    assert job.purged_at is not None and not job.in_dlq
    stored = await rt.jobs.get(dead.id)
    assert stored is not None and stored.state is JobState.FAILED and stored.purged_at
    assert await rt.blobs.stat(blob_id) is None
    assert [j.id for j in (await dlq.list_dead(rt, "default"))[0]] == [kept.id]
    assert await dlq_ids(rt) == [kept.id]
    assert dlq.dead_view(stored)["purged_at"] is not None

    again, removed = await dlq.purge(rt, "default", dead.id)  # harmless
    assert (again.purged_at, removed) == (stored.purged_at, 0)
    with pytest.raises(Conflict) as caught:
        await dlq.replay(rt, "default", dead.id)
    assert caught.value.code == "ERR_PURGED"


async def test_a_replayed_job_cannot_be_purged_and_keeps_the_copys_photo(rt: Runtime) -> None:
    blob_id = await blob(rt)
    dead = await dead_job(rt, blob_id=blob_id)
    fresh = await dlq.replay(rt, "default", dead.id)
    with pytest.raises(Conflict) as caught:
        await dlq.purge(rt, "default", dead.id)
    assert caught.value.details == {"job_id": dead.id, "replayed_by": fresh.id}
    assert await rt.blobs.stat(blob_id) is not None


# --- many at once -----------------------------------------------------------------------


async def test_replay_many_reports_each_job_it_left(rt: Runtime) -> None:
    a = await dead_job(rt)
    b = await dead_job(rt)
    theirs = await dead_job(rt, owner="other")
    await dlq.replay(rt, "default", b.id)
    outcome = await dlq.replay_many(rt, "default", [a.id, b.id, theirs.id, a.id])
    assert [dead for dead, _ in outcome.done] == [a.id]
    assert [(e["job_id"], e["code"]) for e in outcome.errors] == [
        (b.id, "ERR_ALREADY_REPLAYED"),
        (theirs.id, "ERR_DEAD_LETTER_NOT_FOUND"),
    ]
    assert outcome.messages_removed == 1
    assert await dlq_ids(rt) == [theirs.id]


async def test_replay_all_goes_oldest_first_in_bounded_calls(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dlq, "MAX_BULK", 2)
    jobs = [await dead_job(rt, age=10 - n) for n in range(3)]
    first = await dlq.replay_many(rt, "default", None)
    assert [dead for dead, _ in first.done] == [jobs[1].id, jobs[2].id] and first.more
    second = await dlq.replay_many(rt, "default", None)
    assert [dead for dead, _ in second.done] == [jobs[0].id] and not second.more
    assert await rt.broker.peek_dead() == []
    with pytest.raises(InvalidRequest):
        await dlq.replay_many(rt, "default", ["a", "b", "c"])


async def test_replay_many_stops_when_the_caller_is_at_its_cap(rt: Runtime) -> None:
    jobs = [await dead_job(rt, age=10 - n) for n in range(3)]
    admitted = 0

    async def admit() -> None:
        nonlocal admitted
        if admitted == 1:
            raise ServiceUnavailable("too many pending jobs", code="ERR_QUEUE_FULL")
        admitted += 1

    outcome = await dlq.replay_many(rt, "default", [j.id for j in jobs], admit=admit)
    assert [dead for dead, _ in outcome.done] == [jobs[0].id]
    assert [(e["job_id"], e["code"]) for e in outcome.errors] == [
        (jobs[1].id, "ERR_QUEUE_FULL"),
        (jobs[2].id, "ERR_QUEUE_FULL"),
    ]


async def test_purge_all(rt: Runtime) -> None:
    jobs = [await dead_job(rt) for _ in range(3)]
    theirs = await dead_job(rt, owner="other")
    outcome = await dlq.purge_many(rt, "default", None)
    assert sorted(job_id for job_id, _ in outcome.done) == sorted(j.id for j in jobs)
    assert outcome.messages_removed == 3 and not outcome.errors
    assert await dlq_ids(rt) == [theirs.id]
    assert (await dlq.list_dead(rt, "other"))[0][0].id == theirs.id


# --- the broker -------------------------------------------------------------------------


async def test_memory_take_dead_removes_only_the_named_jobs_in_order() -> None:
    broker = MemoryBroker()
    for job_id in ("a", "b", "c"):
        await broker.publish(DLQ, f'{{"job_id": "{job_id}", "target": "rest"}}'.encode())
    await broker.publish(DLQ, b"not json")
    assert await broker.take_dead({"b", "x"}) == 1
    bodies = [body for body, _ in await broker.peek_dead()]
    assert bodies[-1] == b"not json"
    assert [b'"a"' in body for body in bodies[:2]] == [True, False]
    assert await broker.take_dead(set()) == 0
    assert await broker.depth(DLQ) == 3


async def test_a_failing_broker_does_not_fail_a_replay(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = await dead_job(rt)

    async def broken(job_ids: object) -> int:
        raise ServiceUnavailable("RabbitMQ could not take messages")

    monkeypatch.setattr(rt.broker, "take_dead", broken)
    fresh = await dlq.replay(rt, "default", dead.id)
    assert fresh.replay_of == dead.id
    assert len(await rt.broker.peek_dead()) == 1  # only noise now: the store says replayed


async def test_replay_and_purge_are_announced(rt: Runtime) -> None:
    seen: list[tuple[str, str]] = []

    @hookimpl
    def job_event(event: Any) -> None:
        seen.append((event.name, event.job.id))

    rt.plugins.pm.register(types.SimpleNamespace(job_event=job_event), name="spy")
    a = await dead_job(rt)
    b = await dead_job(rt)
    fresh = await dlq.replay(rt, "default", a.id)
    await dlq.purge(rt, "default", b.id)
    assert seen == [("job_enqueued", fresh.id), ("job_replayed", a.id), ("job_purged", b.id)]
