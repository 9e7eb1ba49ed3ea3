"""``flickrhub auth | call | upload | replace | status``: clients of a running API.

They only speak HTTP (``--api URL``), so they work against a remote deployment as
well as against ``flickrhub run`` on this machine. Results go to stdout, progress
and prompts to stderr, so ``USER=$(flickrhub auth ...)`` and pipes work.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import parse_qs, urlsplit

import click

from flickrhub_core.cli.app import cli, settings_of
from flickrhub_core.cli.client import ApiClient, ApiError, FilePhoto, wait_for_job
from flickrhub_core.serve import local_url

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

P = ParamSpec("P")
R = TypeVar("R")

#: Exit status of ``--wait`` when the job failed or was cancelled.
EXIT_JOB_FAILED = 1


def _default_api_url() -> str:
    settings = settings_of()
    return local_url(settings.host, settings.port)


def api_options(func: Callable[P, R]) -> Callable[P, R]:
    """``--api URL`` and ``--client-key KEY``, shared by every client command."""
    func = click.option(
        "--client-key",
        envvar="FLICKRHUB_CLIENT_KEY",
        default=None,
        help="FlickrHub API key, sent as X-API-Key [FLICKRHUB_CLIENT_KEY].",
    )(func)
    func = click.option(
        "--api",
        "api_url",
        envvar="FLICKRHUB_API_URL",
        default=None,
        metavar="URL",
        help="FlickrHub API base URL [FLICKRHUB_API_URL, else http://127.0.0.1:$PORT].",
    )(func)
    return func


def _client(api_url: str | None, client_key: str | None) -> ApiClient:
    return ApiClient(api_url or _default_api_url(), api_key=client_key)


def run_async(func: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, R]:
    """Let a click command be a coroutine function."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return asyncio.run(func(*args, **kwargs))

    return wrapper


def _say(message: str) -> None:
    click.echo(message, err=True)


# --- waiting for jobs -------------------------------------------------------------------


def _show_state(job: dict[str, Any]) -> None:
    state = job.get("state")
    line = f"job {job.get('job_id') or job.get('id')}: {state}"
    if state in ("running", "retrying"):
        line += f" (attempt {job.get('attempts')}/{job.get('max_attempts')})"
    error = job.get("error")
    if state == "retrying" and isinstance(error, dict):
        line += f": {error.get('message')}"
    if state == "completed" and job.get("from_cache"):
        line += " (from cache)"
    _say(line)


async def _finish(
    client: ApiClient,
    job_id: str,
    *,
    user_id: str | None,
    wait: bool,
    wait_timeout: float | None,
    as_json: bool,
) -> None:
    """Print the job id, or wait for the job and print its result (exit 1 if it failed)."""
    if not wait:
        click.echo(job_id)
        return
    job = await wait_for_job(
        client, job_id, user_id=user_id, wait_timeout=wait_timeout, on_change=_show_state
    )
    _print_outcome(job, as_json=as_json)


def _print_outcome(job: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(job, indent=2))
    elif job.get("state") == "completed":
        click.echo(json.dumps(job.get("result"), indent=2))
    if job.get("state") != "completed":
        error = job.get("error") or {}
        _say(
            f"flickrhub: job {job.get('state')}: "
            f"{error.get('code', 'ERR')}: {error.get('message', job.get('state'))}"
        )
        raise click.exceptions.Exit(EXIT_JOB_FAILED)


def with_wait_options(func: Callable[P, R]) -> Callable[P, R]:
    """``--wait/--no-wait``, ``--timeout`` and ``--json`` for commands that make a job."""
    func = click.option(
        "--json", "as_json", is_flag=True, help="Print the whole job record as JSON."
    )(func)
    func = click.option(
        "--timeout",
        "wait_timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Give up waiting after this many seconds.",
    )(func)
    func = click.option(
        "--wait/--no-wait",
        default=False,
        show_default=True,
        help="Wait for the job, showing its progress, and print its result.",
    )(func)
    return func


# --- auth -----------------------------------------------------------------------------


@cli.command()
@click.option(
    "--perms",
    type=click.Choice(["read", "write", "delete"]),
    default="write",
    show_default=True,
    help="Access the user grants.",
)
@click.option("--api-key", "flickr_key", default=None, help="Your Flickr app's key (optional).")
@click.option("--api-secret", "flickr_secret", default=None, help="Your Flickr app's secret.")
@click.option(
    "--approve-sandbox",
    is_flag=True,
    help="Against the sandbox only: approve without a browser (scripts, tests).",
)
@click.option(
    "--sandbox-user",
    default=None,
    metavar="NAME",
    help="With --approve-sandbox: the sandbox account that approves (default: its seeded one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the account as JSON.")
