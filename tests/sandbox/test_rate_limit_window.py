"""The sandbox's rate limit over a window shorter than an hour (``--rate-limit-window``),
so tests see Flickr's 429 and then the budget come back within seconds."""

from __future__ import annotations

from flickrhub_core.sandbox import SandboxConfig
from flickrhub_core.sandbox.ratelimit import RollingHourLimiter
from flickrhub_core.sandbox.state import SandboxState


def test_a_short_window_admits_again_once_it_has_passed() -> None:
    limiter = RollingHourLimiter(2, window_s=2.0)
    assert limiter.acquire("k", 0.0) is None
    assert limiter.acquire("k", 0.5) is None
    assert limiter.acquire("k", 1.0) == 1  # Retry-After: whole seconds, at least 1
    assert limiter.used("k", 1.0) == 2
    assert limiter.acquire("k", 2.01) is None
    assert limiter.used("k", 2.01) == 2


def test_the_window_is_an_hour_unless_configured() -> None:
    assert RollingHourLimiter(1).window_s == 3600.0
    state = SandboxState(SandboxConfig(rate_limit_per_hour=5, rate_limit_window_s=3))
    assert (state.limiter.limit, state.limiter.window_s) == (5, 3)
