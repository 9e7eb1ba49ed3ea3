"""Listing jobs: ``GET /api/v1/flickr/jobs`` filters, pages and owner isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from flickrhub_core.jobs import Job, JobState
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import JobQuery, StoredToken
from tests.api.conftest import REST, Client, connect

JOBS = "/api/v1/flickr/jobs"
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
#: Every app of this module has two clients; requests are alice's unless said otherwise.
KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef"}
ALICE = {"X-API-Key": KEYS["alice"]}


@pytest.fixture
def rt(make_runtime: Any) -> Runtime:
    runtime: Runtime = make_runtime(
        api_keys=SecretStr(",".join(f"{n}={k}" for n, k in KEYS.items()))
    )
    return runtime


@pytest.fixture
async def user(rt: Runtime, app: Any) -> StoredToken:
    """Alice's connected account."""
    return await connect(rt, "user-1", owner="alice")


def stored_job(index: int, **fields: Any) -> Job:
    """A job created ``index`` minutes after T0."""
    values: dict[str, Any] = {
        "owner": "alice",
        "user_id": "user-1",
        "target": "rest",
        "method": "flickr.photos.search",
        "created_at": T0 + timedelta(minutes=index),
    }
    values.update(fields)
    return Job(**values)


async def listing(client: Client, **params: Any) -> dict[str, Any]:
    response = await client.get(JOBS, query_string=params, headers=ALICE)
    assert response.status_code == 200, await response.get_data(as_text=True)
    data: dict[str, Any] = (await response.get_json())["data"]
    return data


async def refused(client: Client, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(JOBS, query_string=params, headers=ALICE)
    assert response.status_code == 400, await response.get_data(as_text=True)
    body = await response.get_json()
    assert body["error"]["code"] == "ERR_INVALID_REQUEST"
    details: list[dict[str, Any]] = body["error"]["fields"]
    return details


@pytest.fixture
async def jobs(rt: Runtime, user: StoredToken) -> list[Job]:
    """Ten jobs of the default owner, oldest first, with varied fields."""
    made = []
    for i in range(10):
        job = stored_job(
            i,
            user_id="user-1" if i % 2 == 0 else "user-2",
            state=JobState.COMPLETED if i % 3 == 0 else JobState.QUEUED,
            method="flickr.test.echo" if i == 4 else "flickr.photos.search",
            target="upload" if i == 7 else "rest",
        )
        await rt.jobs.save(job)
        made.append(job)
    return made


def ids(data: dict[str, Any]) -> list[str]:
    return [job["job_id"] for job in data["jobs"]]


async def test_the_listing_is_newest_first_with_status_views(
    client: Client, jobs: list[Job]
) -> None:
    data = await listing(client)
    assert ids(data) == [job.id for job in reversed(jobs)]
    assert data["next_cursor"] is None
    newest = data["jobs"][0]
    assert newest["state"] == "completed"
    assert newest["returnvalue"] == {"from_cache": False, "flickr": None}
    assert {"job_id", "id", "queue", "user_id", "created_at", "webhook"} <= set(newest)
    assert "callback_secret" not in newest


async def test_listing_is_the_route_without_an_id_and_get_by_id_still_works(
    client: Client, jobs: list[Job]
) -> None:
    response = await client.get(f"{JOBS}/{jobs[0].id}", headers=ALICE)
    assert response.status_code == 200
    assert (await response.get_json())["data"]["job_id"] == jobs[0].id


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"user_id": "user-2"}, [9, 7, 5, 3, 1]),
        ({"state": "completed"}, [9, 6, 3, 0]),
        ({"state": "completed", "user_id": "user-1"}, [6, 0]),
        ({"target": "upload"}, [7]),
        ({"method": "flickr.test.echo"}, [4]),
        ({"since": "2025-01-01T12:07:00Z"}, [9, 8, 7]),
        ({"until": "2025-01-01T12:02:00Z"}, [1, 0]),
        ({"since": "2025-01-01T12:03:00Z", "until": "2025-01-01T12:05:00Z"}, [4, 3]),
        # an offset, and a "+" that arrived as a space (not URL-encoded)
        ({"since": "2025-01-01T14:08:00+02:00"}, [9, 8]),
        ({"since": "2025-01-01T14:08:00 02:00"}, [9, 8]),
        # naive times are UTC
        ({"until": "2025-01-01T12:01:00"}, [0]),
        ({"user_id": "nobody"}, []),
    ],
)
async def test_filters(
    client: Client, jobs: list[Job], params: dict[str, str], expected: list[int]
) -> None:
    assert ids(await listing(client, **params)) == [jobs[i].id for i in expected]


