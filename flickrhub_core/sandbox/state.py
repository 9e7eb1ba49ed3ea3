"""Everything one sandbox instance remembers, in one object hung on the Quart app.

All state lives in the event loop's thread and is changed without awaiting in between,
so no locks are needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from quart import current_app

from .calls import CallLog
from .config import SandboxConfig
from .faults import FaultInjector
from .library import Library
from .oauth import NonceCache
from .persistence import load_state, save_state
from .ratelimit import RollingHourLimiter
from .tokens import TokenStore

EXTENSION_KEY = "flickrhub_sandbox"


class SandboxState:
    def __init__(self, config: SandboxConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.library = Library(config.seed, config.generated_photos)
        self.tokens = TokenStore(config.request_token_ttl_s)
        self.nonces = NonceCache(config.timestamp_skew_s)
        self.limiter = RollingHourLimiter(config.rate_limit_per_hour, config.rate_limit_window_s)
        self.faults = FaultInjector(config.fault_settings(), config.seed)
        self.calls = CallLog()
        if config.state_path is not None:
            load_state(config.state_path, self.library, self.tokens)

    def persist(self) -> None:
        """Save users and access tokens when ``state_path`` is set (after each change)."""
        if self.config.state_path is not None:
            save_state(self.config.state_path, self.library, self.tokens)

    def reset(self) -> None:
        """Library back to the seed; rate-limit windows, nonces and faults back to start-up;
        the call counts cleared.

        Consumers, made-up users and issued tokens survive, so clients stay logged in.
        """
        self.library.reset()
        self.limiter.reset()
        self.nonces.clear()
        self.faults.reset()
        self.calls.clear()


def get_state() -> SandboxState:
    state: SandboxState = current_app.extensions[EXTENSION_KEY]
    return state
