"""Start the ``flickrhub`` CLI as the product ships it.

``BENCH_PROFILE``: a path: run under cProfile and dump stats there on exit. The
profile's clock is the main thread's CPU time: with the default (wall) clock, a
loopback write that wakes Redis or the stand-in on the other core is charged to the
call that wrote, many times what it costs.
"""

from __future__ import annotations

import os
import sys

from flickrhub_core.cli import cli


def main() -> None:
    profile = os.environ.get("BENCH_PROFILE")
    if not profile:
        cli(prog_name="flickrhub")
        return
    import cProfile
    import time

    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    try:
        cli(prog_name="flickrhub", standalone_mode=False)
    finally:
        profiler.disable()
        profiler.dump_stats(profile)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
