"""Flickr's per-key budget (3,600 calls per hour across all users of a key), as a rolling hour."""

from __future__ import annotations

import math
from collections import deque

WINDOW_S = 3600.0


class RollingHourLimiter:
    """Admits at most ``limit`` requests per key in any 3600 s window; ``0`` admits everything."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._hits: dict[str, deque[float]] = {}

    def acquire(self, key: str, now: float) -> int | None:
        """Record a request; returns None if admitted, else the seconds until one would be."""
        if self.limit <= 0:
            return None
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - WINDOW_S:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(1, math.ceil(hits[0] + WINDOW_S - now))
        hits.append(now)
        return None

    def used(self, key: str, now: float) -> int:
        hits = self._hits.get(key, deque())
        return sum(1 for hit in hits if hit > now - WINDOW_S)

    def reset(self) -> None:
        self._hits.clear()
