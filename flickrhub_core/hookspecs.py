"""Every hook a FlickrHub plugin can implement. These signatures are a public
contract: changing one is an API change (say so in CHANGELOG.md).

Both the API process and the worker process load the same plugins and call the
same hooks. pluggy calls are synchronous: hooks wire things up and announce
events; per-job I/O goes through the async methods of the objects plugins
return. A hook may return an awaitable where its docstring says so; the core
awaits it (``flickrhub_core.plugins.await_maybe``).

Implement a hook in a plugin module with the ``hookimpl`` marker::

    from flickrhub_core import hookimpl

    @hookimpl
    def register_targets(register):
        register(WalkTarget())

Hooks marked *firstresult* stop at the first non-None answer; the core's own
embedded defaults answer last, so any plugin that answers wins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from flickrhub_core.events import JobEvent
    from flickrhub_core.runtime import Runtime
    from flickrhub_core.stores import (
        BlobStore,
        Cache,
        JobArchive,
        JobStore,
        RateLimiter,
        RequestTokenStore,
        TokenStore,
    )
    from flickrhub_core.targets import Target

hookspec = pluggy.HookspecMarker("flickrhub")
hookimpl = pluggy.HookimplMarker("flickrhub")


# --- targets -----------------------------------------------------------------------


@hookspec
def register_targets(register: Callable[[Target], None]) -> None:
    """Add job targets: call ``register(target)`` once per :class:`Target`.

    Called once at start in every process. Names must be unique across
    plugins; a duplicate is a startup error naming both plugins. Sync only.
    """


# --- caching -----------------------------------------------------------------------


@hookspec(firstresult=True)
def cache_backend(runtime: Runtime) -> Cache | None:
    """Return the response cache (see :class:`~flickrhub_core.stores.Cache`), or None.

    firstresult. Called once at start, before ``startup``. Sync only.
    """


# --- persistence -------------------------------------------------------------------


@hookspec(firstresult=True)
def job_store(runtime: Runtime) -> JobStore | None:
    """Return the store of hot job state, or None. firstresult; once at start; sync."""


@hookspec(firstresult=True)
def token_store(runtime: Runtime) -> TokenStore | None:
    """Return the store of connected accounts, or None. firstresult; once at start; sync."""


@hookspec(firstresult=True)
def blob_store(runtime: Runtime) -> BlobStore | None:
    """Return the store of upload bytes, or None. firstresult; once at start; sync."""


@hookspec(firstresult=True)
def request_token_store(runtime: Runtime) -> RequestTokenStore | None:
    """Return the store of pending OAuth request tokens, or None. firstresult; sync."""


@hookspec(firstresult=True)
def job_archive(runtime: Runtime) -> JobArchive | None:
    """Return the archive of finished jobs to read when the job store no longer holds
    a job, or None. firstresult; called on each such read (not only at start), so a
    plugin answers None until its archive is open and while another plugin's is used."""


@hookspec(firstresult=True)
def rate_limiter(runtime: Runtime) -> RateLimiter | None:
    """Return the Flickr rate limiter shared by all workers, or None. firstresult; sync."""


@hookspec
def job_event(runtime: Runtime, event: JobEvent) -> Any:
    """Called on every job state change, in the process that made it (API for
    ``queued`` and ``cancelled``, worker for the rest). The job archive listens here.

    Broadcast. May return an awaitable; the core awaits it before acknowledging
    the job's message, so a stored outcome is archived before it is acked.
    Exceptions are logged and do not fail the job.
    """


# --- logging -----------------------------------------------------------------------


@hookspec
def log_event(event: dict[str, Any]) -> None:
    """Receives every structured log event (already redacted) as a dict.

    Broadcast. Sync only and on the hot path: buffer, never do I/O here
    (the OBS shipper queues events and sends them in batches).
    """


# --- lifecycle ---------------------------------------------------------------------


@hookspec
def startup(runtime: Runtime) -> Any:
    """The process is starting: open connections. May return an awaitable.

    Broadcast; called after every backend hook has answered. A failure stops the start.
    """


@hookspec
def shutdown(runtime: Runtime) -> Any:
    """The process is stopping: flush and close. May return an awaitable.

    Broadcast; called once, after the API and workers stopped taking work.
    """
