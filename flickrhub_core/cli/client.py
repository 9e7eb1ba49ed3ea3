"""A small client of the FlickrHub HTTP API, for the CLI's client commands.

It speaks the envelope (``{"request_id", "data", "error"}``): ``data`` is returned,
an ``error`` becomes :class:`ApiError`, which the command group prints as one line.
Because it only talks HTTP, the same commands work against a remote deployment.
"""

from __future__ import annotations

import asyncio
import mimetypes
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from flickrhub_core.errors import FlickrHubError
from flickrhub_core.flickr import MultipartBody
from flickrhub_core.jobs import FINISHED_STATES

API_PREFIX = "/api/v1"
#: Seconds each status long-poll asks the API to hold the request. The API answers
#: as soon as the job finishes, so this only bounds how late a state change shows.
POLL_WAIT = 2
MIN_POLL_INTERVAL = 0.25
CHUNK = 256 * 1024


class ApiError(FlickrHubError):
    """The API answered with an error (or not with its envelope)."""


class WaitTimeout(FlickrHubError):
    """A job did not finish within the time the caller allowed."""


def _describe_error(error: dict[str, Any]) -> str:
    """``CODE: message (problem; problem)``: a refused request's ``details`` are one
    string per problem, each naming its field."""
    message = f"{error.get('code', 'ERR')}: {error.get('message', 'error')}"
    details = error.get("details")
    if isinstance(details, list):
        problems = "; ".join(item for item in details if isinstance(item, str))
        if problems and problems != error.get("message"):
            message += f" ({problems})"
    return message


class ApiClient:
    """One API base URL and (optional) API key; use as ``async with``."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 30,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": "flickrhub-cli"}
        if api_key:
            headers["X-API-Key"] = api_key
        self.base_url = base_url.rstrip("/")
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; return the envelope's ``data`` or raise :class:`ApiError`."""
        response = await self.http.request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not ("data" in body or "error" in body):
            raise ApiError(
                f"unexpected answer from {response.request.url} "
                f"(HTTP {response.status_code}): is this a FlickrHub API?"
            )
        error = body.get("error")
        if error or response.is_error:
            raise ApiError(_describe_error(error if isinstance(error, dict) else {}))
        return body.get("data")

    # --- the calls the CLI makes ---------------------------------------------------------

    async def request_object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Like :meth:`request`, for the calls whose ``data`` is a JSON object."""
        data = await self.request(method, path, **kwargs)
        if not isinstance(data, dict):
            raise ApiError(f"unexpected answer from {path}: data is not an object")
        return data

    async def auth_start(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.request_object("POST", f"{API_PREFIX}/auth/start", json=payload)

    async def auth_complete(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.request_object("POST", f"{API_PREFIX}/auth/complete", json=payload)

    async def enqueue(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.request_object("POST", f"{API_PREFIX}/flickr/rest", json=payload)

    async def job(self, job_id: str, *, user_id: str | None, wait: float = 0) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if user_id:
            params["user_id"] = user_id
        if wait > 0:
            params["wait"] = f"{wait:.3g}"
        # The server may hold the request for ``wait`` seconds: allow for it.
        timeout = httpx.Timeout((self.http.timeout.read or 30) + wait)
        return await self.request_object(
            "GET", f"{API_PREFIX}/flickr/jobs/{job_id}", params=params, timeout=timeout
        )

    async def send_photo(
        self,
        kind: str,
        photo: FilePhoto,
        fields: Sequence[tuple[str, str]],
    ) -> dict[str, Any]:
        """Stream ``photo`` as the ``photo`` part of a multipart POST to ``/flickr/<kind>``.

        The body is generated chunk by chunk as httpx sends it, so memory stays flat
        and the photo's ``on_bytes`` reports real progress.
        """
        body = MultipartBody(fields, photo)
        return await self.request_object(
            "POST",
            f"{API_PREFIX}/flickr/{kind}",
            content=body,
            headers=body.headers(),
            timeout=httpx.Timeout(30, write=None, read=300),
        )


@dataclass
class FilePhoto:
    """A :class:`~flickrhub_core.flickr.PhotoSource` reading a local file in chunks."""

    path: Path
    on_bytes: Callable[[int], None] | None = None

    def __post_init__(self) -> None:
        self.filename = self.path.name
        self.size: int | None = self.path.stat().st_size
        self.content_type: str | None = mimetypes.guess_type(self.path.name)[0]

    async def chunks(self) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(self.path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                if self.on_bytes is not None:
                    self.on_bytes(len(chunk))
                yield chunk
        finally:
            handle.close()


StateCallback = Callable[[dict[str, Any]], None]


async def wait_for_job(
    client: ApiClient,
    job_id: str,
    *,
    user_id: str | None,
    wait_timeout: float | None,
    on_change: StateCallback | None = None,
) -> dict[str, Any]:
    """Long-poll a job until it finishes; ``on_change`` sees each new state/attempt."""
    finished = {state.value for state in FINISHED_STATES}
    deadline = None if wait_timeout is None else time.monotonic() + wait_timeout
    seen: tuple[Any, ...] | None = None
    while True:
        asked = time.monotonic()
        remaining = POLL_WAIT if deadline is None else max(deadline - asked, 0)
        job = await client.job(job_id, user_id=user_id, wait=min(POLL_WAIT, remaining))
        state = job.get("state")
        key = (state, job.get("attempts"))
        news = key != seen
        if news and on_change is not None:
            on_change(job)
        seen = key
        if state in finished:
            return job
        if deadline is not None and time.monotonic() >= deadline:
            raise WaitTimeout(f"job {job_id} still {state} after {wait_timeout:g} s")
        if not news and time.monotonic() - asked < MIN_POLL_INTERVAL:
            # An answer at once without news (the server does not long-poll): pace it.
            await asyncio.sleep(MIN_POLL_INTERVAL)
