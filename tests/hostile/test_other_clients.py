"""Another API client's ids: every route answers 404, exactly as for an id that does
not exist, and nothing of the owner's changes (no job cancelled, no account revoked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import StoredToken
from tests.hostile.conftest import (
    ALICE,
    BOB,
    REST,
    Client,
    Form,
    Untouched,
    blob_files,
    post_form,
    send,
)


@pytest.fixture
async def alices(client: Client, rt: Runtime, user: StoredToken, tmp_path: Path) -> dict[str, Any]:
    """Alice's account, a queued job and a batch; then the snapshot to compare to."""
    call = {"user_id": user.user_id, "method": "flickr.test.echo"}
    job = await (await client.post(REST, json=call, headers=ALICE)).get_json()
    batch = await (
        await client.post("/api/v1/flickr/batch", json={"calls": [call]}, headers=ALICE)
    ).get_json()
    state = Untouched(rt, tmp_path)
    await state.take()
    return {
        "user_id": user.user_id,
        "job_id": job["data"]["job_id"],
        "batch_id": batch["data"]["batch_id"],
        "untouched": state,
    }


def requests_for(ids: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
    user, job, batch = ids["user_id"], ids["job_id"], ids["batch_id"]
    return [
        ("GET", f"/api/v1/accounts/{user}", None),
        ("DELETE", f"/api/v1/accounts/{user}", None),
        ("POST", f"/api/v1/accounts/{user}/revoke", {}),
        ("POST", REST, {"user_id": user, "method": "flickr.test.echo"}),
        (
            "POST",
            "/api/v1/flickr/batch",
            {"calls": [{"user_id": user, "method": "flickr.test.echo"}]},
        ),
        ("GET", f"/api/v1/flickr/jobs/{job}", None),
        ("GET", f"/api/v1/flickr/jobs/{job}?wait=1", None),
        ("POST", "/api/v1/flickr/jobs/status", {"job_id": job, "user_id": user}),
        ("POST", f"/api/v1/flickr/jobs/{job}/cancel", {}),
        ("POST", f"/api/v1/flickr/jobs/{job}/cancel", {"user_id": user}),
        ("GET", f"/api/v1/flickr/batches/{batch}", None),
        ("GET", f"/api/v1/admin/dlq/{job}", None),
        ("POST", f"/api/v1/admin/dlq/{job}/replay", {}),
    ]


async def test_every_route_answers_404_for_another_clients_ids(
    client: Client, alices: dict[str, Any]
) -> None:
    for method, path, body in requests_for(alices):
        status, envelope = await send(
            client, path, json.dumps(body) if body is not None else b"", headers=BOB, method=method
        )
        assert status == 404, (method, path, envelope)
        assert envelope["error"]["code"].endswith("NOT_FOUND"), (method, path)
    await alices["untouched"].check()


async def test_the_404_is_the_same_as_for_a_missing_id(
    client: Client, alices: dict[str, Any]
) -> None:
    missing = {"user_id": "no-such-user", "job_id": "no-such-job", "batch_id": "no-such-batch"}
    for (method, path, body), (_, missing_path, missing_body) in zip(
        requests_for(alices), requests_for(missing), strict=True
    ):
        theirs = await send(
            client, path, json.dumps(body) if body is not None else b"", headers=BOB, method=method
        )
        absent = await send(
            client,
            missing_path,
            json.dumps(missing_body) if missing_body is not None else b"",
            headers=BOB,
            method=method,
        )
        assert theirs[0] == absent[0]
        assert theirs[1]["error"] == absent[1]["error"], path


async def test_listings_show_another_client_nothing(client: Client, alices: dict[str, Any]) -> None:
    for path in (
        f"/api/v1/flickr/jobs?user_id={alices['user_id']}",
        f"/api/v1/flickr/jobs?batch_id={alices['batch_id']}",
        "/api/v1/flickr/jobs",
        "/api/v1/accounts",
        "/api/v1/admin/dlq",
    ):
        response = await client.get(path, headers=BOB)
        assert response.status_code == 200, path
        data = (await response.get_json())["data"]
        assert data in ([], {"jobs": [], "next_cursor": None}), path
    await alices["untouched"].check()


async def test_an_upload_for_another_clients_user_is_a_404_and_stores_nothing(
    app: Quart, alices: dict[str, Any], blob_dir: Path
) -> None:
    for form in (
        Form().field("user_id", alices["user_id"]).file(b"\xff\xd8photo"),
        Form().file(b"\xff\xd8photo").field("user_id", alices["user_id"]),
    ):
        status, envelope = await post_form(app, form, headers=BOB)
        assert status == 404
        assert envelope["error"]["code"] == "ERR_TOKEN_NOT_FOUND"
    assert blob_files(blob_dir) == []
    await alices["untouched"].check()


async def test_an_idempotency_key_is_per_client(
    client: Client, alices: dict[str, Any], rt: Runtime
) -> None:
    """Bob reusing Alice's key neither sees her job nor conflicts with it."""
    headers = {"Idempotency-Key": "shared-key"}
    mine = await client.post(
        REST,
        json={"user_id": alices["user_id"], "method": "flickr.test.echo"},
        headers={**ALICE, **headers},
    )
    assert mine.status_code == 202
    theirs = await client.post(
        REST,
        json={"user_id": alices["user_id"], "method": "flickr.test.echo"},
        headers={**BOB, **headers},
    )
    assert theirs.status_code == 404  # Alice's user, not a replay of Alice's job
