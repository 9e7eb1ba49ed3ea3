"""What the sandbox was asked: a count per call name and the recent calls' parameters.

Tests read it through ``GET /sandbox/calls`` (see :mod:`.admin`) to check how often a
request reached "Flickr", e.g. that a job was sent exactly once. A call is counted when
it arrives, before faults, rate limits and authentication, so a call answered with an
injected error or a dropped connection counts too. Names are those of the fault rules:
REST method names, ``upload`` and ``replace`` (OAuth endpoints are not counted).

Parameters are kept without the OAuth ones (``oauth_*``, ``api_sig``, ``api_key``) and
without ``method``, ``format`` and ``nojsoncallback``, for the last :data:`KEEP` calls
only; the per-name counts cover every call since start (or the last clear).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

#: How many recent calls keep their parameters.
KEEP = 10_000
_SKIPPED = frozenset({"api_sig", "api_key", "method", "format", "nojsoncallback"})


class CallLog:
    def __init__(self, keep: int = KEEP) -> None:
        self.counts: Counter[str] = Counter()
        self.recent: deque[tuple[str, dict[str, str]]] = deque(maxlen=keep)

    def record(self, name: str, params: Mapping[str, str]) -> None:
        self.counts[name] += 1
        kept = {
            key: value
            for key, value in params.items()
            if key not in _SKIPPED and not key.startswith("oauth_")
        }
        self.recent.append((name, kept))

    def clear(self) -> None:
        self.counts.clear()
        self.recent.clear()

    def describe(self, method: str | None = None, param: str | None = None) -> dict[str, Any]:
        """All counts; or one name's count, and with ``param`` how often each of its
        values was sent (over the recent calls of that name)."""
        if method is None:
            return {
                "total": sum(self.counts.values()),
                "methods": dict(sorted(self.counts.items())),
            }
        answer: dict[str, Any] = {"method": method, "count": self.counts.get(method, 0)}
        if param is not None:
            values = Counter(
                params[param] for name, params in self.recent if name == method and param in params
            )
            answer["param"] = param
            answer["values"] = dict(sorted(values.items()))
        return answer
