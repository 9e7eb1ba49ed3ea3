"""Property-based tests of the real ``flickrhub run`` against its own ``/openapi.json``.

Schemathesis reads the document the running server serves and sends what it
describes, valid and invalid (its examples, coverage and fuzzing phases), then a
stateful run that follows the document's links (enqueue -> job, account -> revoke).
Every answer must be no 5xx, a documented status with its documented content type,
headers and schema, and invalid input must be refused.

The server has an API key configured (so the security requirements and 401s are
checked too) and one connected Flickr account (the sandbox's), whose ``user_id``,
a finished job and a finished batch are put into half of the valid requests, so
the success answers are exercised as well as the 404s of random ids.

Bounds: ``max_examples`` per operation and the stateful steps keep the file well
under 90 s on two cores. ``wait`` (the long-poll, documented up to 30 s) is capped
at 1 s in generated valid requests: the long-poll itself is tested in
``tests/api/test_jobs.py``; here it only must not stall the run.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.e2e.conftest import Running, start_flickrhub, stop_flickrhub

pytestmark = pytest.mark.e2e

KEY = "schemathesis-test-key-0123456789"
HEADERS = {"X-API-Key": KEY}
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
    checks.ignored_auth,
    checks.unsupported_method,
]
#: A link's values can make a generated invalid request valid (schemathesis then
#: reports "positive test case" as accepted negative data): that check is left to
#: the per-operation test.
STATEFUL_CHECKS = [check for check in CHECKS if check is not checks.negative_data_rejection]
SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
#: Seconds a generated long-poll may wait.
MAX_WAIT = 1
#: What an invalid request may be refused with: schemathesis's defaults, and 413 (an
#: invalid body can also be over the API's size limit, which is checked first).
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [
                    "400",
                    "401",
                    "403",
                    "404",
                    "405",
                    "406",
                    "409",
                    "413",
                    "415",
                    "422",
                    "428",
                    "429",
                    "5xx",
                ]
            }
        }
    }
)


def connect(api: str) -> str:
    """OAuth through FlickrHub, approving on the sandbox's page as a script can."""
    started = httpx.post(
        f"{api}/api/v1/auth/start", json={"perms": "delete"}, headers=HEADERS
    ).json()["data"]
    authorize = urlsplit(started["authorize_url"])
    approved = httpx.post(
        f"{authorize.scheme}://{authorize.netloc}{authorize.path}",
        data={"oauth_token": started["oauth_token"], "perms": "delete", "approve": "1"},
        headers={"X-Sandbox-Approve": "1"},
    )
    completed = httpx.post(
        f"{api}/api/v1/auth/complete",
        json={
            "oauth_token": started["oauth_token"],
            "oauth_verifier": approved.json()["oauth_verifier"],
            "state": started["state"],
        },
        headers=HEADERS,
    )
    assert completed.status_code == 200, completed.text
    return str(completed.json()["data"]["user_id"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("openapi")
    running = start_flickrhub(
        tmp,
        tmp / "data",
        FLICKRHUB_API_KEYS=f"fuzz={KEY}",
        # Documented (429, Retry-After), but not what this run is about.
        FLICKRHUB_CLIENT_RATE_LIMIT_PER_MINUTE="100000",
        FLICKR_RATE_LIMIT_PER_HOUR="0",
    )
    try:
        yield running
    finally:
        stop_flickrhub(running)


@dataclass(frozen=True)
class Known:
    """Ids that exist on the server, for valid requests to use."""

    user_id: str
    job_id: str
    batch_id: str


@pytest.fixture(scope="module")
def known(server: Running) -> Known:
    user_id = connect(server.api)
    call = {"user_id": user_id, "method": "flickr.test.echo"}
    job = httpx.post(f"{server.api}/api/v1/flickr/rest", json=call, headers=HEADERS)
    batch = httpx.post(f"{server.api}/api/v1/flickr/batch", json={"calls": [call]}, headers=HEADERS)
    assert (job.status_code, batch.status_code) == (202, 202), (job.text, batch.text)
    for url in (job.json()["data"]["status_url"], batch.json()["data"]["status_url"]):
        finished = httpx.get(f"{server.api}{url}?wait=10", headers=HEADERS, timeout=15)
        assert finished.status_code == 200, finished.text
    return Known(user_id, job.json()["data"]["job_id"], batch.json()["data"]["batch_id"])


def _half(case: Any) -> bool:
    """Half of the cases, chosen by their content (stable from run to run)."""
    return zlib.crc32(repr((case.body, case.query, case.path_parameters)).encode()) % 2 == 0


def _use_known_ids(case: Any, known: Known) -> None:
    body = case.body
    if isinstance(body, dict):
        for field, value in (("user_id", known.user_id), ("job_id", known.job_id)):
            if field in body:
                body[field] = value
        if "method" in body:  # a call the sandbox answers, so a job is queued and runs
            body["method"], body["target"] = "flickr.test.echo", "rest"
        for call in body.get("calls") or []:
            if isinstance(call, dict):
                call.update(user_id=known.user_id, method="flickr.test.echo", target="rest")
    if isinstance(case.query, dict) and "user_id" in case.query:
        case.query["user_id"] = known.user_id
    path = case.path_parameters
    if isinstance(path, dict) and case.method.upper() == "GET":  # never revoke it here
        for field, value in (
            ("user_id", known.user_id),
            ("job_id", known.job_id),
            ("batch_id", known.batch_id),
        ):
            if field in path:
                path[field] = value


@pytest.fixture(scope="module")
def api_schema(server: Running, known: Known) -> OpenApiSchema:
    loaded = schemathesis.openapi.from_url(f"{server.api}/openapi.json", config=CONFIG)

    @loaded.hook
    def map_case(context: Any, case: Any) -> Any:
        # Only valid requests are changed: an invalid one must stay invalid.
        if case.meta is None or not case.meta.generation.mode.is_positive:
            return case
        if isinstance(case.query, dict) and isinstance(case.query.get("wait"), int | float):
            case.query["wait"] = min(case.query["wait"], MAX_WAIT)
        if _half(case):
            _use_known_ids(case, known)
        return case

    return loaded


def test_the_served_document_is_openapi_3_1_with_every_route(api_schema: OpenApiSchema) -> None:
    raw = api_schema.raw_schema
    assert raw["openapi"] == "3.1.0"
    operations = {
        (method.upper(), path)
        for path, item in raw["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    # Every route of the API (others may be added: each is fuzzed below all the same).
    assert operations >= {
        ("POST", "/api/v1/auth/start"),
        ("POST", "/api/v1/auth/complete"),
        ("GET", "/api/v1/auth/callback"),
        ("POST", "/api/v1/flickr/rest"),
        ("POST", "/api/v1/flickr/batch"),
        ("GET", "/api/v1/flickr/batches/{batch_id}"),
        ("GET", "/api/v1/flickr/jobs"),
        ("POST", "/api/v1/flickr/jobs/status"),
        ("GET", "/api/v1/flickr/jobs/{job_id}"),
        ("POST", "/api/v1/flickr/jobs/{job_id}/cancel"),
        ("POST", "/api/v1/flickr/upload"),
        ("POST", "/api/v1/flickr/replace"),
        ("GET", "/api/v1/accounts"),
        ("GET", "/api/v1/accounts/{user_id}"),
        ("DELETE", "/api/v1/accounts/{user_id}"),
        ("POST", "/api/v1/accounts/{user_id}/revoke"),
        ("GET", "/healthz"),
        ("GET", "/health"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
    }


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@SETTINGS
def test_every_operation_answers_as_documented(case: Any, server: Running) -> None:
    case.call_and_validate(base_url=server.api, headers=HEADERS, checks=CHECKS)


def test_sequences_following_the_links_answer_as_documented(
    api_schema: OpenApiSchema, server: Running
) -> None:
    """From the account listing (or a completed authorisation) to the account, a
    Flickr call or an upload for it, and the job that made (links of the document)."""
    # Revoking the connected account early would leave every later sequence a 404.
    base = api_schema.exclude(
        operation_id=["revoke_account", "revoke_account_post"]
    ).as_state_machine()

    class Machine(base):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": server.api, "headers": HEADERS}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(
                response, checks=STATEFUL_CHECKS, headers=HEADERS, transport_kwargs=kwargs
            )

    Machine.run(
        settings=settings(
            max_examples=30,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
