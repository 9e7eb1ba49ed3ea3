"""``flickrhub run`` end to end: a client connects an account through OAuth, sends
reads, writes, uploads and replaces, and sees retries, failures and dead letters,
all over HTTP against the real process and its Flickr sandbox."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Running, start_flickrhub, stop_flickrhub
from tests.e2e.helpers import (
    approve,
    call,
    complete,
    connect_account,
    data,
    faults,
    jpeg,
    outcome,
    submit,
    upload,
)

pytestmark = pytest.mark.e2e

SEEDED_USER = "78733179@N04"
SEEDED_PHOTO = "7986395865"


@pytest.fixture(scope="module")
def user(hub: Running) -> str:
    return connect_account(hub.api)


def test_oauth_gives_a_user_id_that_can_call_flickr(hub: Running, user: str) -> None:
    job = call(hub.api, user, "flickr.test.login")
    assert job["state"] == "completed"
    assert job["result"]["user"]["id"] == SEEDED_USER


def test_reauthorising_the_same_account_keeps_its_user_id(hub: Running, user: str) -> None:
    assert connect_account(hub.api) == user


def test_another_flickr_account_gets_another_user_id(hub: Running, user: str) -> None:
    assert connect_account(hub.api, username="someone-else") != user


def test_a_mistyped_verifier_can_be_followed_by_the_right_one(hub: Running, user: str) -> None:
    approved = approve(hub.api)
    wrong = complete(hub.api, approved, oauth_verifier="0123456789abcdef")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["details"] == {"oauth_problem": "verifier_invalid"}
    assert data(complete(hub.api, approved))["user_id"] == user


def test_status_keeps_the_earlier_systems_fields(hub: Running, user: str) -> None:
    job_id = submit(hub.api, user, "flickr.test.echo", name="legacy")
    outcome(hub.api, job_id, user)
    status = data(
        httpx.post(f"{hub.api}/api/v1/flickr/jobs/status", json={"job_id": job_id, "user_id": user})
    )
    assert status["id"] == job_id
    assert status["state"] == "completed"
    assert status["queue"] == "flickr_rest"
    assert status["returnvalue"]["flickr"]["name"] == {"_content": "legacy"}


def test_read_is_cached_for_the_second_call(hub: Running, user: str) -> None:
    first = call(hub.api, user, "flickr.people.getInfo", user_id=SEEDED_USER)
    second = call(hub.api, user, "flickr.people.getInfo", user_id=SEEDED_USER)
    assert (first["from_cache"], second["from_cache"]) == (False, True)
    assert second["result"] == first["result"]
    assert second["result"]["person"]["nsid"] == SEEDED_USER


def test_write_invalidates_the_users_cached_reads(hub: Running, user: str) -> None:
    before = call(hub.api, user, "flickr.photos.getInfo", photo_id=SEEDED_PHOTO)
    assert call(hub.api, user, "flickr.photos.getInfo", photo_id=SEEDED_PHOTO)["from_cache"]
    write = call(hub.api, user, "flickr.photos.addTags", photo_id=SEEDED_PHOTO, tags="e2etag")
    assert write["state"] == "completed"
    after = call(hub.api, user, "flickr.photos.getInfo", photo_id=SEEDED_PHOTO)
    assert after["from_cache"] is False
    tags = [tag["_content"] for tag in after["result"]["photo"]["tags"]["tag"]]
    assert "e2etag" in tags
    assert len(after["result"]["photo"]["tags"]["tag"]) > len(
        before["result"]["photo"]["tags"]["tag"]
    )


def test_upload_creates_a_photo(hub: Running, user: str) -> None:
    job = upload(hub.api, user, jpeg(3 * 1024 * 1024), title="Sunset", tags="e2e")
    assert job["state"] == "completed", job
    photo_id = job["result"]["photoid"]["_content"]
    info = call(hub.api, user, "flickr.photos.getInfo", photo_id=photo_id)
    assert info["result"]["photo"]["title"]["_content"] == "Sunset"


def test_async_upload_follows_its_ticket_to_the_photo(hub: Running, user: str) -> None:
    job = upload(hub.api, user, jpeg(50_000), title="Later", **{"async": "1"})
    assert job["state"] == "completed", job
    assert job["result"]["ticketid"]["_content"]
    assert job["result"]["photoid"]["_content"]


def test_replace_gives_the_photo_new_secrets(hub: Running, user: str) -> None:
    uploaded = upload(hub.api, user, jpeg(20_000), title="Old")
    photo_id = uploaded["result"]["photoid"]["_content"]
    response = httpx.post(
        f"{hub.api}/api/v1/flickr/replace",
        data={"user_id": user, "photo_id": photo_id},
        files={"photo": ("new.jpg", jpeg(30_000), "image/jpeg")},
    )
    job = outcome(hub.api, data(response, 202)["job_id"], user)
    assert job["state"] == "completed", job
    assert job["result"]["photoid"]["_content"] == photo_id
    assert job["result"]["photoid"]["secret"]


def test_permanent_flickr_error_fails_without_retry(hub: Running, user: str) -> None:
    job = call(hub.api, user, "flickr.photos.getInfo", photo_id="1")
    assert job["state"] == "failed"
    assert job["attempts"] == 1
    assert job["error"]["flickr_code"] == 1
    assert job["error"]["retryable"] is False
    assert job["failedReason"]


def test_transient_error_is_retried_then_succeeds(hub: Running, user: str) -> None:
    faults(hub.sandbox, error_rate_105=1.0, methods=["flickr.test.echo"], count=1)
    job = call(hub.api, user, "flickr.test.echo", attempt="transient")
    assert job["state"] == "completed"
    assert job["attempts"] == 2


def test_exhausted_job_is_dead_lettered(hub: Running, user: str) -> None:
    faults(hub.sandbox, error_rate_5xx=1.0, methods=["flickr.test.null"], count=10)
    job = call(hub.api, user, "flickr.test.null")
    assert job["state"] == "failed"
    assert job["attempts"] == 3
    assert job["dead_lettered"] is True
    assert job["error"]["retryable"] is True


def test_dropped_connection_on_a_read_is_retried(hub: Running, user: str) -> None:
    faults(hub.sandbox, drop_rate=1.0, methods=["flickr.people.getInfo"], count=1)
    job = call(hub.api, user, "flickr.people.getInfo", user_id=SEEDED_USER, extra="drop")
    assert job["state"] == "completed"
    assert job["attempts"] == 2


def test_dropped_connection_on_an_upload_is_not_resent(hub: Running, user: str) -> None:
    faults(hub.sandbox, drop_rate=1.0, methods=["upload"], count=1)
    job = upload(hub.api, user, jpeg(10_000), title="maybe")
    assert job["state"] == "failed"
    assert job["attempts"] == 1
    assert job["error"]["code"] == "ERR_OUTCOME_UNKNOWN"


def test_nested_params_are_refused(hub: Running, user: str) -> None:
    response = httpx.post(
        f"{hub.api}/api/v1/flickr/rest",
        json={"user_id": user, "method": "flickr.test.echo", "params": {"a": {"b": 1}}},
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["field"] == "params.a"


def test_unknown_user_is_404(hub: Running) -> None:
    response = httpx.post(
        f"{hub.api}/api/v1/flickr/rest", json={"user_id": "nobody", "method": "flickr.test.echo"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ERR_TOKEN_NOT_FOUND"


def test_unknown_job_is_404(hub: Running, user: str) -> None:
    response = httpx.get(f"{hub.api}/api/v1/flickr/jobs/nope", params={"user_id": user})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ERR_JOB_NOT_FOUND"


def test_restart_keeps_connected_accounts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = start_flickrhub(tmp_path, tmp_path / "data")
    try:
        user = connect_account(first.api)
    finally:
        assert stop_flickrhub(first) == 0
    second = start_flickrhub(tmp_path, tmp_path / "data")
    try:
        job = call(second.api, user, "flickr.test.login")
    finally:
        stop_flickrhub(second)
    assert job["state"] == "completed", job
