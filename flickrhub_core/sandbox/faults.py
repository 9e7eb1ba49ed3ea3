"""Fault injection: make the sandbox slow, failing or unreachable on purpose.

Kinds, each drawn per request from one seeded RNG:

* ``latency_ms``      sleep before answering (always applied when set);
* ``drop_rate``       close the connection without any HTTP response (see ``app.py``);
* ``error_rate_5xx``  HTTP 500, 502 or 503 with an HTML body (``status_5xx`` pins one);
* ``error_rate_105``  HTTP 200 ``stat:fail`` code 105 "Service currently unavailable"
  (REST in the requested format, upload/replace as XML; OAuth endpoints skip it).

One uniform draw decides, so the rates add up: ``r < drop`` drops, the next
``error_rate_5xx`` of the range fails with 5xx, the next ``error_rate_105`` with 105.

Runtime control (``POST /sandbox/faults``, JSON, all fields optional):

* without ``methods`` and ``count``: updates the global settings (only given fields);
* with ``methods`` and/or ``count``: adds a targeted rule for those call names (all
  calls when ``methods`` is absent) that applies to the next ``count`` matching calls
  (for ever when absent), then disappears; a rule's unset fields count as 0, and a
  matching rule replaces the global settings for that call. Example:
  ``{"error_rate_105": 1.0, "methods": ["flickr.test.echo"], "count": 2}``.
* ``seed`` reseeds the RNG.

Call names are REST method names (``flickr.test.echo``) and, for the other endpoints,
``upload``, ``replace``, ``request_token``, ``authorize``, ``access_token``.
``GET /sandbox/faults`` shows the settings and the live rules; ``DELETE`` removes the
rules and restores the start-up settings.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .config import FaultSettings

Action = Literal["drop", "5xx", "105"]


class FaultUpdate(BaseModel):
    """Body of ``POST /sandbox/faults``."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: int | None = Field(default=None, ge=0, le=600_000)
    error_rate_5xx: float | None = Field(default=None, ge=0.0, le=1.0)
    error_rate_105: float | None = Field(default=None, ge=0.0, le=1.0)
    drop_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    status_5xx: Literal[500, 502, 503] | None = None
    methods: list[str] | None = None
    count: int | None = Field(default=None, ge=1)
    seed: int | None = None


@dataclass
class FaultRule:
    id: int
    settings: FaultSettings
    status_5xx: int | None
    methods: frozenset[str] | None
    remaining: int | None

    def matches(self, name: str) -> bool:
        return self.methods is None or name in self.methods

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.settings.model_dump(),
            "status_5xx": self.status_5xx,
            "methods": sorted(self.methods) if self.methods is not None else None,
            "remaining": self.remaining,
        }


@dataclass(frozen=True)
class FaultDecision:
    latency_ms: int = 0
    action: Action | None = None
    status: int = 0


class FaultInjector:
    """Global fault settings plus targeted, counted rules."""

    def __init__(self, initial: FaultSettings, seed: int | None) -> None:
        self._initial = initial
        self.settings = initial.model_copy()
        self.status_5xx: int | None = None
        self.rules: list[FaultRule] = []
        self.rng = random.Random(seed)
        self._next_rule = 1

    def update(self, update: FaultUpdate) -> None:
        if update.seed is not None:
            self.rng.seed(update.seed)
        fields = update.model_dump(
            exclude_none=True,
            include={"latency_ms", "error_rate_5xx", "error_rate_105", "drop_rate"},
        )
        if update.methods is None and update.count is None:
            self.settings = self.settings.model_copy(update=fields)
            if update.status_5xx is not None:
                self.status_5xx = update.status_5xx
            return
        self.rules.append(
            FaultRule(
                id=self._next_rule,
                settings=FaultSettings(**fields),
                status_5xx=update.status_5xx,
                methods=frozenset(update.methods) if update.methods is not None else None,
                remaining=update.count,
            )
        )
        self._next_rule += 1

    def reset(self) -> None:
        self.settings = self._initial.model_copy()
        self.status_5xx = None
        self.rules.clear()

    def decide(self, name: str) -> FaultDecision:
        """What goes wrong with this call (consumes one use of a matching rule)."""
        settings, pinned = self.settings, self.status_5xx
        for rule in self.rules:
            if rule.matches(name):
                settings, pinned = rule.settings, rule.status_5xx
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self.rules.remove(rule)
                break
        draw = self.rng.random()
        action: Action | None = None
        status = 0
        if draw < settings.drop_rate:
            action = "drop"
        elif draw < settings.drop_rate + settings.error_rate_5xx:
            action, status = "5xx", pinned or self.rng.choice((500, 502, 503))
        elif draw < settings.drop_rate + settings.error_rate_5xx + settings.error_rate_105:
            action = "105"
        return FaultDecision(settings.latency_ms, action, status)

    def describe(self) -> dict[str, Any]:
        return {
            **self.settings.model_dump(),
            "status_5xx": self.status_5xx,
            "rules": [rule.describe() for rule in self.rules],
        }


async def apply_latency(decision: FaultDecision) -> None:
    if decision.latency_ms:
        await asyncio.sleep(decision.latency_ms / 1000)
