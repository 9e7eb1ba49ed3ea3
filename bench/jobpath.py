"""FlickrHub's worker job path in one process, without the broker.

Job records are saved to Redis as ``Runtime.enqueue`` saves them, then each job's
message (``encode_message``, as ``Runtime.enqueue`` publishes it) is
handed to ``WorkerHost.handle`` as a delivery (16 at a time): the lease, the token
cache, the signed call to the stand-in, the saves, the log line, the archive. What it
leaves out is the AMQP side (frames, the consume and the ack), which the bare
consumer pays too. Run by ``harness.py --modes jobpath`` (settings from its
environment, the bench user's token already stored).

It prints one JSON line: the CPU time of this process per job, for each measured
round (the first round warms up and is not counted). With ``--callgrind`` it runs
under ``valgrind --tool=callgrind --instr-atstart=no`` (the harness starts it so) and
switches instrumentation on for the last round only, then dumps the counts: the
instructions per job repeat to about 1 % from run to run, whatever else the machine
does, so a change of a few per cent shows, where CPU seconds on a shared machine move
by more than that between rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable

BENCH_USER = "bench-user"
BENCH_OWNER = "default"
IN_FLIGHT = 16


class Delivery:
    """What the broker would hand the worker; settling it does nothing here."""

    redelivered = False

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.outcome = ""

    async def ack(self) -> None:
        self.outcome = "ack"

    async def dead_letter(self, reason: str) -> None:
        self.outcome = f"dead_letter: {reason}"

    async def requeue(self) -> None:
        self.outcome = "requeue"


def callgrind(command: str) -> None:
    """``callgrind_control`` on this process (``-i on``, ``-z``, ``-d``, ``-i off``)."""
    subprocess.run(
        ["callgrind_control", *command.split(), str(os.getpid())], capture_output=True, check=True
    )


#: Where ``--cprofile`` writes the last round's profile (set by ``command``).
_cprofile_to: str | None = None


async def timed_round(work: Awaitable[object], items: int, counted: bool) -> float:
    """CPU µs of this process per item while ``work`` runs; with ``counted`` its
    instructions alone are counted and dumped (under callgrind), or with ``--cprofile``
    its calls profiled on the thread's CPU clock (a wall clock would charge a loopback
    write with the work it wakes in the other process)."""
    profile_to = _cprofile_to if counted else None
    profiler = cProfile.Profile(time.thread_time) if profile_to else None
    if profiler is not None:
        profiler.enable()
    elif counted:
        callgrind("-i on")
        callgrind("-z")
    started = time.process_time()
    await work
    spent = time.process_time() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_to)
    elif counted:
        callgrind("-d")
        callgrind("-i off")
    return spent / items * 1e6


def command(run: Callable[[int, int, bool], Awaitable[dict[str, object]]], doc: str) -> None:
    """The command line of an in-process script (this one, ``apipath.py``): ``run``
    gets the jobs per round, the measured rounds and whether the last round is looked
    into (``--callgrind`` or ``--cprofile``)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs (requests) per round")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (after a warm-up)")
    looks = parser.add_mutually_exclusive_group()
    looks.add_argument(
        "--callgrind", action="store_true", help="count the last round's instructions"
    )
    looks.add_argument("--cprofile", metavar="FILE", help="profile the last round into FILE")
    args = parser.parse_args()
    import uvloop

    global _cprofile_to
    _cprofile_to = args.cprofile
    counted = args.callgrind or args.cprofile is not None
    result = uvloop.run(run(args.jobs, args.rounds, counted))
    print(json.dumps(result), flush=True)


async def run(jobs: int, rounds: int, look: bool) -> dict[str, object]:
    import gc

    from flickrhub_core.cli.app import setup_logging
    from flickrhub_core.jobs import Job
    from flickrhub_core.runtime import Runtime, encode_message
    from flickrhub_core.settings import load_settings
    from flickrhub_core.worker.host import WorkerHost

    settings = load_settings()
    setup_logging(settings)
    runtime = Runtime.create(settings, role="worker")
    await runtime.start()
    try:
        host = WorkerHost(runtime)
        slots = asyncio.Semaphore(IN_FLIGHT)

        async def handle(delivery: Delivery) -> None:
            async with slots:
                await host.handle(delivery)

        gc.collect()
        gc.freeze()  # as the worker command does once it serves
        per_job_us: list[float] = []
        outcomes: dict[str, int] = {}
        for round_number in range(rounds + 1):
            deliveries = []
            for i in range(jobs):
                job = Job(
                    owner=BENCH_OWNER,
                    user_id=BENCH_USER,
                    target="rest",
                    method="flickr.test.echo",
                    params={"name": f"j{round_number}-{i}"},
                    max_attempts=settings.job_retry_attempts,
                    trace_id=uuid.uuid4().hex,
                    cache_bypass=True,
                )
                await runtime.jobs.save(job)
                deliveries.append(Delivery(encode_message(job)))

            cost = await timed_round(
                asyncio.gather(*(handle(d) for d in deliveries)),
                jobs,
                counted=look and round_number == rounds,
            )
            if round_number:
                per_job_us.append(cost)
            for delivery in deliveries:
                outcomes[delivery.outcome] = outcomes.get(delivery.outcome, 0) + 1
        return {"jobs": jobs, "rounds": rounds, "cpu_us_per_job": per_job_us, "outcomes": outcomes}
    finally:
        await runtime.close()


if __name__ == "__main__":
    command(run, __doc__ or "")