@api_options
@run_async
async def auth(
    perms: str,
    flickr_key: str | None,
    flickr_secret: str | None,
    approve_sandbox: bool,
    sandbox_user: str | None,
    as_json: bool,
    api_url: str | None,
    client_key: str | None,
) -> None:
    """Connect a Flickr account and print its user_id.

    Open the printed URL, approve access on Flickr, then paste the verifier code
    Flickr shows (it is read from stdin, so it can be piped in).
    """
    if bool(flickr_key) != bool(flickr_secret):
        raise click.UsageError("--api-key and --api-secret go together")
    payload: dict[str, Any] = {"perms": perms}
    if flickr_key:
        payload.update(api_key=flickr_key, api_secret=flickr_secret)
    async with _client(api_url, client_key) as client:
        started = await client.auth_start(payload)
        authorize_url = str(started["authorize_url"])
        oauth_token = str(started.get("oauth_token") or _query_value(authorize_url, "oauth_token"))
        if approve_sandbox:
            verifier = await approve_in_sandbox(
                client, authorize_url, oauth_token, perms, sandbox_user
            )
        elif started.get("mode") == "callback":
            # Flickr sends the browser to FlickrHub's callback, which finishes the login.
            _say("Open this URL in a browser and approve access; the page FlickrHub")
            _say("shows afterwards has your user_id:")
            click.echo(authorize_url)
            return
        else:
            _say("Open this URL in a browser and approve access:")
            _say(f"  {authorize_url}")
            verifier = click.prompt("Paste the verifier code", err=True).strip()
        done = await client.auth_complete(
            {
                "oauth_token": oauth_token,
                "oauth_verifier": verifier,
                "state": started.get("state"),
            }
        )
    if as_json:
        click.echo(json.dumps(done, indent=2))
        return
    who = done.get("username") or done.get("user_nsid") or done.get("nsid")
    if who:
        _say(f"Connected Flickr account {who} ({done.get('user_nsid') or done.get('nsid')}).")
    click.echo(done["user_id"])


def _query_value(url: str, name: str) -> str:
    values = parse_qs(urlsplit(url).query).get(name)
    if not values:
        raise ApiError(f"the authorize URL has no {name}")
    return values[0]


async def approve_in_sandbox(
    client: ApiClient, authorize_url: str, oauth_token: str, perms: str, username: str | None
) -> str:
    """Approve the request token on the sandbox's authorize page, as a user would.

    The sandbox accepts the ``X-Sandbox-Approve: 1`` header instead of the page's
    CSRF value and then answers JSON; flickr.com has no such thing.
    """
    page = authorize_url.split("?", 1)[0]
    form = {"oauth_token": oauth_token, "perms": perms, "approve": "1"}
    if username:
        form["username"] = username
    response = await client.http.post(
        page, data=form, headers={"X-Sandbox-Approve": "1", "Accept": "application/json"}
    )
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not answer.get("oauth_verifier"):
        reason = answer.get("error") if isinstance(answer, dict) else None
        why = f"HTTP {response.status_code}" + (f": {reason}" if reason else "")
        raise ApiError(
            f"could not approve at {page} ({why}): --approve-sandbox works only with the sandbox"
        )
    return str(answer["oauth_verifier"])


# --- call -----------------------------------------------------------------------------


def _parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="PARAMS")
        params[key] = value
    return params


@cli.command()
@click.argument("method")
@click.argument("params", nargs=-1)
@click.option("--user", "user_id", required=True, help="The user_id from `flickrhub auth`.")
@click.option("--target", default="rest", show_default=True, help="The job target.")
@click.option("--no-cache", is_flag=True, help="Bypass the response cache.")
@with_wait_options
@api_options
@run_async
async def call(
    method: str,
    params: tuple[str, ...],
    user_id: str,
    target: str,
    no_cache: bool,
    wait: bool,
    wait_timeout: float | None,
    as_json: bool,
    api_url: str | None,
    client_key: str | None,
) -> None:
    """Enqueue a Flickr REST call (or another target's job).

    Example: flickrhub call flickr.test.echo foo=bar --user USER_ID --wait

    PARAMS are key=value pairs, sent to Flickr as text. Prints the job id, or with
    --wait the result (exit status 1 if the job failed).
    """
    payload: dict[str, Any] = {
        "method": method,
        "params": _parse_params(params),
        "user_id": user_id,
        "target": target,
    }
    if no_cache:
        payload["cache"] = False
    async with _client(api_url, client_key) as client:
        job_id = str((await client.enqueue(payload))["job_id"])
        await _finish(
            client, job_id, user_id=user_id, wait=wait, wait_timeout=wait_timeout, as_json=as_json
        )


