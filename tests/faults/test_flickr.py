"""The Flickr side misbehaves: slow, dropping connections, answering 5xx, ``stat:fail``
105 and 429.

These run ``flickrhub run`` (the embedded mode: in-process queue, retries with
stamina's backoff inside the worker) against a standalone ``flickrhub sandbox`` that
the tests make misbehave (``POST /sandbox/faults``), with short Flickr timeouts
(``FLICKRHUB_FLICKR_TIMEOUT``, ``FLICKRHUB_UPLOAD_TIMEOUT``) so that "slow" means a
read timeout within a second.

The sandbox also enforces Flickr's per-key limit, over a one-second window
(``--rate-limit-window``) so that its 429s end within the test. FlickrHub's own limiter
keeps under it; the 429 test has "another application" spend the shared key's budget
meanwhile, so FlickrHub hears 429: every worker backs off for the ``Retry-After`` and
the job is tried again.

Reads are retried until they succeed; an upload whose request may have reached
Flickr (timeout after sending, dropped connection, 5xx) is not sent again and ends
``ERR_OUTCOME_UNKNOWN``; an upload Flickr refused outright (429) is sent again. Either
way no photo exists twice.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from flickrhub_core.sandbox import make_demo_consumer
from flickrhub_core.serve import sandbox_endpoints
from tests.distributed.cluster import Proc, clean_environ, free_port, http_ok, logs_of
from tests.e2e.helpers import connect_account
from tests.faults.harness import Jobs, check_promises

pytestmark = pytest.mark.e2e

#: Flickr's limit as the sandbox enforces it: calls per key per window (one second).
SANDBOX_LIMIT = 12
#: What FlickrHub is told it may send, per second (evenly spaced): a little less.
HUB_RATE = 10


@dataclass
class Embedded:
    hub: Proc
    sandbox: Proc
    api: str
    sandbox_url: str
    consumer_key: str
    user: str = ""

    def logs(self) -> str:
        return logs_of([self.sandbox, self.hub])

    def client(self) -> Jobs:
        return Jobs(self.api, self.user, self.sandbox_url)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    home: Path = tmp_path_factory.mktemp("flickr-faults")
    key, secret = make_demo_consumer()
    sandbox_port, api_port = free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    base = {
        **clean_environ(),
        "FLICKR_API_KEY": key,
        "FLICKR_API_SECRET": secret,
        "FLICKRHUB_LOG_FORMAT": "json",
        "FLICKRHUB_DATA_DIR": str(home / "data"),
    }
    sandbox = Proc(
        "sandbox",
        [
            "sandbox",
            "--port",
            str(sandbox_port),
            "--rate-limit-per-hour",
            str(SANDBOX_LIMIT),
            "--rate-limit-window",
            "1",
        ],
        base,
        home,
    )
    hub = Proc(
        "hub",
        ["run"],
        {
            **base,
            **{name.upper(): url for name, url in sandbox_endpoints(sandbox_url).items()},
            "PORT": str(api_port),
            "FLICKRHUB_FLICKR_TIMEOUT": "1",
            "FLICKRHUB_UPLOAD_TIMEOUT": "1",
            "FLICKRHUB_RETRY_WAIT_INITIAL": "0.05",
            "FLICKRHUB_RETRY_WAIT_MAX": "0.3",
            "FLICKR_RATE_LIMIT_PER_HOUR": str(HUB_RATE * 3600),
            "FLICKRHUB_RATE_LIMIT_BURST": "1",
            "FLICKRHUB_CLIENT_RATE_LIMIT_PER_MINUTE": "0",
            "JOB_RETRY_ATTEMPTS": "5",
        },
        home,
    )
    running = Embedded(hub, sandbox, f"http://127.0.0.1:{api_port}", sandbox_url, key)
    with contextlib.ExitStack() as stack:
        stack.callback(sandbox.stop)
        stack.callback(hub.stop)
        try:
            sandbox.start()
            hub.start()
            sandbox.wait_until(lambda: http_ok(f"{sandbox_url}/sandbox/faults"), "up")
            hub.wait_until(lambda: http_ok(f"{running.api}/readyz"), "ready")
            running.user = connect_account(running.api)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{running.logs()}") from None
        yield running


@pytest.fixture
def jobs(embedded: Embedded) -> Iterator[Jobs]:
    client = embedded.client()
    client.clear_faults()
    try:
        yield client
    finally:
        with contextlib.suppress(httpx.HTTPError):
            client.clear_faults()
        client.close()


def photos_by_title(jobs: Jobs) -> Counter[str]:
    """The titles of the account's photos, as Flickr (the sandbox) holds them."""
    response = jobs.http.post(
        f"{jobs.api}/api/v1/flickr/rest",
        json={
            "user_id": jobs.user,
            "method": "flickr.people.getPhotos",
            "params": {"user_id": "me", "per_page": "500"},
            "cache": False,
        },
    )
    assert response.status_code == 202, response.text
    (job,) = jobs.outcomes([response.json()["data"]["job_id"]]).values()
    assert job["state"] == "completed", job
    return Counter(photo["title"] for photo in job["result"]["photos"]["photo"])


