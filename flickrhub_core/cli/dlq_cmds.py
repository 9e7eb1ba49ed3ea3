"""``flickrhub dlq list | show | replay | purge``: the dead letters of a running API.

Clients of the admin routes (``/api/v1/admin/dlq``), like ``flickrhub call``: they
speak HTTP (``--api URL``, ``--client-key KEY``) and see the dead letters of the API
client whose key they send. Tables go to stdout (``--json`` prints the API's answer
instead), notes to stderr. A replay or purge of several jobs (or ``--all``) that leaves
some as they were (replayed already, account disconnected, ...) lists them on stderr
and exits 1; of one job, it is that job's error, on one line, with exit status 2 like
every other error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from flickrhub_core.cli.app import cli, settings_of
from flickrhub_core.cli.client import API_PREFIX, ApiClient
from flickrhub_core.cli.client_cmds import api_options, run_async
from flickrhub_core.serve import local_url

DLQ_PATH = f"{API_PREFIX}/admin/dlq"
#: Exit status when some of the jobs named could not be replayed or purged.
EXIT_PARTIAL = 1
#: Characters of a reason shown in the table (``show`` and ``--json`` have it whole).
REASON_WIDTH = 60


def _client(api_url: str | None, client_key: str | None) -> ApiClient:
    if api_url is None:
        settings = settings_of()
        api_url = local_url(settings.host, settings.port)
    return ApiClient(api_url, api_key=client_key)


def _say(message: str) -> None:
    click.echo(message, err=True)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    text = "-" if value is None or value == "" else " ".join(str(value).split())
    return text if len(text) <= REASON_WIDTH else text[: REASON_WIDTH - 1] + "…"


def _ids_or_all(job_ids: tuple[str, ...], all_: bool) -> None:
    if all_ and job_ids:
        raise click.UsageError("give JOB_ID... or --all, not both")
    if not all_ and not job_ids:
        raise click.UsageError("give at least one JOB_ID, or --all")


def _report_errors(errors: Sequence[dict[str, Any]]) -> None:
    for error in errors:
        _say(f"flickrhub: {error.get('job_id')}: {error.get('code')}: {error.get('message')}")


@cli.group()
def dlq() -> None:
    """Dead letters: jobs that exhausted their retries. List, show, replay, purge.

    They talk to a running API (--api, --client-key) and see only the dead letters
    of the API client whose key they send.
    """


@dlq.command("list")
@click.option(
    "--limit", type=click.IntRange(1, 200), default=50, show_default=True, help="Rows per page."
)
@click.option("--cursor", default=None, help="next_cursor of a previous page.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's answer as JSON.")
@api_options
@run_async
async def list_cmd(
    limit: int, cursor: str | None, as_json: bool, api_url: str | None, client_key: str | None
) -> None:
    """List the dead letters, newest first, with why each died."""
    params: dict[str, Any] = {"limit": limit}
    if cursor:
        params["cursor"] = cursor
    async with _client(api_url, client_key) as client:
        data = await client.request_object("GET", DLQ_PATH, params=params)
    if as_json:
        _print_json(data)
        return
    jobs = [job for job in data.get("jobs") or [] if isinstance(job, dict)]
    if not jobs:
        click.echo("No dead letters.")
    else:
        rows = [
            {
                **job,
                "method": job.get("method") or job.get("target"),
                "attempts": f"{job.get('attempts')}/{job.get('max_attempts')}",
            }
            for job in jobs
        ]
        _table(rows, ("job_id", "method", "user_id", "attempts", "dead_at", "reason"))
    if data.get("next_cursor"):
        _say(f"More: flickrhub dlq list --cursor {data['next_cursor']}")


@dlq.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
@api_options
@run_async
async def show_cmd(job_id: str, as_json: bool, api_url: str | None, client_key: str | None) -> None:
    """Show one dead letter: what it called, why it died, whether it was replayed."""
    async with _client(api_url, client_key) as client:
        job = await client.request_object("GET", f"{DLQ_PATH}/{job_id}")
    if as_json:
        _print_json(job)
        return
    raw_error = job.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    fields = [
        ("job_id", job.get("job_id")),
        ("target", job.get("target")),
        ("method", job.get("method")),
        ("user_id", job.get("user_id")),
        ("attempts", f"{job.get('attempts')}/{job.get('max_attempts')}"),
        ("created_at", job.get("created_at")),
        ("dead_at", job.get("dead_at")),
        ("error", f"{error.get('code', '-')}: {job.get('reason')}"),
        ("in_dlq", "yes" if job.get("in_dlq") else "no"),
        ("replay_of", job.get("replay_of")),
        ("replayed_by", job.get("replayed_by")),
        ("purged_at", job.get("purged_at")),
        ("params", json.dumps(job.get("params") or {}, sort_keys=True)),
    ]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        click.echo(f"{name.ljust(width)}  {'-' if value in (None, '') else value}")


@dlq.command("replay")
@click.argument("job_ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Replay every dead letter (500 per call).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's answer as JSON.")
@api_options
@run_async
async def replay_cmd(
    job_ids: tuple[str, ...],
    all_: bool,
    as_json: bool,
    api_url: str | None,
    client_key: str | None,
) -> None:
    """Queue dead jobs again, as new jobs with fresh attempts; prints each new job id.

    A job can be replayed once: its new job's replay_of names it, and its
    replayed_by names the new job. With --all, the oldest 500 go per run.
    """
    _ids_or_all(job_ids, all_)
    async with _client(api_url, client_key) as client:
        if len(job_ids) == 1:
            one = await client.request_object("POST", f"{DLQ_PATH}/{job_ids[0]}/replay")
            data: dict[str, Any] = {
                "replayed": [{"job_id": job_ids[0], "new_job_id": one.get("job_id")}],
                "errors": [],
                "more": False,
            }
            if as_json:
                _print_json(one)
                return
        else:
            body = {"all": True} if all_ else {"job_ids": list(job_ids)}
            data = await client.request_object("POST", f"{DLQ_PATH}/replay", json=body)
            if as_json:
                _print_json(data)
                _exit_if_errors(data)
                return
    replayed = [r for r in data.get("replayed") or [] if isinstance(r, dict)]
    if replayed:
        _table(replayed, ("job_id", "new_job_id"))
    elif all_:
        click.echo("No dead letters to replay.")
    if data.get("more"):
        _say("More dead letters are left: run 'flickrhub dlq replay --all' again.")
    _exit_if_errors(data)


@dlq.command("purge")
@click.argument("job_ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Purge every dead letter.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's answer as JSON.")
@api_options
@run_async
async def purge_cmd(
    job_ids: tuple[str, ...],
    all_: bool,
    yes: bool,
    as_json: bool,
    api_url: str | None,
    client_key: str | None,
) -> None:
    """Take dead jobs out of the dead-letter queue for good.

    They stay in the job history as failed jobs, but their kept photos are deleted
    and they can no longer be replayed. Asks first, unless --yes.
    """
    _ids_or_all(job_ids, all_)
    if not yes:
        what = "every dead letter" if all_ else f"{len(job_ids)} dead letter(s)"
        click.confirm(f"Purge {what}? They can no longer be replayed.", abort=True, err=True)
    async with _client(api_url, client_key) as client:
        if len(job_ids) == 1:
            one = await client.request_object("DELETE", f"{DLQ_PATH}/{job_ids[0]}")
            data: dict[str, Any] = {
                "purged": [one.get("job_id")],
                "errors": [],
                "more": False,
                "messages_removed": one.get("messages_removed", 0),
            }
            if as_json:
                _print_json(one)
                return
        else:
            data = await _purge_bulk(client, job_ids, all_=all_)
            if as_json:
                _print_json(data)
                _exit_if_errors(data)
                return
    purged = [job_id for job_id in data.get("purged") or [] if isinstance(job_id, str)]
    click.echo(f"Purged {len(purged)} dead letter(s).")
    _exit_if_errors(data)


async def _purge_bulk(client: ApiClient, job_ids: Sequence[str], *, all_: bool) -> dict[str, Any]:
    """One bulk call, or with ``all_`` as many as it takes (purged jobs never come back,
    so this ends); the answers are added up."""
    body: dict[str, Any] = {"all": True} if all_ else {"job_ids": list(job_ids)}
    total: dict[str, Any] = {"purged": [], "errors": [], "more": False, "messages_removed": 0}
    while True:
        data = await client.request_object("POST", f"{DLQ_PATH}/purge", json=body)
        total["purged"] += data.get("purged") or []
        total["errors"] += data.get("errors") or []
        total["messages_removed"] += int(data.get("messages_removed") or 0)
        if not (all_ and data.get("more") and data.get("purged")):
            return total


def _exit_if_errors(data: dict[str, Any]) -> None:
    errors = [e for e in data.get("errors") or [] if isinstance(e, dict)]
    if errors:
        _report_errors(errors)
        raise click.exceptions.Exit(EXIT_PARTIAL)
