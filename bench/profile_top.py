"""Summaries of the profiles ``harness.py --modes profile`` writes.

    python profile_top.py pyspy results/pyspy.txt [--top 30] [--match flickrhub]
    python profile_top.py cprofile results/cprofile.prof [--top 40]

py-spy's raw format is one collapsed stack per line (``frame;frame;... count``).
The summary gives, per function, its share of samples as the leaf ("self") and
anywhere on the stack ("inclusive"), idle samples (the event loop waiting in
``select``/``epoll``) counted apart.
"""

from __future__ import annotations

import argparse
import pstats
import re
from collections import Counter
from pathlib import Path

IDLE = re.compile(r"\b(select|poll|epoll|_run_once)\b.*selectors\.py|\(selectors\.py")


def _name(frame: str) -> str:
    # "function (path/to/file.py:123)" → "function (file.py)"
    m = re.match(r"(.*?) \((.*?):\d+\)$", frame.strip())
    if not m:
        return frame.strip()
    func, path = m.groups()
    parts = path.split("/")
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{func} ({short})"


def pyspy(path: Path, top: int, match: str | None) -> None:
    self_counts: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        if "select (selectors.py)" in frames[-1] or frames[-1].startswith("select "):
            idle += count
            continue
        self_counts[frames[-1]] += count
        for name in set(frames):
            incl[name] += count
    busy = total - idle
    print(f"{path}: {total} samples, {idle} idle ({idle / max(1, total):.0%}), {busy} busy")
    print(f"\nTop {top} by inclusive share of busy samples:")
    for name, count in incl.most_common():
        if match and match not in name:
            continue
        print(f"  {count / max(1, busy):6.1%}  {name}")
        top -= 1
        if top <= 0:
            break
    print("\nTop 25 by self share of busy samples:")
    for name, count in self_counts.most_common(25):
        print(f"  {count / max(1, busy):6.1%}  {name}")


def cprofile(path: Path, top: int) -> None:
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["pyspy", "cprofile"])
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", default=None, help="only names containing this")
    args = parser.parse_args()
    if args.kind == "pyspy":
        pyspy(args.path, args.top, args.match)
    else:
        cprofile(args.path, args.top)


if __name__ == "__main__":
    main()
