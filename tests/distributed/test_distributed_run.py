"""The distributed mode end to end: the embedded run's scenarios (OAuth, reads, cached
reads, writes, uploads, replace, permanent and transient errors, dead letters) against
two ``flickrhub api`` and two ``flickrhub worker`` processes on RabbitMQ, Redis and a
MongoDB wire-protocol server, each request sent to one API and followed on the other.

Then what only several processes can get wrong: every job finishes exactly once (the
sandbox saw each call once, the archive holds one document per job, one worker logged
its outcome), a job whose worker is killed mid-call finishes once on the other, and
no message is left unacknowledged or waiting at the end.

The tests run in file order and share the cluster; the last one stops the workers.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.distributed.cluster import DLQ, TARGET_QUEUES
from tests.distributed.conftest import Cluster
from tests.e2e.helpers import data, faults, jpeg, outcome, submit

pytestmark = pytest.mark.e2e

SEEDED_USER = "78733179@N04"
SEEDED_PHOTO = "7986395865"
FINISHED = ("job_completed", "job_failed", "job_dead", "job_cancelled")


# --- a client that uses both APIs ---------------------------------------------------------


def connect_across(start_api: str, complete_api: str, *, username: str | None = None) -> str:
    """OAuth started on one API, approved at the sandbox, completed on the other."""
    started = data(httpx.post(f"{start_api}/api/v1/auth/start", json={"perms": "delete"}))
    authorize = urlsplit(started["authorize_url"])
    form = {"oauth_token": started["oauth_token"], "perms": "delete", "approve": "1"}
    if username:
        form["username"] = username
    approved = httpx.post(
        f"{authorize.scheme}://{authorize.netloc}{authorize.path}",
        data=form,
        headers={"X-Sandbox-Approve": "1"},
    )
    assert approved.status_code == 200, approved.text
    completed = data(
        httpx.post(
            f"{complete_api}/api/v1/auth/complete",
            json={
                "oauth_token": started["oauth_token"],
                "oauth_verifier": approved.json()["oauth_verifier"],
                "state": started["state"],
            },
        )
    )
    return str(completed["user_id"])


def call(cluster: Cluster, user: str, method: str, /, on: int = 0, **params: Any) -> dict[str, Any]:
    """Submit on API ``on``, wait for the outcome on the other one."""
    job_id = submit(cluster.apis[on], user, method, **params)
    return outcome(cluster.apis[1 - on], job_id, user)


def upload(
    cluster: Cluster, user: str, photo: bytes, /, on: int = 0, **fields: str
) -> dict[str, Any]:
    response = httpx.post(
        f"{cluster.apis[on]}/api/v1/flickr/upload",
        data={"user_id": user, **fields},
        files={"photo": ("photo.jpg", photo, "image/jpeg")},
        timeout=60,
    )
    return outcome(cluster.apis[1 - on], data(response, 202)["job_id"], user)


def sandbox_calls(cluster: Cluster, method: str, param: str) -> dict[str, int]:
    """How often the sandbox saw each value of ``param`` in calls of ``method``."""
    response = httpx.get(
        f"{cluster.sandbox}/sandbox/calls", params={"method": method, "param": param}
    )
    response.raise_for_status()
    return dict(response.json()["values"])


def finished_events(cluster: Cluster) -> dict[str, list[tuple[str, str]]]:
    """Per job id, each (worker, event) that finished it, over all workers' starts."""
    found: dict[str, list[tuple[str, str]]] = {}
    for name, proc in cluster.workers.items():
        for event in proc.events():
            if event.get("event") in FINISHED:
                found.setdefault(event["job_id"], []).append((name, event["event"]))
    return found


