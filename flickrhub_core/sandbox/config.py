"""Settings of the Flickr sandbox.

:class:`SandboxConfig` is everything the simulator needs at start; the fault fields are
only the initial values, ``POST /sandbox/faults`` changes them at runtime (see
:mod:`flickrhub_core.sandbox.faults`).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


def make_demo_consumer() -> tuple[str, str]:
    """Make up a random consumer key/secret pair shaped like Flickr's (32 and 16 hex digits)."""
    return secrets.token_hex(16), secrets.token_hex(8)


def _demo_consumers() -> dict[str, str]:
    key, secret = make_demo_consumer()
    return {key: secret}


class FaultSettings(BaseModel):
    """How often the sandbox misbehaves; probabilities are per request, in [0, 1]."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(default=0, ge=0, le=600_000)
    error_rate_5xx: float = Field(default=0.0, ge=0.0, le=1.0)
    error_rate_105: float = Field(default=0.0, ge=0.0, le=1.0)
    drop_rate: float = Field(default=0.0, ge=0.0, le=1.0)


class SandboxConfig(FaultSettings):
    """Start-up settings of one sandbox instance.

    ``consumers`` maps API key to secret; the default is one random demo pair (read it
    back from the config to sign requests). ``rate_limit_per_hour`` counts requests per
    consumer key over a rolling hour (``rate_limit_window_s`` seconds: shorter for tests
    that want Flickr's 429 and its end quickly), ``0`` switches the limit off. ``seed`` makes fault
    injection and generated ids reproducible. ``state_path`` keeps users and access
    tokens in a JSON file across restarts (see :mod:`.persistence`); None keeps them
    in memory only.
    """

    consumers: dict[str, str] = Field(default_factory=_demo_consumers, min_length=1)
    rate_limit_per_hour: int = Field(default=3600, ge=0)
    rate_limit_window_s: float = Field(default=3600.0, gt=0, le=86_400)
    seed: int | None = None
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    async_ticket_delay_s: float = Field(default=1.0, ge=0.0)
    request_token_ttl_s: int = Field(default=600, gt=0)
    timestamp_skew_s: int = Field(default=600, gt=0)
    generated_photos: int = Field(default=0, ge=0, le=10_000)
    admin_enabled: bool = True
    state_path: Path | None = None

    @property
    def demo_consumer(self) -> tuple[str, str]:
        """The first configured key/secret pair (the demo pair unless ``consumers`` was set)."""
        key = next(iter(self.consumers))
        return key, self.consumers[key]

    def fault_settings(self) -> FaultSettings:
        """The initial fault settings, as restored by ``POST /sandbox/reset``."""
        return FaultSettings(
            latency_ms=self.latency_ms,
            error_rate_5xx=self.error_rate_5xx,
            error_rate_105=self.error_rate_105,
            drop_rate=self.drop_rate,
        )