def test_slow_dropping_and_failing_flickr(embedded: Embedded, jobs: Jobs) -> None:
    echo, upload = ["flickr.test.echo"], ["upload"]
    # The first calls of each kind misbehave, one way after the other (a rule applies
    # to its next ``count`` matching calls): slower than the timeout, dropped, 5xx, 105.
    jobs.faults(latency_ms=1500, methods=echo, count=3)
    jobs.faults(drop_rate=1.0, methods=echo, count=2)
    jobs.faults(error_rate_5xx=1.0, methods=echo, count=2)
    jobs.faults(error_rate_105=1.0, methods=echo, count=2)
    jobs.faults(latency_ms=1500, methods=upload, count=1)
    jobs.faults(drop_rate=1.0, methods=upload, count=1)
    jobs.faults(error_rate_5xx=1.0, methods=upload, count=1)
    batch = jobs.submit(reads=12, uploads=4, tag="flickr-")

    verdict = check_promises(jobs, batch, [embedded.hub])
    # Reads were sent again until they got through.
    sent = sum(verdict.read_counts[key] for key in batch.reads.values())
    assert sent >= len(batch.reads) + 9
    # The three uploads that met a fault failed without a second try; the fourth worked.
    states = Counter(verdict.state(job_id) for job_id in batch.uploads)
    assert states == {"failed": 3, "completed": 1}, verdict.jobs
    assert all(verdict.jobs[job_id]["attempts"] == 1 for job_id in batch.uploads), verdict.jobs
    # No photo twice; the uploads that failed after reaching Flickr may exist once.
    photos = photos_by_title(jobs)
    assert all(photos[title] <= 1 for title in batch.uploads.values()), photos


def spend_the_keys_budget(embedded: Embedded, seconds: float) -> int:
    """Another application calling Flickr with the same API key for ``seconds``."""
    spent = 0
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=5) as http:
        while time.monotonic() < deadline:
            http.get(
                f"{embedded.sandbox_url}/services/rest/",
                params={"method": "flickr.test.null", "api_key": embedded.consumer_key},
            )
            spent += 1
            time.sleep(0.02)
    return spent


def test_flickr_rate_limit_429_jobs_back_off_and_complete(embedded: Embedded, jobs: Jobs) -> None:
    other = threading.Thread(target=spend_the_keys_budget, args=(embedded, 2.0))
    other.start()
    try:
        time.sleep(0.2)  # the key's budget is spent when the jobs arrive
        batch = jobs.submit(reads=16, uploads=3, tag="429-")
    finally:
        other.join()
    verdict = check_promises(jobs, batch, [embedded.hub], refusals=True)
    # Flickr refused some calls (429) and they were sent again: more calls than jobs.
    sent = sum(verdict.read_counts[key] for key in batch.reads.values())
    assert sent > len(batch.reads), "the sandbox never answered 429"
    assert {verdict.state(job_id) for job_id in batch.ids} == {"completed"}
    photos = photos_by_title(jobs)
    assert all(photos[title] == 1 for title in batch.uploads.values()), photos