def wait_for(check: Any, timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def user(cluster: Cluster) -> str:
    return connect_across(cluster.apis[0], cluster.apis[1])


# --- readiness -----------------------------------------------------------------------------


def test_each_api_is_ready_and_reports_every_dependency(cluster: Cluster) -> None:
    for api in cluster.apis:
        response = httpx.get(f"{api}/readyz")
        assert response.status_code == 200, response.text
        checks = data(response)["checks"]
        assert {"broker", "job_store", "token_store", "blob_store"} <= set(checks)
        assert all(check["ok"] for check in checks.values()), checks


# --- the embedded run's scenarios, across processes ---------------------------------------


def test_oauth_started_on_one_api_completes_on_the_other(cluster: Cluster, user: str) -> None:
    for on in (0, 1):
        job = call(cluster, user, "flickr.test.login", on=on)
        assert job["state"] == "completed", job
        assert job["result"]["user"]["id"] == SEEDED_USER


def test_reauthorising_the_same_account_keeps_its_user_id(cluster: Cluster, user: str) -> None:
    assert connect_across(cluster.apis[1], cluster.apis[0]) == user


def test_another_flickr_account_gets_another_user_id(cluster: Cluster, user: str) -> None:
    other = connect_across(cluster.apis[0], cluster.apis[1], username="someone-else")
    assert other != user
    assert call(cluster, other, "flickr.test.login", on=1)["state"] == "completed"


def test_status_keeps_the_earlier_systems_fields(cluster: Cluster, user: str) -> None:
    job_id = submit(cluster.apis[0], user, "flickr.test.echo", name="legacy")
    outcome(cluster.apis[1], job_id, user)
    status = data(
        httpx.post(
            f"{cluster.apis[1]}/api/v1/flickr/jobs/status",
            json={"job_id": job_id, "user_id": user},
        )
    )
    assert status["id"] == job_id
    assert status["state"] == "completed"
    assert status["queue"] == "flickr_rest"
    assert status["returnvalue"]["flickr"]["name"] == {"_content": "legacy"}


def test_read_is_cached_for_the_second_call_on_the_other_api(cluster: Cluster, user: str) -> None:
    first = call(cluster, user, "flickr.people.getInfo", on=0, user_id=SEEDED_USER)
    second = call(cluster, user, "flickr.people.getInfo", on=1, user_id=SEEDED_USER)
    assert (first["from_cache"], second["from_cache"]) == (False, True)
    assert second["result"] == first["result"]
    assert second["result"]["person"]["nsid"] == SEEDED_USER


def test_write_invalidates_the_users_cached_reads(cluster: Cluster, user: str) -> None:
    before = call(cluster, user, "flickr.photos.getInfo", on=0, photo_id=SEEDED_PHOTO)
    assert call(cluster, user, "flickr.photos.getInfo", on=1, photo_id=SEEDED_PHOTO)["from_cache"]
    write = call(
        cluster, user, "flickr.photos.addTags", on=0, photo_id=SEEDED_PHOTO, tags="distributed"
    )
    assert write["state"] == "completed", write
    after = call(cluster, user, "flickr.photos.getInfo", on=1, photo_id=SEEDED_PHOTO)
    assert after["from_cache"] is False
    tags = [tag["_content"] for tag in after["result"]["photo"]["tags"]["tag"]]
    assert "distributed" in tags
    assert len(tags) > len(before["result"]["photo"]["tags"]["tag"])


def test_multi_megabyte_upload_creates_a_photo(cluster: Cluster, user: str) -> None:
    photo = jpeg(8 * 1024 * 1024)
    job = upload(cluster, user, photo, on=0, title="Big sunset", tags="distributed")
    assert job["state"] == "completed", job
    photo_id = job["result"]["photoid"]["_content"]
    info = call(cluster, user, "flickr.photos.getInfo", on=1, photo_id=photo_id)
    assert info["result"]["photo"]["title"]["_content"] == "Big sunset"
    assert sandbox_calls(cluster, "upload", "title").get("Big sunset") == 1


def test_async_upload_follows_its_ticket_to_the_photo(cluster: Cluster, user: str) -> None:
    job = upload(cluster, user, jpeg(50_000), on=1, title="Later", **{"async": "1"})
    assert job["state"] == "completed", job
    assert job["result"]["ticketid"]["_content"]
    assert job["result"]["photoid"]["_content"]


def test_replace_gives_the_photo_new_secrets(cluster: Cluster, user: str) -> None:
    uploaded = upload(cluster, user, jpeg(20_000), on=0, title="Old")
    photo_id = uploaded["result"]["photoid"]["_content"]
    response = httpx.post(
        f"{cluster.apis[1]}/api/v1/flickr/replace",
        data={"user_id": user, "photo_id": photo_id},
        files={"photo": ("new.jpg", jpeg(3 * 1024 * 1024), "image/jpeg")},
        timeout=60,
    )
    job = outcome(cluster.apis[0], data(response, 202)["job_id"], user)
    assert job["state"] == "completed", job
    assert job["result"]["photoid"]["_content"] == photo_id
    assert job["result"]["photoid"]["secret"]
    assert job["attempts"] == 1


def test_permanent_flickr_error_fails_without_retry(cluster: Cluster, user: str) -> None:
    job = call(cluster, user, "flickr.photos.getInfo", on=1, photo_id="1")
    assert job["state"] == "failed"
    assert job["attempts"] == 1
    assert job["error"]["flickr_code"] == 1
    assert job["error"]["retryable"] is False
    assert job["dead_lettered"] is False
    assert job["failedReason"]


def test_transient_error_is_retried_through_a_delay_queue(cluster: Cluster, user: str) -> None:
    key = f"transient-{uuid.uuid4().hex}"
    faults(cluster.sandbox, error_rate_105=1.0, methods=["flickr.test.echo"], count=1)
    job = call(cluster, user, "flickr.test.echo", on=0, key=key)
    assert job["state"] == "completed", job
    assert job["attempts"] == 2
    assert sandbox_calls(cluster, "flickr.test.echo", "key")[key] == 2
    if cluster.backends.rabbit.vhost is not None:
        # The retry waited in RabbitMQ, not in a worker: flickr_delay_<ms>.flickr_rest.
        delays = [q for q in cluster.backends.rabbit.queues() if q.startswith("flickr_delay_")]
        assert delays and all(q.endswith(".flickr_rest") for q in delays), delays


def test_exhausted_job_is_dead_lettered_into_flickr_dlq(cluster: Cluster, user: str) -> None:
    faults(cluster.sandbox, error_rate_5xx=1.0, methods=["flickr.test.null"], count=3)
    job = call(cluster, user, "flickr.test.null", on=1)
    assert job["state"] == "failed"
    assert job["attempts"] == 3
    assert job["dead_lettered"] is True
    assert job["error"]["retryable"] is True
    # flickr_dlq is a classic queue: its count is exact at once.
    assert cluster.backends.rabbit.depths((DLQ,)) == {DLQ: 1}


def test_dropped_connection_on_a_read_is_retried(cluster: Cluster, user: str) -> None:
    faults(cluster.sandbox, drop_rate=1.0, methods=["flickr.people.getInfo"], count=1)
    job = call(cluster, user, "flickr.people.getInfo", on=0, user_id=SEEDED_USER, extra="drop")
    assert job["state"] == "completed", job
    assert job["attempts"] == 2


def test_dropped_connection_on_an_upload_is_not_resent(cluster: Cluster, user: str) -> None:
    faults(cluster.sandbox, drop_rate=1.0, methods=["upload"], count=1)
    job = upload(cluster, user, jpeg(10_000), on=1, title="maybe")
    assert job["state"] == "failed"
    assert job["attempts"] == 1
    assert job["error"]["code"] == "ERR_OUTCOME_UNKNOWN"


def test_unknown_user_and_job_are_404_on_either_api(cluster: Cluster, user: str) -> None:
    for api in cluster.apis:
        response = httpx.post(
            f"{api}/api/v1/flickr/rest", json={"user_id": "nobody", "method": "flickr.test.echo"}
        )
        assert response.json()["error"]["code"] == "ERR_TOKEN_NOT_FOUND"
        response = httpx.get(f"{api}/api/v1/flickr/jobs/nope", params={"user_id": user})
        assert response.json()["error"]["code"] == "ERR_JOB_NOT_FOUND"


# --- exactly once ------------------------------------------------------------------------------


def test_a_batch_runs_each_job_exactly_once(cluster: Cluster, user: str) -> None:
    run = uuid.uuid4().hex[:8]
    keys = [f"{run}-{n}" for n in range(30)]
    ids = {
        submit(cluster.apis[n % 2], user, "flickr.test.echo", key=k): k for n, k in enumerate(keys)
    }
    jobs = [outcome(cluster.apis[n % 2 - 1], job_id, user) for n, job_id in enumerate(ids)]
    assert [(job["state"], job["attempts"]) for job in jobs] == [("completed", 1)] * 30

    # The sandbox saw each job's call once.
    seen = sandbox_calls(cluster, "flickr.test.echo", "key")
    assert {key: seen.get(key) for key in keys} == dict.fromkeys(keys, 1)

    # One worker finished each job, once; both workers took part.
    finished = finished_events(cluster)
    assert all(len(finished[job_id]) == 1 for job_id in ids), finished
    assert {finished[job_id][0][0] for job_id in ids} == set(cluster.workers)

    # The archive holds one completed document per job.
    def archived() -> list[dict[str, Any]] | None:
        with cluster.backends.mongo() as client:
            docs = list(
                client[cluster.backends.mongo_db]["jobs"].find(
                    {"job_id": {"$in": list(ids)}}, {"job_id": 1, "state": 1, "attempts": 1}
                )
            )
        return docs if len(docs) >= len(ids) else None

    docs = wait_for(archived, what="30 archived jobs")
    assert Counter(doc["job_id"] for doc in docs) == Counter(dict.fromkeys(ids, 1))
    assert {(doc["state"], doc["attempts"]) for doc in docs} == {("completed", 1)}


def test_a_job_on_a_killed_worker_completes_once_on_the_other(cluster: Cluster, user: str) -> None:
    key = f"slow-{uuid.uuid4().hex}"
    # Long enough that the kill surely lands during the call (the redelivered call is not slowed).
    faults(cluster.sandbox, latency_ms=5000, methods=["flickr.test.echo"], count=1)
    job_id = submit(cluster.apis[0], user, "flickr.test.echo", key=key)

    def runner() -> str | None:
        if not sandbox_calls(cluster, "flickr.test.echo", "key").get(key):
            return None  # logged started, its request not out yet: a kill now sends none
        for name, proc in cluster.workers.items():
            if any(e.get("job_id") == job_id for e in proc.events("job_started")):
                return name
        return None

    victim = wait_for(runner, timeout=4, what="the slow job started")
    cluster.workers[victim].kill9()
    job = outcome(cluster.apis[1], job_id, user)
    assert job["state"] == "completed", job
    assert job["attempts"] == 2  # the killed attempt counts
    assert sandbox_calls(cluster, "flickr.test.echo", "key")[key] == 2
    (survivor,) = set(cluster.workers) - {victim}
    assert finished_events(cluster)[job_id] == [(survivor, "job_completed")]
    # Back to two workers for what follows.
    cluster.start_worker(victim)


# --- nothing left behind --------------------------------------------------------------------


def test_every_job_finished_once_and_no_message_is_left(cluster: Cluster, user: str) -> None:
    enqueued = {
        event["job_id"] for proc in cluster.api_procs for event in proc.events("job_enqueued")
    }
    finished = finished_events(cluster)
    assert enqueued and enqueued == set(finished)
    twice = {job_id: events for job_id, events in finished.items() if len(events) != 1}
    assert not twice
    dead = sum(events[0][1] == "job_dead" for events in finished.values())

    rabbit = cluster.backends.rabbit
    if rabbit.vhost is not None:
        # While the workers run: no channel holds an unacknowledged message ...
        channels = rabbit.unacked_on_channels()
        # Each API publishes on 1 channel; each worker on 1, plus 1 per queue it consumes.
        assert len(channels) >= 1 + 1 + (1 + 1) + (1 + 3), channels
        assert set(channels.values()) == {0}, channels

        # ... and rabbitmqctl list_queues agrees (quorum queues' numbers lag: wait).
        def settled() -> dict[str, dict[str, int]] | None:
            queues = rabbit.queues()
            ok = all(q["messages_unacknowledged"] == 0 for q in queues.values()) and all(
                queues[name]["messages"] == (dead if name == DLQ else 0)
                for name in queues
                if name in (*TARGET_QUEUES, DLQ) or name.startswith("flickr_delay_")
            )
            return queues if ok else None

        queues = wait_for(settled, timeout=15, what="empty queues in rabbitmqctl list_queues")
        assert {"flickr_rest", "flickr_upload", "flickr_replace", DLQ} <= set(queues)

    # Stopped workers give back any message they still held: exact counts now.
    for proc in cluster.workers.values():
        assert proc.stop() == 0, proc.output()[-3000:]
    assert rabbit.depths() == {**dict.fromkeys(TARGET_QUEUES, 0), DLQ: dead}
