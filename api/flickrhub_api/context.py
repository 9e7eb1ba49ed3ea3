"""Who and what a request runs with: the runtime, and the API client (owner)."""

from __future__ import annotations

from typing import cast

from quart import Quart, current_app

from flickrhub_core.runtime import Runtime

RUNTIME_KEY = "flickrhub.runtime"
DEFAULT_OWNER = "default"


def bind_runtime(app: Quart, runtime: Runtime) -> None:
    app.extensions[RUNTIME_KEY] = runtime


def get_runtime() -> Runtime:
    """The runtime of the app serving this request."""
    return cast(Runtime, current_app.extensions[RUNTIME_KEY])


def current_owner() -> str:
    """The API client making this request; every user_id and job belongs to one.

    One value until API keys arrive (``X-API-Key``, DESIGN §6): this is the only
    place that will change, every route asks here.
    """
    return DEFAULT_OWNER
