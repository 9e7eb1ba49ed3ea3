"""The web UI's pages through the Quart test client: escaping, CSRF, the wizard as
plain form posts (no JavaScript), the dashboard's JSON, dead-letter replay, and
signing in when API keys are configured."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from quart import Quart

from flickrhub_api import create_app
from flickrhub_api.security import inline_hashes
from flickrhub_core.jobs import Job, JobState, utcnow
from flickrhub_core.runtime import Runtime
from flickrhub_core.stores import JobQuery
from tests.api.conftest import FakeFlickr, connect
from tests.helpers import answer_flickr_with
from tests.ui.conftest import Client

STATIC = Path(__file__).resolve().parents[2] / "api" / "flickrhub_api" / "static"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def text(response: Any) -> str:
    body: str = await response.get_data(as_text=True)
    return body


async def get_page(client: Client, path: str, status: int = 200) -> str:
    response = await client.get(path)
    assert response.status_code == status, await text(response)
    assert response.content_type == "text/html; charset=utf-8"
    return await text(response)


@pytest.fixture
async def fake_flickr(rt: Runtime, app: Quart) -> FakeFlickr:
    fake = FakeFlickr()
    await answer_flickr_with(rt, fake.handle)
    return fake


def hostile_job(**overrides: Any) -> Job:
    now = utcnow()
    fields: dict[str, Any] = {
        "user_id": "user-1",
        "target": "rest",
        "method": "flickr.test.echo",
        "params": {"text": HOSTILE},
        "state": JobState.FAILED,
        "attempts": 1,
        "result": {"echo": HOSTILE},
        "error": {"code": "ERR_FLICKR", "message": f"Flickr said {HOSTILE}", "retryable": False},
        "meta": {"note": HOSTILE},
        "callback_url": "https://example.test/hook?x=<b>",
        "created_at": now - timedelta(seconds=2),
        "started_at": now - timedelta(seconds=1),
        "finished_at": now,
    }
    fields.update(overrides)
    return Job(**fields)


# --- pages and escaping ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/ui/connect", "/ui/dashboard"])
async def test_pages_have_no_inline_script_or_style(client: Client, path: str) -> None:
    response = await client.get(path)
    page = await text(response)
    assert response.status_code == 200
    assert inline_hashes(page) == {}  # so the CSP needs no hash and no 'unsafe-inline'
    assert " style=" not in page
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


async def test_ui_root_goes_to_the_dashboard(client: Client) -> None:
    response = await client.get("/ui")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/ui/dashboard")


async def test_job_fields_are_escaped_on_the_dashboard_and_the_detail_page(
    client: Client, rt: Runtime
) -> None:
    job = hostile_job()
    await rt.jobs.save(job)
    for path in ("/ui/dashboard", f"/ui/jobs/{job.id}"):
        page = await get_page(client, path)
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;alert(" in page
    detail = await get_page(client, f"/ui/jobs/{job.id}")
    assert "Flickr said &lt;script&gt;" in detail
    assert "https://example.test/hook?x=&lt;b&gt;" in detail


async def test_state_is_text_and_shape_not_colour_alone(client: Client, rt: Runtime) -> None:
    await rt.jobs.save(hostile_job(dead_lettered=True))
    await rt.jobs.save(hostile_job(state=JobState.COMPLETED, error=None, from_cache=True))
    page = await get_page(client, "/ui/dashboard")
    assert re.search(
        r'class="state-icon" aria-hidden="true">✕</span> <span class="state-text">failed', page
    )
    assert re.search(r'aria-hidden="true">✓</span> <span class="state-text">completed', page)
    assert ">dead letter<" in page
    assert ">from cache<" in page


async def test_another_owners_job_is_not_found(client: Client, rt: Runtime) -> None:
    job = hostile_job(owner="someone-else")
    await rt.jobs.save(job)
    page = await get_page(client, f"/ui/jobs/{job.id}", 404)
    assert "no such job" in page
    assert HOSTILE not in page


async def test_script_never_writes_html() -> None:
    script = (STATIC / "ui.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


# --- CSRF -----------------------------------------------------------------------------


async def test_a_form_without_the_csrf_token_is_refused(
    client: Client, rt: Runtime, fake_flickr: FakeFlickr
) -> None:
    await get_page(client, "/ui/connect")
    response = await client.post("/ui/connect", form={"perms": "read"})
    assert response.status_code == 400
    page = await text(response)
    assert "this form has expired" in page
    assert fake_flickr.issued == 0


async def test_another_sessions_csrf_token_is_refused(app: Quart, fake_flickr: FakeFlickr) -> None:
    mine, theirs = app.test_client(), app.test_client()
    token = csrf_of(await get_page(theirs, "/ui/connect"))
    await get_page(mine, "/ui/connect")
    response = await mine.post("/ui/connect", form={"csrf_token": token})
    assert response.status_code == 400
    assert fake_flickr.issued == 0
    replay = await mine.post("/ui/dlq/replay", form={"csrf_token": token})
    assert replay.status_code == 400


async def test_the_session_cookie_is_http_only_lax_and_ui_scoped(client: Client) -> None:
    response = await client.get("/ui/connect")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("flickrhub_ui=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/ui" in cookie


async def test_a_forged_session_cookie_is_ignored(client: Client) -> None:
    client.set_cookie("localhost", "flickrhub_ui", "eyJjc3JmIjoiYWJjIn0.forged", path="/ui")
    page = await get_page(client, "/ui/connect")
    assert csrf_of(page) != "abc"


# --- the wizard, without JavaScript -----------------------------------------------------


async def test_the_wizard_connects_an_account_with_plain_form_posts(
    client: Client, rt: Runtime, fake_flickr: FakeFlickr
) -> None:
    token = csrf_of(await get_page(client, "/ui/connect"))
    step2 = await client.post("/ui/connect", form={"csrf_token": token, "perms": "delete"})
    assert step2.status_code == 200
    page = await text(step2)
    assert 'id="authorize-link"' in page
    assert 'target="_blank" rel="noopener noreferrer"' in page
    assert "oauth_token=req-1&amp;perms=delete" in page
    assert 'name="oauth_verifier"' in page
    state = re.search(r'name="state" value="([^"]+)"', page)
    assert state is not None

    step3 = await client.post(
        "/ui/connect/complete",
        form={
            "csrf_token": token,
            "oauth_token": "req-1",
            "state": state.group(1),
            "perms": "delete",
            "oauth_verifier": "good-verifier",
        },
    )
    assert step3.status_code == 200
    page = await text(step3)
    user_id = re.search(r'id="user-id" class="mono" type="text" value="([^"]+)" readonly', page)
    assert user_id is not None
    stored = await rt.tokens.get(user_id.group(1))
    assert stored is not None and stored.owner == "default" and stored.perms == "delete"
    assert "http://localhost/api/v1/flickr/rest" in page
    assert f'"user_id": "{user_id.group(1)}"' in page
    assert "flickr.test.login" in page
    assert 'data-copy-target="user-id" hidden' in page  # the script shows it


async def test_the_wizard_shows_errors_as_sentences(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    token = csrf_of(await get_page(client, "/ui/connect"))
    response = await client.post(
        "/ui/connect", form={"csrf_token": token, "api_key": "mine", "api_secret": ""}
    )
    assert response.status_code == 400
    page = await text(response)
    assert "api_key and api_secret are required" in page
    assert "[object Object]" not in page
    assert 'value="mine"' in page
    assert 'aria-invalid="true"' in page
    assert 'role="alert"' in page

    response = await client.post(
        "/ui/connect", form={"csrf_token": token, "api_key": "", "api_secret": "hunter2"}
    )
    page = await text(response)
    assert "hunter2" not in page  # a secret is never sent back


async def wizard_at_step_two(client: Client) -> dict[str, str]:
    """Start the wizard (the fake Flickr's request token ``req-1``); the fields step 2
    posts back, without the verifier."""
    token = csrf_of(await get_page(client, "/ui/connect"))
    page = await text(await client.post("/ui/connect", form={"csrf_token": token}))
    state = re.search(r'name="state" value="([^"]+)"', page)
    assert state is not None
    return {"csrf_token": token, "oauth_token": "req-1", "state": state.group(1)}


async def test_a_wrong_verifier_can_be_corrected_on_the_same_step(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    form = await wizard_at_step_two(client)
    empty = await client.post("/ui/connect/complete", form={**form, "oauth_verifier": " "})
    assert empty.status_code == 400
    assert "Paste the verifier code" in await text(empty)
    wrong = await client.post("/ui/connect/complete", form={**form, "oauth_verifier": "nope"})
    assert wrong.status_code == 400
    page = await text(wrong)
    assert "Flickr did not accept this verifier code" in page
    assert "Step 2 of 3" in page
    assert 'aria-invalid="true"' in page
    right = await client.post(
        "/ui/connect/complete", form={**form, "oauth_verifier": "good-verifier"}
    )
    assert right.status_code == 200
    assert 'id="user-id"' in await text(right)


async def test_a_used_authorisation_means_starting_again(
    client: Client, fake_flickr: FakeFlickr
) -> None:
    form = await wizard_at_step_two(client)
    done = await client.post(
        "/ui/connect/complete", form={**form, "oauth_verifier": "good-verifier"}
    )
    assert done.status_code == 200
    again = await client.post(
        "/ui/connect/complete", form={**form, "oauth_verifier": "good-verifier"}
    )
    assert again.status_code == 400
    page = await text(again)
    assert "Start again from step 1" in page
    assert "Step 1 of 3" in page


async def test_the_wizard_in_callback_mode_asks_for_no_verifier(
    client: Client, rt: Runtime, fake_flickr: FakeFlickr
) -> None:
    rt.settings = rt.settings.model_copy(
        update={"oauth_mode": "callback", "callback_url": "http://localhost/api/v1/auth/callback"}
    )
    token = csrf_of(await get_page(client, "/ui/connect"))
    page = await text(await client.post("/ui/connect", form={"csrf_token": token}))
    assert 'id="authorize-link"' in page
    assert 'name="oauth_verifier"' not in page
    assert "Flickr sends you back to FlickrHub" in page


# --- the dashboard's JSON and replay --------------------------------------------------------


async def test_dashboard_json_shape(client: Client, rt: Runtime) -> None:
    await connect(rt)
    await rt.jobs.save(hostile_job())
    await rt.jobs.save(hostile_job(state=JobState.RUNNING, error=None, finished_at=None))
    response = await client.get("/ui/dashboard.json")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["error"] is None and body["request_id"]
    data = body["data"]
    assert set(data) == {
        "generated_at",
        "generated_text",
        "filters",
        "summary",
        "jobs",
        "queues",
        "dlq",
        "cache",
        "rate_limit",
        "accounts",
    }
    assert data["summary"]["text"] == "Recent jobs: 1 running, 1 failed."
    assert data["summary"]["counts"]["failed"] == 1
    assert data["accounts"] == 1
    assert [q["target"] for q in data["queues"]] == ["replace", "rest", "upload"]
    assert data["dlq"] == {"messages": 0, "replayable": 0}
    assert set(data["cache"]) == {"hits", "misses", "lookups", "ratio", "ratio_text"}
    assert data["rate_limit"]["limit_per_hour"] == rt.settings.flickr_rate_limit_per_hour
    running, failed = data["jobs"]
    assert running["state"] == "running" and running["icon"] == "▶"
    assert running["duration"] == "—"
    assert (
        failed["params"]
        == '{"text": "<script>alert(\\"x\\")</script><img src=x onerror=alert(1)>"}'
    )
    assert failed["error"] == f"Flickr said {HOSTILE}"
    assert failed["duration"] == "2.0 s" or failed["duration"].endswith(" s")
    assert set(failed) >= {"id", "state", "state_label", "state_note", "target", "method", "error"}


async def test_dashboard_filters(client: Client, rt: Runtime) -> None:
    await rt.jobs.save(hostile_job())
    await rt.jobs.save(hostile_job(target="upload", state=JobState.COMPLETED, error=None))
    data = (await (await client.get("/ui/dashboard.json?state=completed")).get_json())["data"]
    assert [j["target"] for j in data["jobs"]] == ["upload"]
    data = (await (await client.get("/ui/dashboard.json?target=rest")).get_json())["data"]
    assert [j["state"] for j in data["jobs"]] == ["failed"]
    data = (await (await client.get("/ui/dashboard.json?state=bogus")).get_json())["data"]
    assert len(data["jobs"]) == 2 and data["filters"]["state"] is None
    page = await get_page(client, "/ui/dashboard?state=completed")
    assert '<option value="completed" selected>' in page


async def test_replay_enqueues_a_copy_of_each_dead_letter_once(client: Client, rt: Runtime) -> None:
    await connect(rt)
    dead = hostile_job(dead_lettered=True, params={"n": "1"}, meta={"mine": "kept"})
    await rt.jobs.save(dead)
    await rt.jobs.save(hostile_job())  # failed, not dead-lettered: left alone
    page = await get_page(client, "/ui/dashboard")
    assert (await (await client.get("/ui/dashboard.json")).get_json())["data"]["dlq"][
        "replayable"
    ] == 1

    response = await client.post("/ui/dlq/replay", form={"csrf_token": csrf_of(page)})
    assert response.status_code == 303
    page = await get_page(client, "/ui/dashboard")
    assert "Replayed 1 of 1 dead-lettered job as a new job." in page
    jobs = await rt.jobs.list(JobQuery(owner="default"))
    copies = [j for j in jobs if j.replay_of == dead.id]
    assert len(copies) == 1
    copy = copies[0]
    assert copy.id != dead.id and copy.state is JobState.QUEUED
    assert (copy.params, copy.method, copy.user_id) == (dead.params, dead.method, dead.user_id)
    assert copy.meta == {"mine": "kept"}
    assert (await rt.jobs.get(dead.id)).replayed_by == copy.id  # type: ignore[union-attr]
    assert await rt.broker.depth("flickr_rest") == 1

    await client.post("/ui/dlq/replay", form={"csrf_token": csrf_of(page)})
    page = await get_page(client, "/ui/dashboard")
    assert "No dead-lettered jobs to replay." in page
    assert "Replayed" not in page
    assert await rt.broker.depth("flickr_rest") == 1


# --- with API keys --------------------------------------------------------------------------


@pytest.fixture
async def keyed(make_runtime: Callable[..., Runtime]) -> AsyncIterator[tuple[Quart, Runtime]]:
    runtime = make_runtime(api_keys=SecretStr("alice=key-alice-1234,bob=key-bob-5678"))
    app = create_app(runtime)
    async with app.test_app():
        yield app, runtime


async def sign_in(client: Client, key: str, next_path: str = "/ui/dashboard") -> Any:
    page = await get_page(client, f"/ui/login?next={next_path}")
    return await client.post(
        "/ui/login", form={"csrf_token": csrf_of(page), "api_key": key, "next": next_path}
    )


async def test_with_api_keys_the_ui_asks_to_sign_in(keyed: tuple[Quart, Runtime]) -> None:
    app, _ = keyed
    client = app.test_client()
    response = await client.get("/ui/dashboard?state=failed")
    assert response.status_code == 302
    assert response.headers["Location"] == "/ui/login?next=/ui/dashboard?state%3Dfailed"
    for path in ("/ui/connect", "/ui/jobs/x"):
        assert (await client.get(path)).status_code == 302
    data = await client.get("/ui/dashboard.json")
    assert data.status_code == 401
    assert (await data.get_json())["error"]["code"] == "ERR_UNAUTHORIZED"
    assert (await client.get("/")).status_code == 200
    page = await get_page(client, "/ui/login")
    assert 'type="password"' in page


async def test_signing_in_shows_only_that_clients_jobs(keyed: tuple[Quart, Runtime]) -> None:
    app, runtime = keyed
    mine = hostile_job(owner="alice", method="flickr.photos.search")
    theirs = hostile_job(owner="bob", method="flickr.people.getInfo")
    await runtime.jobs.save(mine)
    await runtime.jobs.save(theirs)
    client = app.test_client()

    wrong = await sign_in(client, "key-nobody")
    assert wrong.status_code == 401
    assert "not one this server knows" in await text(wrong)

    response = await sign_in(client, "key-alice-1234", "/ui/dashboard?state=failed")
    assert response.status_code == 303
    assert response.headers["Location"] == "/ui/dashboard?state=failed"
    page = await get_page(client, "/ui/dashboard")
    assert "Signed in as <strong>alice</strong>" in page
    assert "flickr.photos.search" in page
    assert "flickr.people.getInfo" not in page
    assert (await client.get(f"/ui/jobs/{theirs.id}")).status_code == 404
    assert (await client.get(f"/ui/jobs/{mine.id}")).status_code == 200

    # The wizard acts for alice too.
    response = await client.post("/ui/logout", form={"csrf_token": csrf_of(page)})
    assert response.status_code == 303
    assert (await client.get("/ui/dashboard")).status_code == 302


async def test_the_wizard_acts_for_the_signed_in_client(
    keyed: tuple[Quart, Runtime],
) -> None:
    app, runtime = keyed
    fake = FakeFlickr()
    await answer_flickr_with(runtime, fake.handle)
    client = app.test_client()
    await sign_in(client, "key-bob-5678")
    token = csrf_of(await get_page(client, "/ui/connect"))
    page = await text(await client.post("/ui/connect", form={"csrf_token": token}))
    state = re.search(r'name="state" value="([^"]+)"', page)
    assert state is not None
    pending = await runtime.request_tokens.take("req-1")
    assert pending is not None and pending.owner == "bob"


async def test_sign_in_never_redirects_elsewhere(keyed: tuple[Quart, Runtime]) -> None:
    app, _ = keyed
    bad = ("https://evil.test/ui/x", "//evil.test/ui/", "/api/v1/x", "/ui/../api/v1/x", "/\\evil")
    for target in bad:
        response = await sign_in(app.test_client(), "key-alice-1234", target)
        assert response.status_code == 303
        assert response.headers["Location"] == "/ui/dashboard"


async def test_without_api_keys_the_login_page_is_not_needed(client: Client) -> None:
    response = await client.get("/ui/login?next=/ui/connect")
    assert response.status_code == 302
    assert response.headers["Location"] == "/ui/connect"
