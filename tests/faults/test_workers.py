"""A worker dies or is stopped in the middle of jobs.

* SIGKILL: the jobs it held come back (RabbitMQ redelivers what was not acked) and the
  other worker finishes them; a read whose call was in flight is sent again (reads are
  idempotent), an upload whose request was in flight is not: it fails with
  ``ERR_OUTCOME_UNKNOWN``, and the sandbox saw it at most once.
* SIGTERM drains: the worker stops taking jobs at once (what is submitted afterwards
  goes to the other worker), finishes what it holds within ``FLICKRHUB_DRAIN_SECONDS``,
  or hands it back when that runs out, and exits 0.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.faults.conftest import DRAIN_SECONDS, FaultCluster
from tests.faults.harness import Jobs, arrived, check_promises, running_on, wait_for

pytestmark = pytest.mark.e2e


def test_sigkill_mid_jobs_the_other_worker_finishes_them(hub: FaultCluster, jobs: Jobs) -> None:
    # Slow calls, so both workers hold jobs (reads and uploads) when one is killed.
    jobs.faults(latency_ms=1500, methods=["flickr.test.echo", "upload"])
    batch = jobs.submit(reads=12, uploads=4, tag="kill-")

    def victim() -> str | None:
        for name, proc in hub.workers.items():
            held = running_on(proc, batch.ids)
            if held & set(batch.uploads) and held & set(batch.reads):
                return name
        return None

    name = wait_for(victim, timeout=15, what="a worker running an upload and a read")
    proc = hub.workers[name]
    proc.kill9()
    jobs.clear_faults()
    held = running_on(proc, batch.ids)  # its log is complete now: what it was running
    assert held

    verdict = check_promises(jobs, batch, hub.workers.values())
    (survivor,) = set(hub.workers) - {name}
    for job_id in held:
        # The killed worker finished none of them; the other one did, once.
        assert verdict.finished_by[job_id] == [(survivor, verdict.finished_by[job_id][0][1])]
        job = verdict.jobs[job_id]
        if job_id in batch.reads:
            assert job["state"] == "completed", job
            assert job["attempts"] == 2, job  # the killed attempt counts
        else:
            # Its request may have reached Flickr: not sent again.
            assert job["state"] == "failed", job
            assert job["error"]["code"] == "ERR_OUTCOME_UNKNOWN", job
            assert verdict.upload_counts[batch.uploads[job_id]] <= 1
    # Uploads the killed worker had not started ran normally on the other one.
    untouched = set(batch.uploads) - held
    assert all(verdict.state(job_id) == "completed" for job_id in untouched), verdict.jobs


def test_sigterm_drains_finishing_what_it_holds(hub: FaultCluster, jobs: Jobs) -> None:
    # Calls take 1 s, well within the drain time: the stopping worker finishes them.
    jobs.faults(latency_ms=1000, methods=["flickr.test.echo", "upload"])
    first = jobs.submit(reads=8, uploads=2, tag="drain-")
    name = wait_for(
        lambda: next((n for n, p in hub.workers.items() if running_on(p, first.ids)), None),
        timeout=10,
        what="a worker running jobs",
    )
    proc = hub.workers[name]
    assert proc.process is not None
    proc.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    # Once it drains it takes nothing new: what is submitted now goes to the other one.
    wait_for(lambda: proc.events("worker_draining"), what="the worker draining")
    later = jobs.submit(reads=6, tag="after-term-")
    assert proc.process.wait(timeout=DRAIN_SECONDS + 10) == 0, proc.output()[-3000:]
    took = time.monotonic() - signalled
    assert took < DRAIN_SECONDS + 5, f"the worker took {took:.1f} s to stop"

    first += later
    verdict = check_promises(jobs, first, hub.workers.values())
    (survivor,) = set(hub.workers) - {name}
    started = {e["job_id"] for e in proc.events("job_started") if e["job_id"] in first.ids}
    assert started and not started & set(later.ids)
    for job_id in started:  # finished by the stopping worker itself, within the drain
        assert verdict.finished_by[job_id] == [(name, "job_completed")], verdict.jobs[job_id]
        assert verdict.jobs[job_id]["attempts"] == 1
    for job_id in later.ids:
        assert verdict.finished_by[job_id][0][0] == survivor
    assert not proc.events("worker_drain_timeout")


def test_sigterm_hands_back_what_outlasts_the_drain(hub: FaultCluster, jobs: Jobs) -> None:
    # Calls take far longer than the drain: the stopping worker gives its jobs back
    # when the drain time is up, and the other worker finishes them.
    jobs.faults(latency_ms=int(DRAIN_SECONDS * 1000) + 5000, methods=["flickr.test.echo", "upload"])
    batch = jobs.submit(reads=4, uploads=2, tag="outlast-")

    def victim() -> str | None:
        for name, proc in hub.workers.items():
            if running_on(proc, batch.uploads) and running_on(proc, batch.reads):
                return name
        return None

    name = wait_for(victim, timeout=10, what="a worker running an upload and a read")
    proc = hub.workers[name]
    running = running_on(proc, batch.ids)
    wait_for(lambda: arrived(jobs, batch, running), what="their requests at the sandbox")
    jobs.clear_faults()  # the requests already sent stay slow; the resent ones do not
    assert proc.process is not None
    proc.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    assert proc.process.wait(timeout=DRAIN_SECONDS + 10) == 0, proc.output()[-3000:]
    took = time.monotonic() - signalled
    assert DRAIN_SECONDS - 0.5 < took < DRAIN_SECONDS + 5, f"stopped after {took:.1f} s"
    held = running_on(proc, batch.ids)  # interrupted when the drain time ran out
    assert held & set(batch.reads) and held & set(batch.uploads)
    assert proc.events("worker_drain_timeout")

    verdict = check_promises(jobs, batch, hub.workers.values())
    (survivor,) = set(hub.workers) - {name}
    for job_id in held:
        assert verdict.finished_by[job_id][0][0] == survivor
        job = verdict.jobs[job_id]
        if job_id in batch.reads:
            assert (job["state"], job["attempts"]) == ("completed", 2), job
        else:
            assert job["error"]["code"] == "ERR_OUTCOME_UNKNOWN", job
