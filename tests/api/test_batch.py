"""Batches: ``POST /api/v1/flickr/batch`` and ``GET /api/v1/flickr/batches/<id>``."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from flickrhub_core.jobs import Job, JobState
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import JobQuery, StoredToken
from tests.api.conftest import Client, connect, finish_job

BATCH = "/api/v1/flickr/batch"
BATCHES = "/api/v1/flickr/batches"


def call(n: int = 0, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "method": "flickr.photos.search",
        "params": {"tags": f"tag-{n}", "per_page": 5},
        "user_id": "user-1",
    }
    body.update(overrides)
    return body


async def send(client: Client, calls: list[dict[str, Any]], **kwargs: Any) -> Any:
    return await client.post(BATCH, json={"calls": calls}, **kwargs)


async def accepted(client: Client, calls: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    response = await send(client, calls, **kwargs)
    assert response.status_code == 202, await response.get_data(as_text=True)
    data: dict[str, Any] = (await response.get_json())["data"]
    return data


async def status(client: Client, batch_id: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"{BATCHES}/{batch_id}", query_string=params)
    assert response.status_code == 200, await response.get_data(as_text=True)
    data: dict[str, Any] = (await response.get_json())["data"]
    return data


async def nothing_queued(rt: Runtime) -> None:
    assert await rt.broker.depth("flickr_rest") == 0
    assert await rt.jobs.list(JobQuery(owner="default")) == []


def fields(body: dict[str, Any]) -> list[str]:
    return [detail["field"] for detail in body["error"]["fields"]]


# --- enqueue -------------------------------------------------------------------------


async def test_a_batch_checks_its_accounts_without_reading_their_tokens(
    client: Client, rt: Runtime, sealed_user: StoredToken
) -> None:
    await connect(rt, "theirs", owner="other-client")

    assert len((await accepted(client, [call(0), call(1)]))["job_ids"]) == 2
    assert (await send(client, [call(0), call(1, user_id="theirs")])).status_code == 404


async def test_a_batch_queues_every_call_in_order(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    data = await accepted(client, [call(i) for i in range(5)])

    uuid.UUID(data["batch_id"], version=4)
    assert data["status_url"] == f"{BATCHES}/{data['batch_id']}"
    assert data["idempotent_replay"] is False
    assert len(data["job_ids"]) == len(set(data["job_ids"])) == 5
    assert await rt.broker.depth("flickr_rest") == 5
    for i, job_id in enumerate(data["job_ids"]):
        job = await rt.jobs.get(job_id)
        assert job is not None
        assert job.batch_id == data["batch_id"]
        assert job.params["tags"] == f"tag-{i}"
        assert job.state is JobState.QUEUED


async def test_calls_keep_their_own_fields(client: Client, rt: Runtime, user: StoredToken) -> None:
    await connect(rt, "user-2", nsid="2@N01")
    data = await accepted(
        client,
        [
            call(0, meta={"page": 1}, cache=False),
            call(1, user_id="user-2", callback_url="https://93.184.216.34/hook"),
        ],
    )
    first, second = [await rt.jobs.get(job_id) for job_id in data["job_ids"]]
    assert first is not None and second is not None
    assert first.meta == {"page": 1} and first.cache_bypass
    assert second.user_id == "user-2"
    assert second.callback_url == "https://93.184.216.34/hook"
    assert first.trace_id == second.trace_id  # one request


async def test_a_batch_of_100_is_accepted_and_101_is_not(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    response = await send(client, [call(i) for i in range(101)])
    assert response.status_code == 400
    assert fields(await response.get_json()) == ["calls"]
    await nothing_queued(rt)
    data = await accepted(client, [call(i) for i in range(100)])
    assert len(data["job_ids"]) == 100


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"calls": []}, ["calls"]),
        ({}, ["calls"]),
        ({"calls": "flickr.test.echo"}, ["calls"]),
        ({"calls": [call(0), {"method": "flickr.test.echo"}]}, ["calls.1.user_id"]),
        ({"calls": [call(0), call(1, params=[1])]}, ["calls.1.params"]),
        ({"calls": [call(0), call(1, callback_url="ftp://x")]}, ["calls.1.callback_url"]),
    ],
)
async def test_malformed_batches_are_400_with_indexed_fields(
    client: Client, rt: Runtime, user: StoredToken, body: dict[str, Any], expected: list[str]
) -> None:
    response = await client.post(BATCH, json=body)
    assert response.status_code == 400
    assert fields(await response.get_json()) == expected
    await nothing_queued(rt)


async def test_a_call_without_method_or_user_id_is_named_by_index(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    response = await send(client, [call(0), {}])
    assert (await response.get_json())["error"]["details"] == [
        "calls.1.method is required",
        "calls.1.user_id is required",
    ]


async def test_one_bad_call_queues_nothing_and_every_problem_is_named(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    calls = [
        call(0),
        call(1, params={"x": {"nested": True}}),
        call(2),
        call(3, target="teleport"),
        call(4, method="not a method"),
        call(5, callback_url="http://127.0.0.1:8080/hook"),
    ]
    response = await send(client, calls)
    assert response.status_code == 400
    body = await response.get_json()
    assert body["error"]["code"] == "ERR_INVALID_REQUEST"
    assert fields(body) == [
        "calls.1.params.x",
        "calls.3.target",
        "calls.4.method",
        "calls.5.callback_url",
    ]
    await nothing_queued(rt)


async def test_an_unknown_user_in_any_call_is_404_for_the_whole_batch(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    response = await send(client, [call(0), call(1, user_id="nobody"), call(2)])
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "ERR_TOKEN_NOT_FOUND"
    await nothing_queued(rt)


async def test_another_owners_user_is_404_too(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    await connect(rt, "theirs", owner="other-client", nsid="9@N01")
    response = await send(client, [call(0), call(1, user_id="theirs")])
    assert response.status_code == 404
    await nothing_queued(rt)


async def test_validation_comes_before_the_user_check(client: Client, rt: Runtime) -> None:
    response = await send(client, [call(0, user_id="nobody", params={"x": {"y": 1}})])
    assert response.status_code == 400
    await nothing_queued(rt)


async def test_a_broker_failure_part_way_withdraws_the_queued_jobs(
    client: Client, rt: Runtime, user: StoredToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish = rt.broker.publish
    published = 0

    async def flaky(queue: str, body: bytes) -> None:
        nonlocal published
        published += 1
        if published == 3:
            raise ConnectionError("broker went away")
        await publish(queue, body)

    monkeypatch.setattr(rt.broker, "publish", flaky)
    response = await send(client, [call(i) for i in range(5)])
    assert response.status_code == 503
    # The two published messages stay in the queue, but their jobs are gone (a
    # worker acks a message without a record) and nothing is left queued.
    assert (await response.get_json())["error"]["code"] == "ERR_UNAVAILABLE"
    assert await rt.jobs.list(JobQuery(owner="default")) == []
    monkeypatch.setattr(rt.broker, "publish", publish)
    data = await accepted(client, [call(i) for i in range(5)])
    assert len(data["job_ids"]) == 5


async def test_the_pending_cap_counts_the_whole_batch(make_runtime: Any) -> None:
    from flickrhub_api import create_app

    rt = make_runtime(max_pending_jobs=4)
    app = create_app(rt)
    async with app.test_app():
        await connect(rt)
        client = app.test_client()
        response = await send(client, [call(i) for i in range(5)])
        assert response.status_code == 503
        assert (await response.get_json())["error"]["code"] == "ERR_QUEUE_FULL"
        await nothing_queued(rt)
        assert len((await accepted(client, [call(i) for i in range(4)]))["job_ids"]) == 4


# --- idempotency ---------------------------------------------------------------------


async def test_the_same_key_returns_the_first_batch(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    headers = {"Idempotency-Key": "nightly-sync-1"}
    calls = [call(i) for i in range(3)]
    first = await accepted(client, calls, headers=headers)
    again = await accepted(client, calls, headers=headers)
    assert again["batch_id"] == first["batch_id"]
    assert again["job_ids"] == first["job_ids"]
    assert again["idempotent_replay"] is True
    assert await rt.broker.depth("flickr_rest") == 3


async def test_concurrent_retries_of_a_batch_make_one_batch(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    headers = {"Idempotency-Key": "burst"}
    calls = [call(i) for i in range(3)]
    responses = await asyncio.gather(*(send(client, calls, headers=headers) for _ in range(4)))
    batch_ids = {(await r.get_json())["data"]["batch_id"] for r in responses}
    assert len(batch_ids) == 1
    assert await rt.broker.depth("flickr_rest") == 3


async def test_the_same_key_with_other_calls_is_a_409(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    headers = {"Idempotency-Key": "nightly-sync-2"}
    first = await accepted(client, [call(0), call(1)], headers=headers)
    for calls in ([call(0)], [call(0), call(2)], [call(0), call(1), call(2)]):
        response = await send(client, calls, headers=headers)
        assert response.status_code == 409
        assert (await response.get_json())["error"]["details"] == {"batch_id": first["batch_id"]}
    assert await rt.broker.depth("flickr_rest") == 2


async def test_a_batch_key_does_not_meet_a_rest_key(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    await accepted(client, [call(0)], headers=headers)
    response = await client.post("/api/v1/flickr/rest", json=call(0), headers=headers)
    assert response.status_code == 202
    assert (await response.get_json())["data"]["idempotent_replay"] is False


# --- status --------------------------------------------------------------------------


async def test_status_counts_the_jobs_by_state(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    data = await accepted(client, [call(i) for i in range(4)])
    batch_id = data["batch_id"]

    view = await status(client, batch_id)
    assert view["batch_id"] == batch_id
    assert view["total"] == 4
    assert view["counts"] == {
        "queued": 4,
        "running": 0,
        "retrying": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
    }
    assert view["done"] is False
    assert [job["job_id"] for job in view["jobs"]] == data["job_ids"]

    first, second, third, _fourth = data["job_ids"]
    await finish_job(rt, first, {"stat": "ok"})
    failed = await rt.jobs.get(second)
    assert failed is not None
    failed.state = JobState.FAILED
    failed.error = {"code": "ERR_FLICKR_API", "message": "nope", "retryable": False}
    await rt.jobs.save(failed)
    running = await rt.jobs.get(third)
    assert running is not None
    running.state = JobState.RUNNING
    await rt.jobs.save(running)
    cancel = await client.post(f"/api/v1/flickr/jobs/{_fourth}/cancel", json={})
    assert cancel.status_code == 200

    view = await status(client, batch_id)
    assert view["counts"] == {
        "queued": 0,
        "running": 1,
        "retrying": 0,
        "completed": 1,
        "failed": 1,
        "cancelled": 1,
    }
    assert view["done"] is False
    assert view["jobs"][0]["result"] == {"stat": "ok"}
    assert view["jobs"][1]["failedReason"] == "nope"

    await finish_job(rt, third)
    view = await status(client, batch_id)
    assert view["done"] is True
    assert view["counts"]["completed"] == 2


async def test_status_waits_for_the_batch_to_finish(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    data = await accepted(client, [call(0), call(1)])

    async def finish_later() -> None:
        await asyncio.sleep(0.2)
        for job_id in data["job_ids"]:
            await finish_job(rt, job_id)

    finisher = asyncio.create_task(finish_later())
    view = await status(client, data["batch_id"], wait=5)
    await finisher
    assert view["done"] is True


async def test_unknown_and_other_owners_batches_are_404(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    response = await client.get(f"{BATCHES}/{uuid.uuid4()}")
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "ERR_BATCH_NOT_FOUND"

    theirs = Job(owner="other-client", user_id="x", target="rest", batch_id="their-batch")
    await rt.jobs.save(theirs)
    response = await client.get(f"{BATCHES}/their-batch")
    assert response.status_code == 404


async def test_the_listing_filters_by_batch(client: Client, rt: Runtime, user: StoredToken) -> None:
    data = await accepted(client, [call(0), call(1)])
    await accepted(client, [call(2)])
    response = await client.get("/api/v1/flickr/jobs", query_string={"batch_id": data["batch_id"]})
    listed = [job["job_id"] for job in (await response.get_json())["data"]["jobs"]]
    assert listed == list(reversed(data["job_ids"]))
    assert all(
        job["batch_id"] == data["batch_id"] for job in (await response.get_json())["data"]["jobs"]
    )
