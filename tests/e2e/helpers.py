"""What an API client does: connect an account, send calls, wait for outcomes."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import httpx

#: A real JPEG's start (SOI + JFIF APP0), enough for Flickr's file-type sniffing.
JPEG_HEAD = bytes.fromhex("ffd8ffe000104a46494600010100000100010000")


def jpeg(size: int) -> bytes:
    return JPEG_HEAD + os.urandom(size - len(JPEG_HEAD) - 2) + b"\xff\xd9"


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] is None
    return body["data"]


def approve(api: str, *, username: str | None = None, perms: str = "delete") -> dict[str, Any]:
    """Start OAuth through FlickrHub and approve on the sandbox's page the way a script
    can: ``/auth/start``'s data plus the ``oauth_verifier`` the sandbox gave."""
    started = data(httpx.post(f"{api}/api/v1/auth/start", json={"perms": perms}))
    authorize = urlsplit(started["authorize_url"])
    form = {"oauth_token": started["oauth_token"], "perms": perms, "approve": "1"}
    if username:
        form["username"] = username
    approved = httpx.post(
        f"{authorize.scheme}://{authorize.netloc}{authorize.path}",
        data=form,
        headers={"X-Sandbox-Approve": "1"},
    )
    assert approved.status_code == 200, approved.text
    return {**started, "oauth_verifier": approved.json()["oauth_verifier"]}


def complete(api: str, approved: dict[str, Any], **overrides: str) -> httpx.Response:
    body = {key: approved[key] for key in ("oauth_token", "oauth_verifier", "state")}
    return httpx.post(f"{api}/api/v1/auth/complete", json={**body, **overrides})


def connect_account(api: str, *, username: str | None = None, perms: str = "delete") -> str:
    """OAuth through FlickrHub, approving on the sandbox's page the way a script can."""
    completed = data(complete(api, approve(api, username=username, perms=perms)))
    return str(completed["user_id"])


def submit(api: str, user: str, method: str, /, **params: Any) -> str:
    body = {"user_id": user, "method": method, "params": params}
    return str(data(httpx.post(f"{api}/api/v1/flickr/rest", json=body), 202)["job_id"])


def outcome(api: str, job_id: str, user_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Long-poll the job until it is finished."""
    deadline_polls = int(timeout / 10) + 1
    for _ in range(deadline_polls):
        job = data(
            httpx.get(
                f"{api}/api/v1/flickr/jobs/{job_id}",
                params={"user_id": user_id, "wait": 10},
                timeout=15,
            )
        )
        if job["state"] in ("completed", "failed", "cancelled"):
            return dict(job)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def call(api: str, user: str, method: str, /, **params: Any) -> dict[str, Any]:
    return outcome(api, submit(api, user, method, **params), user)


def upload(api: str, user_id: str, photo: bytes, **fields: str) -> dict[str, Any]:
    response = httpx.post(
        f"{api}/api/v1/flickr/upload",
        data={"user_id": user_id, **fields},
        files={"photo": ("photo.jpg", photo, "image/jpeg")},
        timeout=60,
    )
    return outcome(api, data(response, 202)["job_id"], user_id)


def faults(sandbox: str, **rule: Any) -> None:
    httpx.post(f"{sandbox}/sandbox/faults", json=rule).raise_for_status()
