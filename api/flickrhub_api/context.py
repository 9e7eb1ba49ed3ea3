"""Who and what a request runs with: the runtime, and the API client (owner)."""

from __future__ import annotations

from typing import cast

from quart import Quart, current_app, g

from flickrhub_core.errors import Unauthorized
from flickrhub_core.runtime import Runtime

RUNTIME_KEY = "flickrhub.runtime"
DEFAULT_OWNER = "default"
#: Where the authenticated client's name is kept for the request (on ``quart.g``).
OWNER_ATTR = "flickrhub_owner"


def bind_runtime(app: Quart, runtime: Runtime) -> None:
    app.extensions[RUNTIME_KEY] = runtime


def get_runtime() -> Runtime:
    """The runtime of the app serving this request."""
    return cast(Runtime, current_app.extensions[RUNTIME_KEY])


def set_owner(owner: str) -> None:
    """Make ``owner`` the client of this request (the API-key check does; a web UI
    session may too)."""
    setattr(g, OWNER_ATTR, owner)


def authenticated_owner() -> str | None:
    """This request's client, or None if it has not authenticated (exempt paths)."""
    owner: str | None = g.get(OWNER_ATTR)
    return owner


def current_owner() -> str:
    """The API client making this request; every user_id, token and job belongs to one.

    It is the name of the client whose API key the request carries
    (:mod:`flickrhub_api.clients`), or ``default`` when no keys are configured.
    On a path served without a key, with keys configured, there is none: 401.
    """
    owner = authenticated_owner()
    if owner is None:
        raise Unauthorized("an API key is required")
    return owner