async def test_pages_follow_the_cursor_without_gaps_or_repeats(
    client: Client, jobs: list[Job]
) -> None:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        data = await listing(client, **params)
        pages += 1
        assert len(data["jobs"]) <= 3
        seen += ids(data)
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert pages == 4
    assert seen == [job.id for job in reversed(jobs)]


async def test_a_full_last_page_has_no_next_cursor(client: Client, jobs: list[Job]) -> None:
    first = await listing(client, limit=5)
    assert first["next_cursor"] is not None
    second = await listing(client, limit=5, cursor=first["next_cursor"])
    assert len(second["jobs"]) == 5
    assert second["next_cursor"] is None


async def test_the_cursor_keeps_filters_and_orders_jobs_made_at_the_same_instant(
    client: Client, rt: Runtime, user: StoredToken
) -> None:
    same = [stored_job(0, user_id="user-1") for _ in range(5)]
    for job in same:
        await rt.jobs.save(job)
    await rt.jobs.save(stored_job(0, user_id="user-9"))
    seen: list[str] = []
    data = await listing(client, user_id="user-1", limit=2)
    seen += ids(data)
    while data["next_cursor"]:
        data = await listing(client, user_id="user-1", limit=2, cursor=data["next_cursor"])
        seen += ids(data)
    assert sorted(seen) == sorted(job.id for job in same)
    assert len(seen) == len(set(seen)) == 5
    assert seen == sorted(seen, reverse=True)  # same instant: by id, descending


async def test_enqueued_jobs_are_listed(client: Client, user: StoredToken) -> None:
    made = []
    for tag in ("a", "b", "c"):
        response = await client.post(
            REST,
            json={"method": "flickr.photos.search", "params": {"tags": tag}, "user_id": "user-1"},
            headers=ALICE,
        )
        made.append((await response.get_json())["data"]["job_id"])
    data = await listing(client, state="queued", user_id="user-1")
    assert ids(data) == list(reversed(made))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"state": "done"}, "state"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2025-13-45T00:00:00Z"}, "until"),
        ({"since": "2025-01-02T00:00:00Z", "until": "2025-01-01T00:00:00Z"}, "until"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "W10"}, "cursor"),  # base64 of "[]"
    ],
)
async def test_invalid_filters_are_400_naming_the_field(
    client: Client, jobs: list[Job], params: dict[str, str], field: str
) -> None:
    details = await refused(client, **params)
    assert field in [d["field"] for d in details], details


async def test_limit_200_is_allowed(client: Client, jobs: list[Job]) -> None:
    assert len((await listing(client, limit=200))["jobs"]) == 10


# --- owners --------------------------------------------------------------------------


async def test_another_clients_jobs_are_never_listed(
    client: Client, rt: Runtime, jobs: list[Job]
) -> None:
    theirs = stored_job(20, owner="bob", user_id="user-1")
    await rt.jobs.save(theirs)
    assert theirs.id not in ids(await listing(client, limit=200))
    assert theirs.id not in ids(await listing(client, user_id="user-1", limit=200))
    as_bob = await client.get(JOBS, headers={"X-API-Key": KEYS["bob"]})
    assert [j["job_id"] for j in (await as_bob.get_json())["data"]["jobs"]] == [theirs.id]


async def test_without_a_key_the_listing_is_refused(client: Client, jobs: list[Job]) -> None:
    response = await client.get(JOBS)
    assert response.status_code == 401


async def test_the_store_query_filters_by_batch_and_time(rt: Runtime, jobs: list[Job]) -> None:
    """The memory store's side of the listing, used by batches too."""
    await rt.jobs.save(stored_job(30, batch_id="b-1"))
    await rt.jobs.save(stored_job(31, batch_id="b-1"))
    found = await rt.jobs.list(JobQuery(owner="alice", batch_id="b-1"))
    assert [j.created_at for j in found] == [T0 + timedelta(minutes=31), T0 + timedelta(minutes=30)]
    before = await rt.jobs.list(JobQuery(owner="alice", before=T0 + timedelta(minutes=2)))
    assert [j.id for j in before] == [jobs[1].id, jobs[0].id]
