"""Replaying dead letters from the dashboard: the same replay as ``flickrhub dlq
replay --all`` and ``POST /api/v1/admin/dlq/replay`` (:mod:`flickrhub_core.dlq`).

Each dead job of the owner gets a fresh copy (new id, attempts 0) linked both ways
(``replay_of`` / ``replayed_by``), so a second press replays nothing twice; the
owner's pending-jobs cap applies, and the answer says what was left and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from flickrhub_api.envelope import request_id
from flickrhub_api.limits import ensure_capacity
from flickrhub_core import dlq
from flickrhub_core.runtime import Runtime

__all__ = ["ReplayOutcome", "replay_dead_letters"]


@dataclass(frozen=True)
class ReplayOutcome:
    found: int
    replayed: list[str]
    #: Why the rest were not replayed, if some were not.
    stopped: str | None = None

    @property
    def message(self) -> str:
        if not self.found:
            return "No dead-lettered jobs to replay."
        done = len(self.replayed)
        text = (
            f"Replayed {done} of {self.found} dead-lettered "
            f"{'job' if self.found == 1 else 'jobs'} as "
            f"{'a new job' if done == 1 else 'new jobs'}."
        )
        if self.stopped:
            text += f" The rest were not queued: {self.stopped}"
        return text


async def replay_dead_letters(runtime: Runtime, owner: str) -> ReplayOutcome:
    outcome = await dlq.replay_many(
        runtime,
        owner,
        None,
        trace_id=request_id(),
        admit=lambda: ensure_capacity(runtime, owner),
    )
    replayed = [fresh for _, fresh in outcome.done if fresh is not None]
    stopped = outcome.errors[0]["message"] if outcome.errors else None
    return ReplayOutcome(len(outcome.done) + len(outcome.errors), replayed, stopped)
