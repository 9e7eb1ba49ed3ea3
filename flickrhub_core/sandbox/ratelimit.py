"""Flickr's per-key budget (3,600 calls per hour across all users of a key), as a rolling hour.

The window is an hour unless the sandbox is told otherwise (``--rate-limit-window``): a
short one lets a test see Flickr's 429 and then the budget come back within seconds.
"""

from __future__ import annotations

import math
from collections import deque

WINDOW_S = 3600.0


class RollingHourLimiter:
    """Admits at most ``limit`` requests per key in any ``window_s`` window (an hour by
    default); ``0`` admits everything."""

    def __init__(self, limit: int, window_s: float = WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}

    def acquire(self, key: str, now: float) -> int | None:
        """Record a request; returns None if admitted, else the seconds until one would be."""
        if self.limit <= 0:
            return None
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(1, math.ceil(hits[0] + self.window_s - now))
        hits.append(now)
        return None

    def used(self, key: str, now: float) -> int:
        hits = self._hits.get(key, deque())
        return sum(1 for hit in hits if hit > now - self.window_s)

    def reset(self) -> None:
        self._hits.clear()
