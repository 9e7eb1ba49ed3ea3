"""The dead-letter routes (``/api/v1/admin/dlq``): list, show, replay, purge, each
client seeing only its own dead letters; and cancelling a running job over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr
from quart import Quart

from flickrhub_api import create_app
from flickrhub_core.jobs import Job, JobState
from flickrhub_core.runtime import Runtime
from tests.api.conftest import Client, connect
from tests.helpers import store_dead_job

ADMIN = "/api/v1/admin/dlq"
KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef"}


def as_client(name: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[name]}


async def dead(rt: Runtime, *, owner: str = "default", age: float = 0, **fields: Any) -> Job:
    return await store_dead_job(
        rt,
        age=age,
        owner=owner,
        user_id="user-1",
        target="rest",
        method="flickr.photos.getInfo",
        params={"photo_id": "42"},
        error={"code": "ERR_FLICKR_HTTP", "message": "HTTP 502 from Flickr", "retryable": True},
        **fields,
    )


async def send(client: Client, method: str, path: str, **options: Any) -> Any:
    call = {"GET": client.get, "POST": client.post, "DELETE": client.delete}[method]
    return await call(path, **options)


async def body(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = await response.get_json()
    return data


@pytest.fixture
async def user(rt: Runtime, app: Quart) -> None:
    await connect(rt)


async def test_list_and_show(client: Client, rt: Runtime, user: None) -> None:
    jobs = [await dead(rt, age=10 - n) for n in range(3)]
    await rt.jobs.save(Job(user_id="user-1", target="rest", state=JobState.FAILED))
    response = await client.get(ADMIN, query_string={"limit": "2"})
    assert response.status_code == 200
    data = (await body(response))["data"]
    assert [j["job_id"] for j in data["jobs"]] == [jobs[2].id, jobs[1].id]
    first = data["jobs"][0]
    assert first["reason"] == "HTTP 502 from Flickr"
    assert first["in_dlq"] is True and first["dead_lettered"] is True
    assert first["state"] == "failed" and first["attempts"] == 3
    rest = await client.get(ADMIN, query_string={"cursor": data["next_cursor"]})
    data = (await body(rest))["data"]
    assert [j["job_id"] for j in data["jobs"]] == [jobs[0].id]
    assert data["next_cursor"] is None

    shown = await client.get(f"{ADMIN}/{jobs[0].id}")
    assert shown.status_code == 200
    assert (await body(shown))["data"]["params"] == {"photo_id": "42"}


async def test_bad_queries_are_400s(client: Client) -> None:
    for query in ({"limit": "0"}, {"limit": "201"}, {"cursor": "garbage"}):
        response = await client.get(ADMIN, query_string=query)
        assert response.status_code == 400, query


async def test_replay_answers_202_with_the_new_job(client: Client, rt: Runtime, user: None) -> None:
    job = await dead(rt)
    response = await client.post(f"{ADMIN}/{job.id}/replay")
    assert response.status_code == 202
    data = (await body(response))["data"]
    assert data["replay_of"] == job.id and data["state"] == "queued"
    assert data["status_url"] == f"/api/v1/flickr/jobs/{data['job_id']}"
    fresh = await rt.jobs.get(data["job_id"])
    assert fresh is not None and fresh.attempts == 0 and fresh.replay_of == job.id
    assert fresh.trace_id == response.headers["X-Request-ID"]

    status = await client.get(f"/api/v1/flickr/jobs/{data['job_id']}")
    assert (await body(status))["data"]["replay_of"] == job.id
    shown = (await body(await client.get(f"{ADMIN}/{job.id}")))["data"]
    assert shown["replayed_by"] == data["job_id"] and shown["in_dlq"] is False
    assert (await body(await client.get(ADMIN)))["data"]["jobs"] == []
    assert await rt.broker.peek_dead() == []

    again = await client.post(f"{ADMIN}/{job.id}/replay")
    assert again.status_code == 409
    error = (await body(again))["error"]
    assert error["code"] == "ERR_ALREADY_REPLAYED"
    assert error["details"] == {"job_id": job.id, "replayed_by": data["job_id"]}


async def test_replay_when_the_account_is_gone_is_a_409(
    client: Client, rt: Runtime, user: None
) -> None:
    job = await dead(rt)
    await rt.tokens.delete("user-1")
    response = await client.post(f"{ADMIN}/{job.id}/replay")
    assert response.status_code == 409
    assert (await body(response))["error"]["code"] == "ERR_TOKEN_NOT_FOUND"


async def test_replay_respects_the_pending_jobs_cap(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = make_runtime(max_pending_jobs=1)
    app = create_app(rt)
    async with app.test_app():
        client = app.test_client()
        await connect(rt)
        first, second = await dead(rt), await dead(rt)
        assert (await client.post(f"{ADMIN}/{first.id}/replay")).status_code == 202
        full = await client.post(f"{ADMIN}/{second.id}/replay")
        assert full.status_code == 503
        assert (await body(full))["error"]["code"] == "ERR_QUEUE_FULL"
        assert (await rt.jobs.get(second.id)).in_dlq  # type: ignore[union-attr]
        bulk = await client.post(f"{ADMIN}/replay", json={"all": True})
        assert bulk.status_code == 202
        data = (await body(bulk))["data"]
        assert data["replayed"] == []
        assert [(e["job_id"], e["code"]) for e in data["errors"]] == [(second.id, "ERR_QUEUE_FULL")]


async def test_bulk_replay(client: Client, rt: Runtime, user: None) -> None:
    a, b = await dead(rt, age=2), await dead(rt, age=1)
    response = await client.post(f"{ADMIN}/replay", json={"job_ids": [a.id, "nope"]})
    assert response.status_code == 202
    data = (await body(response))["data"]
    assert [r["job_id"] for r in data["replayed"]] == [a.id]
    assert data["errors"] == [
        {
            "job_id": "nope",
            "code": "ERR_DEAD_LETTER_NOT_FOUND",
            "message": "no dead-lettered job with this id",
        }
    ]
    assert data["messages_removed"] == 1 and data["more"] is False
    everything = await client.post(f"{ADMIN}/replay", json={"all": True})
    data = (await body(everything))["data"]
    assert [r["job_id"] for r in data["replayed"]] == [b.id] and data["errors"] == []


@pytest.mark.parametrize(
    "payload",
    [{}, {"all": False}, {"job_ids": []}, {"job_ids": ["a"], "all": True}, {"job_ids": "a"}],
)
async def test_a_bulk_body_names_ids_or_all(client: Client, payload: dict[str, Any]) -> None:
    for route in ("replay", "purge"):
        response = await client.post(f"{ADMIN}/{route}", json=payload)
        assert response.status_code == 400, (route, payload)
        assert (await body(response))["error"]["code"] == "ERR_INVALID_REQUEST"


async def test_a_bulk_body_is_bounded(client: Client) -> None:
    response = await client.post(f"{ADMIN}/purge", json={"job_ids": ["x"] * 501})
    assert response.status_code == 400


async def test_purge(client: Client, rt: Runtime, user: None) -> None:
    job, kept = await dead(rt), await dead(rt)
    response = await client.delete(f"{ADMIN}/{job.id}")
    assert response.status_code == 200
    data = (await body(response))["data"]
    assert data["job_id"] == job.id and data["purged"] is True
    assert data["purged_at"] and data["messages_removed"] == 1
    assert (await client.delete(f"{ADMIN}/{job.id}")).status_code == 200  # harmless again
    stored = await rt.jobs.get(job.id)
    assert stored is not None and stored.state is JobState.FAILED and not stored.in_dlq
    assert (await client.post(f"{ADMIN}/{job.id}/replay")).status_code == 409

    bulk = await client.post(f"{ADMIN}/purge", json={"all": True})
    assert bulk.status_code == 200
    data = (await body(bulk))["data"]
    assert data == {"purged": [kept.id], "errors": [], "more": False, "messages_removed": 1}
    assert await rt.broker.peek_dead() == []


async def test_a_replayed_job_cannot_be_purged(client: Client, rt: Runtime, user: None) -> None:
    job = await dead(rt)
    await client.post(f"{ADMIN}/{job.id}/replay")
    response = await client.delete(f"{ADMIN}/{job.id}")
    assert response.status_code == 409
    assert (await body(response))["error"]["code"] == "ERR_ALREADY_REPLAYED"


async def test_jobs_that_did_not_die_are_not_dead_letters(
    client: Client, rt: Runtime, user: None
) -> None:
    failed = Job(user_id="user-1", target="rest", state=JobState.FAILED)
    await rt.jobs.save(failed)
    for method, path in (
        ("GET", f"{ADMIN}/{failed.id}"),
        ("POST", f"{ADMIN}/{failed.id}/replay"),
        ("DELETE", f"{ADMIN}/{failed.id}"),
        ("GET", f"{ADMIN}/no-such-job"),
    ):
        response = await send(client, method, path)
        assert response.status_code == 404, path
        assert (await body(response))["error"]["code"] == "ERR_DEAD_LETTER_NOT_FOUND"


# --- each client its own ----------------------------------------------------------------


@pytest.fixture
def keyed_rt(make_runtime: Callable[..., Runtime]) -> Runtime:
    keys = ",".join(f"{name}={key}" for name, key in KEYS.items())
    runtime: Runtime = make_runtime(api_keys=SecretStr(keys))
    return runtime


async def test_another_clients_dead_letters_are_not_found(keyed_rt: Runtime) -> None:
    rt = keyed_rt
    app = create_app(rt)
    async with app.test_app():
        client = app.test_client()
        await connect(rt, owner="alice")
        alices = await dead(rt, owner="alice")
        bob = as_client("bob")
        listed = await client.get(ADMIN, headers=bob)
        assert (await body(listed))["data"]["jobs"] == []
        for method, path in (
            ("GET", f"{ADMIN}/{alices.id}"),
            ("POST", f"{ADMIN}/{alices.id}/replay"),
            ("DELETE", f"{ADMIN}/{alices.id}"),
        ):
            response = await send(client, method, path, headers=bob)
            assert response.status_code == 404, path
        for route in ("replay", "purge"):
            response = await client.post(
                f"{ADMIN}/{route}", json={"job_ids": [alices.id]}, headers=bob
            )
            assert [e["code"] for e in (await body(response))["data"]["errors"]] == [
                "ERR_DEAD_LETTER_NOT_FOUND"
            ]
            response = await client.post(f"{ADMIN}/{route}", json={"all": True}, headers=bob)
            data = (await body(response))["data"]
            assert data.get("replayed", data.get("purged")) == []
        stored = await rt.jobs.get(alices.id)
        assert stored is not None and stored.in_dlq
        assert len(await rt.broker.peek_dead()) == 1

        no_key = await client.get(ADMIN)
        assert no_key.status_code == 401
        mine = await client.get(ADMIN, headers=as_client("alice"))
        assert [j["job_id"] for j in (await body(mine))["data"]["jobs"]] == [alices.id]


# --- the OpenAPI document ---------------------------------------------------------------


async def test_the_routes_are_documented(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    paths = spec["paths"]
    assert set(paths[ADMIN]) == {"get"}
    assert set(paths[f"{ADMIN}/{{job_id}}"]) == {"get", "delete"}
    assert "202" in paths[f"{ADMIN}/{{job_id}}/replay"]["post"]["responses"]
    assert "409" in paths[f"{ADMIN}/{{job_id}}/replay"]["post"]["responses"]
    assert "202" in paths[f"{ADMIN}/replay"]["post"]["responses"]
    assert "200" in paths[f"{ADMIN}/purge"]["post"]["responses"]
    cancel = paths["/api/v1/flickr/jobs/{job_id}/cancel"]["post"]["responses"]
    assert {"200", "202", "409"} <= set(cancel)
