"""Enqueueing Flickr calls and following their jobs."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable
from typing import Any

import pytest

from flickrhub_api import create_app
from flickrhub_api.models import EnqueueData
from flickrhub_core import Target, TargetContext, hookimpl
from flickrhub_core.jobs import JobState
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import JobQuery, StoredToken
from tests.api.conftest import REST, Client, connect, finish_job

STATUS = "/api/v1/flickr/jobs/status"


def call(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "method": "flickr.photos.search",
        "params": {"tags": "cat", "per_page": 10, "safe": True},
        "user_id": "user-1",
    }
    body.update(overrides)
    return body


async def enqueue(client: Client, **overrides: Any) -> dict[str, Any]:
    response = await client.post(REST, json=call(**overrides))
    assert response.status_code == 202, await response.get_data(as_text=True)
    data: dict[str, Any] = (await response.get_json())["data"]
    return data


async def test_enqueue_answers_202_with_the_job(client: Client, user: StoredToken) -> None:
    data = await enqueue(client)
    assert data["state"] == "queued"
    assert data["queue"] == "flickr_rest"
    assert data["status_url"] == f"/api/v1/flickr/jobs/{data['job_id']}"
    assert data["idempotent_replay"] is False
    # Built as a dict (no model on the hot path): the fields the OpenAPI document shows.
    assert EnqueueData.model_validate(data).model_dump(mode="json") == data


async def test_enqueued_job_is_stored_with_flat_params_and_the_request_id(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    response = await client.post(
        REST, json=call(meta={"page": 2}, callback_url="https://x.test/cb")
    )
    data = (await response.get_json())["data"]
    job = await rt.jobs.get(data["job_id"])
    assert job is not None
    assert job.params == {"tags": "cat", "per_page": "10", "safe": "1"}
    assert job.trace_id == response.headers["X-Request-ID"]
    assert job.meta == {"page": 2}
    assert job.callback_url == "https://x.test/cb"
    assert job.max_attempts == rt.settings.job_retry_attempts
    assert await rt.broker.depth("flickr_rest") == 1


async def test_cache_false_bypasses_the_cache(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    data = await enqueue(client, cache=False)
    job = await rt.jobs.get(data["job_id"])
    assert job is not None and job.cache_bypass


async def test_status_shows_the_earlier_systems_fields(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    data = await enqueue(client)
    await finish_job(rt, data["job_id"], {"stat": "ok"})
    response = await client.post(STATUS, json={"job_id": data["job_id"], "user_id": "user-1"})
    assert response.status_code == 200
    view = (await response.get_json())["data"]
    assert view["id"] == data["job_id"]
    assert view["state"] == "completed"
    assert view["queue"] == "flickr_rest"
    assert view["returnvalue"] == {"from_cache": False, "flickr": {"stat": "ok"}}


async def test_status_of_a_failed_job_has_failed_reason(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    data = await enqueue(client)
    job = await rt.jobs.get(data["job_id"])
    assert job is not None
    job.state = JobState.FAILED
    job.error = {"code": "ERR_FLICKR_API", "message": "Photo not found", "retryable": False}
    await rt.jobs.save(job)
    response = await client.post(STATUS, json={"job_id": job.id, "user_id": "user-1"})
    view = (await response.get_json())["data"]
    assert view["failedReason"] == "Photo not found"


async def test_status_needs_job_id_and_user_id(client: Client) -> None:
    response = await client.post(STATUS, json={"job_id": "x"})
    assert response.status_code == 400
    assert (await response.get_json())["error"]["message"] == "job_id and user_id are required"


async def test_status_with_an_empty_job_id_is_the_earlier_systems_message(client: Client) -> None:
    response = await client.post(STATUS, json={"job_id": "", "user_id": "user-1"})
    error = (await response.get_json())["error"]
    assert error["message"] == "job_id and user_id are required"
    assert error["details"] == ["job_id is required"]


async def test_status_with_a_too_long_job_id_says_it_is_too_long(client: Client) -> None:
    response = await client.post(STATUS, json={"job_id": "j" * 300, "user_id": "user-1"})
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["message"] == "job_id is too long (at most 200 characters)"
    assert error["details"] == ["job_id is too long (at most 200 characters)"]


async def test_status_of_another_users_job_is_not_found(client: Client, user: StoredToken) -> None:
    data = await enqueue(client)
    response = await client.post(STATUS, json={"job_id": data["job_id"], "user_id": "user-2"})
    assert response.status_code == 404
    error = (await response.get_json())["error"]
    assert error == {"code": "ERR_JOB_NOT_FOUND", "message": "job_not_found", "details": None}


async def test_status_of_another_owners_job_is_not_found(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    data = await enqueue(client)
    job = await rt.jobs.get(data["job_id"])
    assert job is not None
    job.owner = "someone-else"
    await rt.jobs.save(job)
    response = await client.post(STATUS, json={"job_id": job.id, "user_id": "user-1"})
    assert response.status_code == 404


async def test_unknown_user_is_token_not_found(client: Client) -> None:
    response = await client.post(REST, json=call(user_id="nobody"))
    assert response.status_code == 404
    error = (await response.get_json())["error"]
    assert error == {"code": "ERR_TOKEN_NOT_FOUND", "message": "token_not_found", "details": None}


async def test_user_of_another_owner_is_token_not_found(client: Client, rt: Runtime) -> None:
    await connect(rt, "theirs", owner="other-client")
    response = await client.post(REST, json=call(user_id="theirs"))
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "ERR_TOKEN_NOT_FOUND"


async def test_an_enqueue_checks_the_account_without_reading_its_token(
    client: Client, rt: Runtime, sealed_user: StoredToken
) -> None:
    await connect(rt, "theirs", owner="other-client")

    assert (await client.post(REST, json=call())).status_code == 202
    assert (await client.post(REST, json=call(user_id="theirs"))).status_code == 404
    assert (await client.post(REST, json=call(user_id="nobody"))).status_code == 404


async def test_objects_nested_arrays_and_nulls_in_params_are_refused(
    client: Client, user: StoredToken
) -> None:
    params = {"o": {"a": 1}, "nested": [["a"]], "holey": ["a", None], "x": None}
    response = await client.post(REST, json=call(params=params))
    assert response.status_code == 400
    fields = {d["field"] for d in (await response.get_json())["error"]["fields"]}
    assert fields == {"params.o", "params.nested", "params.holey", "params.x"}


async def stored_params(client: Client, rt: Runtime, params: dict[str, Any]) -> dict[str, str]:
    job = await rt.jobs.get((await enqueue(client, params=params))["job_id"])
    assert job is not None
    return job.params


async def test_array_params_are_sent_comma_separated(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    params = {"extras": ["url_m", "owner_name"], "ids": [1, 2.0]}
    assert await stored_params(client, rt, params) == {"extras": "url_m,owner_name", "ids": "1,2"}


async def test_whole_floats_are_sent_as_integers_and_booleans_as_1_or_0(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    params = {"page": 2.0, "lat": 45.5, "is_public": True, "is_friend": False}
    assert await stored_params(client, rt, params) == {
        "page": "2",
        "lat": "45.5",
        "is_public": "1",
        "is_friend": "0",
    }


@pytest.mark.parametrize("nojsoncallback", [1, "1", True])
async def test_format_json_and_nojsoncallback_1_from_flickrs_examples_are_dropped(
    client: Client, rt: Runtime, user: StoredToken, nojsoncallback: object
) -> None:
    params = {"tags": "cat", "format": "json", "nojsoncallback": nojsoncallback}
    assert await stored_params(client, rt, params) == {"tags": "cat"}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("format", "xml", "params.format: set by FlickrHub: omit it or send json"),
        ("format", "php_serial", "params.format: set by FlickrHub: omit it or send json"),
        ("nojsoncallback", 0, "params.nojsoncallback: set by FlickrHub: omit it or send 1"),
        ("nojsoncallback", "true", "params.nojsoncallback: set by FlickrHub: omit it or send 1"),
    ],
)
async def test_other_values_of_format_and_nojsoncallback_are_refused(
    client: Client, user: StoredToken, name: str, value: object, message: str
) -> None:
    response = await client.post(REST, json=call(params={name: value}))
    assert response.status_code == 400
    assert (await response.get_json())["error"]["details"] == [message]


@pytest.mark.parametrize(
    "name", ["api_key", "api_sig", "auth_token", "oauth_token", "jsoncallback", "method"]
)
async def test_params_flickrhub_sets_are_refused(
    client: Client, user: StoredToken, name: str
) -> None:
    response = await client.post(REST, json=call(params={name: "x"}))
    assert response.status_code == 400
    assert (await response.get_json())["error"]["details"] == [f"params.{name}: set by FlickrHub"]


async def test_missing_method_is_the_earlier_systems_message(
    client: Client, user: StoredToken
) -> None:
    response = await client.post(REST, json=call(method=None))
    assert response.status_code == 400
    assert (await response.get_json())["error"]["details"] == ["method is required"]


async def test_a_null_method_is_the_earlier_systems_message(
    client: Client, user: StoredToken
) -> None:
    response = await client.post(REST, json=call(method=None))
    assert (await response.get_json())["error"]["details"] == ["method is required"]


async def test_a_target_that_needs_no_method_takes_a_request_without_one(
    make_runtime: Callable[..., Runtime],
) -> None:
    class Methodless(Target):
        name = "methodless"

        async def execute(self, ctx: TargetContext) -> Any:
            return None

    @hookimpl
    def register_targets(register: Callable[[Target], None]) -> None:
        register(Methodless())

    module = types.ModuleType("methodless_target")
    module.register_targets = register_targets  # type: ignore[attr-defined]
    rt = make_runtime(("methodless_target", module))
    app = create_app(rt)
    async with app.test_app():
        await connect(rt)
        response = await app.test_client().post(
            REST, json={"user_id": "user-1", "target": "methodless"}
        )
    assert response.status_code == 202


async def test_unknown_target_lists_the_enabled_ones(client: Client, user: StoredToken) -> None:
    response = await client.post(REST, json=call(target="teleport"))
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["details"] == ["target must be rest"]
    assert error["fields"][0]["enabled"] == ["rest"]


async def test_photo_target_on_rest_points_to_the_upload_route(
    client: Client, user: StoredToken
) -> None:
    response = await client.post(REST, json=call(target="upload"))
    assert response.status_code == 400
    detail = (await response.get_json())["error"]["fields"][0]
    assert "/api/v1/flickr/upload" in detail["message"]


async def test_callback_url_must_be_http(client: Client, user: StoredToken) -> None:
    response = await client.post(REST, json=call(callback_url="file:///etc/passwd"))
    assert response.status_code == 400


async def test_same_idempotency_key_returns_the_first_job(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = await client.post(REST, json=call(), headers=headers)
    again = await client.post(REST, json=call(), headers=headers)
    assert first.status_code == again.status_code == 202
    first_data, again_data = (await first.get_json())["data"], (await again.get_json())["data"]
    assert again_data["job_id"] == first_data["job_id"]
    assert again_data["idempotent_replay"] is True
    assert await rt.broker.depth("flickr_rest") == 1


async def test_concurrent_requests_with_one_key_make_one_job(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    headers = {"Idempotency-Key": "burst"}
    responses = await asyncio.gather(
        *(client.post(REST, json=call(), headers=headers) for _ in range(5))
    )
    ids = {(await r.get_json())["data"]["job_id"] for r in responses}
    assert len(ids) == 1
    assert await rt.broker.depth("flickr_rest") == 1


async def test_idempotency_key_reused_for_another_request_is_a_409(
    client: Client, user: StoredToken
) -> None:
    headers = {"Idempotency-Key": "order-43"}
    await client.post(REST, json=call(), headers=headers)
    response = await client.post(REST, json=call(params={"tags": "dog"}), headers=headers)
    assert response.status_code == 409
    assert (await response.get_json())["error"]["code"] == "ERR_CONFLICT"


@pytest.mark.parametrize(
    "change",
    [{"callback_url": "https://x.test/other"}, {"meta": {"page": 3}}, {"cache": False}],
    ids=["callback_url", "meta", "cache"],
)
async def test_idempotency_key_with_another_callback_meta_or_cache_is_a_409(
    client: Client, user: StoredToken, change: dict[str, Any]
) -> None:
    headers = {"Idempotency-Key": "order-44"}
    first = call(callback_url="https://x.test/cb", meta={"page": 2})
    assert (await client.post(REST, json=first, headers=headers)).status_code == 202
    response = await client.post(REST, json={**first, **change}, headers=headers)
    assert response.status_code == 409


async def test_get_job_answers_its_state(client: Client, user: StoredToken) -> None:
    data = await enqueue(client)
    response = await client.get(f"/api/v1/flickr/jobs/{data['job_id']}")
    assert response.status_code == 200
    assert (await response.get_json())["data"]["state"] == "queued"


async def test_get_job_of_another_user_is_not_found(client: Client, user: StoredToken) -> None:
    data = await enqueue(client)
    response = await client.get(
        f"/api/v1/flickr/jobs/{data['job_id']}", query_string={"user_id": "user-2"}
    )
    assert response.status_code == 404


async def test_get_unknown_job_is_not_found(client: Client) -> None:
    response = await client.get("/api/v1/flickr/jobs/no-such-job")
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "ERR_JOB_NOT_FOUND"


async def test_wait_returns_as_soon_as_the_job_finishes(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    data = await enqueue(client)

    async def worker() -> None:
        await asyncio.sleep(0.3)
        await finish_job(rt, data["job_id"], {"stat": "ok"})

    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.create_task(worker())
    response = await client.get(
        f"/api/v1/flickr/jobs/{data['job_id']}", query_string={"wait": "10", "user_id": "user-1"}
    )
    elapsed = loop.time() - started
    await task
    assert (await response.get_json())["data"]["state"] == "completed"
    assert 0.25 <= elapsed < 2


async def test_wait_gives_up_after_the_timeout(client: Client, user: StoredToken) -> None:
    data = await enqueue(client)
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await client.get(
        f"/api/v1/flickr/jobs/{data['job_id']}", query_string={"wait": "0.3"}
    )
    assert (await response.get_json())["data"]["state"] == "queued"
    assert loop.time() - started >= 0.3


async def test_wait_over_thirty_seconds_is_refused(client: Client) -> None:
    response = await client.get("/api/v1/flickr/jobs/x", query_string={"wait": "31"})
    assert response.status_code == 400
    assert (await response.get_json())["error"]["fields"][0]["field"] == "wait"


async def test_cancel_a_queued_job(client: Client, rt: Runtime, user: StoredToken) -> None:
    data = await enqueue(client)
    response = await client.post(
        f"/api/v1/flickr/jobs/{data['job_id']}/cancel", json={"user_id": "user-1"}
    )
    assert response.status_code == 200
    assert (await response.get_json())["data"]["state"] == "cancelled"
    job = await rt.jobs.get(data["job_id"])
    assert job is not None and job.state is JobState.CANCELLED


async def test_cancel_a_running_job_asks_it_to_stop(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    data = await enqueue(client)
    job = await rt.jobs.get(data["job_id"])
    assert job is not None
    job.state = JobState.RUNNING
    await rt.jobs.save(job)
    response = await client.post(f"/api/v1/flickr/jobs/{job.id}/cancel")
    assert response.status_code == 202
    assert (await response.get_json())["data"] == {
        "job_id": job.id,
        "state": "cancelling",
        "status_url": f"/api/v1/flickr/jobs/{job.id}",
    }
    stored = await rt.jobs.get(job.id)
    assert stored is not None and stored.state is JobState.RUNNING and stored.cancel_requested


async def test_cancel_a_finished_job_is_a_409(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    data = await enqueue(client)
    job = await rt.jobs.get(data["job_id"])
    assert job is not None
    job.state = JobState.COMPLETED
    await rt.jobs.save(job)
    response = await client.post(f"/api/v1/flickr/jobs/{job.id}/cancel")
    assert response.status_code == 409
    assert (await response.get_json())["error"]["details"] == {"state": "completed"}


async def test_cancel_for_another_user_is_not_found(client: Client, user: StoredToken) -> None:
    data = await enqueue(client)
    response = await client.post(
        f"/api/v1/flickr/jobs/{data['job_id']}/cancel", query_string={"user_id": "user-2"}
    )
    assert response.status_code == 404


async def test_a_broker_that_refuses_the_job_is_a_503_and_keeps_no_record(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    async def refuse(queue: str, body: bytes) -> None:
        raise ConnectionError("broker down")

    rt.broker.publish = refuse  # type: ignore[method-assign]
    response = await client.post(REST, json=call())
    assert response.status_code == 503
    assert (await response.get_json())["error"]["code"] == "ERR_UNAVAILABLE"
    assert await rt.jobs.list(JobQuery(owner="default")) == []
