"""The web UI in Debian's Chromium, against the real ``flickrhub run`` and its sandbox:
the OAuth wizard end to end (keyboard only where a person would type), the dashboard
following a job live from queued to completed, and hostile params shown as text."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.e2e.conftest import Running
from tests.e2e.helpers import call, connect_account, data, faults, outcome, submit

try:
    from playwright.async_api import expect
except ImportError:  # the fixtures skip each test (or fail it under CI)
    expect = None

pytestmark = pytest.mark.e2e

T = TypeVar("T")
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=1">'


async def blocking(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A client call of the e2e helpers (sync httpx), off the event loop Playwright uses."""
    return await asyncio.to_thread(func, *args, **kwargs)


async def tab_to(page: Any, element_id: str, limit: int = 15) -> None:
    """Press Tab until ``element_id`` has the focus, as a keyboard user would."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        focused = await page.evaluate(
            "document.activeElement && document.activeElement.getAttribute('data-copy-target')"
        )
        if focused and f"copy:{focused}" == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}")


async def test_oauth_wizard_connects_an_account(
    hub: Running, page: Any, screenshot_dir: Path
) -> None:
    await page.goto(f"{hub.api}/ui/connect")
    assert await page.title() == "Connect a Flickr account: step 1 of 3 · FlickrHub"

    # A key without its secret: a readable error, the key kept, the secret never echoed.
    await page.fill("#api_key", "my-own-key")
    await page.click("#start-button")
    alert = page.locator(".problem[role=alert]")
    await alert.wait_for()
    text = await alert.inner_text()
    assert "api_key and api_secret are required" in text
    assert "[object Object]" not in text
    assert await page.input_value("#api_key") == "my-own-key"
    assert await page.get_attribute("#api_secret", "aria-invalid") == "true"
    assert await page.evaluate("document.activeElement.classList.contains('problem')")

    # Empty fields use the server's (the sandbox's) key; submitted from the keyboard.
    await page.fill("#api_key", "")
    await page.focus("#api_key")
    await tab_to(page, "start-button")
    await page.keyboard.press("Enter")
    link = page.locator("#authorize-link")
    await link.wait_for()
    assert await link.get_attribute("target") == "_blank"
    assert "noopener" in (await link.get_attribute("rel") or "")
    assert await page.locator(".step-current").inner_text() == "2\nApprove on Flickr"

    # Flickr's (the sandbox's) page opens in a new tab: approve, read the verifier.
    async with page.context.expect_page() as opened:
        await link.click()
    flickr = await opened.value
    await flickr.wait_for_load_state()
    assert flickr.url.startswith(hub.sandbox)
    await flickr.click("#approve")
    verifier = (await flickr.locator("#verifier").inner_text()).strip()
    assert verifier
    await flickr.close()

    await page.fill("#oauth_verifier", verifier)
    await page.focus("#oauth_verifier")
    await tab_to(page, "finish-button")
    await page.keyboard.press("Enter")
    user_field = page.locator("#user-id")
    await user_field.wait_for()
    user_id = await user_field.input_value()
    assert uuid.UUID(user_id)
    assert await user_field.get_attribute("readonly") is not None
    curl = await page.locator("#curl-example").inner_text()
    assert f"{hub.api}/api/v1/flickr/rest" in curl
    assert f'"user_id": "{user_id}"' in curl
    assert "flickr.test.login" in curl

    # Copy, from the keyboard: the button follows the field.
    await user_field.focus()
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.getAttribute('data-copy-target')") == (
        "user-id"
    )
    await page.keyboard.press("Enter")
    await expect(page.locator("[data-copy-status]")).to_have_text("Copied to the clipboard.")
    assert await page.evaluate("navigator.clipboard.readText()") == user_id
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(screenshot_dir / "wizard.png"))

    # The user_id works: the call the page suggests completes.
    job = await blocking(call, hub.api, user_id, "flickr.test.login")
    assert job["state"] == "completed"


async def test_dashboard_follows_a_job_from_queued_to_completed(
    hub: Running, page: Any, screenshot_dir: Path
) -> None:
    user = await blocking(connect_account, hub.api)
    # A few finished jobs, so the page has something to show.
    await blocking(call, hub.api, user, "flickr.test.login")
    await blocking(call, hub.api, user, "flickr.people.getInfo", user_id="78733179@N04")
    await blocking(call, hub.api, user, "flickr.people.getInfo", user_id="78733179@N04")
    assert (await blocking(call, hub.api, user, "flickr.photos.getInfo", photo_id="1"))[
        "state"
    ] == "failed"

    await page.goto(f"{hub.api}/ui/dashboard")
    await page.wait_for_selector("#dashboard[data-live=true]")
    await page.evaluate("window.__samePage = true")

    await blocking(faults, hub.sandbox, latency_ms=5000, methods=["flickr.test.echo"], count=1)
    job_id = await blocking(submit, hub.api, user, "flickr.test.echo", note="slow on purpose")
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    await row.wait_for(timeout=6_000)
    first = await row.get_attribute("data-state")
    assert first in ("queued", "running"), first
    assert await row.locator(".state-text").inner_text() == first
    assert await row.locator(".state-icon").get_attribute("aria-hidden") == "true"
    assert await row.locator('[data-col="method"]').inner_text() == "flickr.test.echo"

    await page.wait_for_selector(f'tr[data-job-id="{job_id}"][data-state=completed]')
    assert await row.locator(".state-text").inner_text() == "completed"
    assert await row.locator(".state-icon").inner_text() == "✓"
    assert re.fullmatch(r"\d+\.\d s", await row.locator('[data-col="duration"]').inner_text())
    assert await page.evaluate("window.__samePage") is True  # updated in place, not reloaded
    summary = page.locator("#live-summary")
    assert await summary.get_attribute("aria-live") == "polite"
    assert "completed" in await summary.inner_text()
    assert int(await page.locator('[data-field="accounts"]').inner_text()) >= 1
    assert "%" in await page.locator('[data-field="cache.ratio_text"]').inner_text()

    # The job's own page.
    await row.locator('[data-col="id"] a').click()
    await page.wait_for_url(f"**/ui/jobs/{job_id}")
    assert "slow on purpose" in await page.locator("#result-json").inner_text()

    await page.goto(f"{hub.api}/ui/dashboard")
    await page.wait_for_selector("#dashboard[data-live=true]")
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(screenshot_dir / "dashboard.png"))


async def test_hostile_params_are_shown_as_text(hub: Running, page: Any) -> None:
    user = await blocking(connect_account, hub.api)
    job_id = await blocking(submit, hub.api, user, "flickr.test.echo", text=XSS)
    assert (await blocking(outcome, hub.api, job_id, user))["state"] == "completed"

    await page.goto(f"{hub.api}/ui/dashboard")
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    await row.wait_for()
    assert (
        "<script>window.__xss=1</script><img src=x onerror="
        in await row.locator('[data-col="params"]').inner_text()
    )
    # One live refresh later (rows rebuilt by the script) it is still text.
    dashboard = page.locator("#dashboard")
    before = await dashboard.get_attribute("data-refreshed")
    if before is None:
        await expect(dashboard).to_have_attribute("data-refreshed", re.compile("."))
    else:
        await expect(dashboard).not_to_have_attribute("data-refreshed", before)
    assert await page.locator("#job-rows img, #job-rows script").count() == 0
    assert await page.evaluate("typeof window.__xss") == "undefined"

    await page.goto(f"{hub.api}/ui/jobs/{job_id}")
    as_json = json.dumps(XSS)[1:-1]  # the page shows JSON: the quotes are escaped
    assert as_json in await page.locator("#params-json").inner_text()
    assert as_json in await page.locator("#result-json").inner_text()
    assert await page.locator("main img, main script").count() == 0
    await page.wait_for_timeout(300)  # an onerror would have fired by now
    assert await page.evaluate("typeof window.__xss") == "undefined"


async def test_dead_letters_are_replayed_from_the_dashboard(hub: Running, page: Any) -> None:
    user = await blocking(connect_account, hub.api)
    await blocking(faults, hub.sandbox, error_rate_5xx=1.0, methods=["flickr.test.echo"], count=3)
    dead = await blocking(submit, hub.api, user, "flickr.test.echo", replay="me")
    assert (await blocking(outcome, hub.api, dead, user))["dead_lettered"] is True

    await page.goto(f"{hub.api}/ui/dashboard")
    assert int(await page.locator('[data-field="dlq.replayable"]').inner_text()) >= 1
    await page.click("#replay-button")
    notice = page.locator(".notice[role=status]")
    await notice.wait_for()
    assert re.search(r"Replayed (\d+) of \1 dead-lettered", await notice.inner_text())
    await expect(page.locator('[data-field="dlq.replayable"]')).to_have_text("0")
    jobs = data(await blocking(httpx.get, f"{hub.api}/ui/dashboard.json"))["jobs"]
    copy = next(j for j in jobs if j["params"] == '{"replay": "me"}' and j["id"] != dead)
    deadline = time.monotonic() + 15
    while (await blocking(outcome, hub.api, copy["id"], user))["state"] != "completed":
        assert time.monotonic() < deadline
