"""Dead letters end to end: a job exhausts its retries in ``flickrhub run``, and the
``flickrhub dlq`` commands list, show, replay and purge it over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e.conftest import Running
from tests.e2e.helpers import call, connect_account, faults, outcome

pytestmark = pytest.mark.e2e


def dlq(hub: Running, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLICKR", "PORT"))}
    return subprocess.run(
        [sys.executable, "-m", "flickrhub_core.cli", "dlq", *args, "--api", hub.api],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def dead_job(hub: Running, user: str, tag: str) -> dict[str, Any]:
    faults(hub.sandbox, error_rate_5xx=1.0, methods=["flickr.test.echo"], count=3)
    job = call(hub.api, user, "flickr.test.echo", tag=tag)
    assert job["dead_lettered"] is True
    return job


def test_list_show_replay_and_purge(hub: Running) -> None:
    user = connect_account(hub.api)
    first = dead_job(hub, user, "first")
    second = dead_job(hub, user, "second")

    listed = dlq(hub, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [j["job_id"] for j in json.loads(listed.stdout)["jobs"]] == [second["id"], first["id"]]
    table = dlq(hub, "list")
    assert first["id"] in table.stdout and "flickr.test.echo" in table.stdout

    shown = dlq(hub, "show", first["id"])
    assert shown.returncode == 0, shown.stderr
    assert '{"tag": "first"}' in shown.stdout

    replayed = dlq(hub, "replay", first["id"], "--json")
    assert replayed.returncode == 0, replayed.stderr
    new_id = json.loads(replayed.stdout)["job_id"]
    job = outcome(hub.api, new_id, user)
    assert job["state"] == "completed" and job["attempts"] == 1
    assert job["replay_of"] == first["id"]
    again = dlq(hub, "replay", first["id"])
    assert again.returncode == 2 and "ERR_ALREADY_REPLAYED" in again.stderr

    purged = dlq(hub, "purge", "--all", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert purged.stdout == "Purged 1 dead letter(s).\n"
    assert dlq(hub, "list").stdout == "No dead letters.\n"