# --- upload and replace ----------------------------------------------------------------

photo_path = click.argument(
    "path", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
)


async def _send_photo(
    client: ApiClient, kind: str, path: Path, fields: list[tuple[str, str]]
) -> str:
    photo = FilePhoto(path)
    bar: ProgressBar[int]
    with click.progressbar(
        length=photo.size, label=f"Uploading {path.name}", file=sys.stderr, show_pos=False
    ) as bar:
        photo.on_bytes = bar.update
        data = await client.send_photo(kind, photo, fields)
    return str(data["job_id"])


@cli.command()
@photo_path
@click.option("--user", "user_id", required=True, help="The user_id from `flickrhub auth`.")
@click.option("--title", default=None)
@click.option("--description", default=None)
@click.option("--tags", default=None, help="Space-separated tags.")
@click.option("--public/--private", "public", default=None, help="Visibility (default: Flickr's).")
@click.option("--async", "async_", is_flag=True, help="Let Flickr process it (upload ticket).")
@with_wait_options
@api_options
@run_async
async def upload(
    path: Path,
    user_id: str,
    title: str | None,
    description: str | None,
    tags: str | None,
    public: bool | None,
    async_: bool,
    wait: bool,
    wait_timeout: float | None,
    as_json: bool,
    api_url: str | None,
    client_key: str | None,
) -> None:
    """Upload a photo to the user's Flickr account, with a progress bar."""
    fields = [("user_id", user_id)]
    for name, value in (("title", title), ("description", description), ("tags", tags)):
        if value is not None:
            fields.append((name, value))
    if public is not None:
        fields.append(("is_public", "1" if public else "0"))
    if async_:
        fields.append(("async", "1"))
    async with _client(api_url, client_key) as client:
        job_id = await _send_photo(client, "upload", path, fields)
        await _finish(
            client, job_id, user_id=user_id, wait=wait, wait_timeout=wait_timeout, as_json=as_json
        )


@cli.command()
@photo_path
@click.option("--user", "user_id", required=True, help="The user_id from `flickrhub auth`.")
@click.option("--photo-id", required=True, help="The Flickr photo to replace.")
@click.option("--async", "async_", is_flag=True, help="Let Flickr process it (upload ticket).")
@with_wait_options
@api_options
@run_async
async def replace(
    path: Path,
    user_id: str,
    photo_id: str,
    async_: bool,
    wait: bool,
    wait_timeout: float | None,
    as_json: bool,
    api_url: str | None,
    client_key: str | None,
) -> None:
    """Replace the image of one of the user's photos, with a progress bar."""
    fields = [("user_id", user_id), ("photo_id", photo_id)]
    if async_:
        fields.append(("async", "1"))
    async with _client(api_url, client_key) as client:
        job_id = await _send_photo(client, "replace", path, fields)
        await _finish(
            client, job_id, user_id=user_id, wait=wait, wait_timeout=wait_timeout, as_json=as_json
        )


# --- status ---------------------------------------------------------------------------


@cli.command()
@click.argument("job_id")
@click.option("--user", "user_id", default=None, help="The job's user_id.")
@click.option("--wait/--no-wait", default=False, help="Wait until the job finishes.")
@click.option(
    "--timeout", "wait_timeout", type=click.FloatRange(min=0, min_open=True), default=None
)
@api_options
@run_async
async def status(
    job_id: str,
    user_id: str | None,
    wait: bool,
    wait_timeout: float | None,
    api_url: str | None,
    client_key: str | None,
) -> None:
    """Print a job's status record as JSON (with --wait, once it finished)."""
    async with _client(api_url, client_key) as client:
        if wait:
            job = await wait_for_job(
                client, job_id, user_id=user_id, wait_timeout=wait_timeout, on_change=_show_state
            )
        else:
            job = await client.job(job_id, user_id=user_id)
    click.echo(json.dumps(job, indent=2))
    if wait and job.get("state") != "completed":
        raise click.exceptions.Exit(EXIT_JOB_FAILED)
