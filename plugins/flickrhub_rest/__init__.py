"""The ``rest`` target: any Flickr REST method, cached when it is a read."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from flickrhub_core import InvalidRequest, Job, Target, TargetContext, hookimpl
from flickrhub_core.flickr import is_cacheable, is_idempotent, is_write
from flickrhub_core.settings import Settings

METHOD = re.compile(r"^flickr(\.[A-Za-z0-9_]+){1,5}$")
#: Arguments FlickrHub sets itself; a client may not override them.
RESERVED = frozenset(
    {"method", "format", "nojsoncallback", "jsoncallback", "api_key", "api_sig", "auth_token"}
)
#: Reserved arguments a client may still send with the value FlickrHub sets (as text,
#: after :func:`~flickrhub_core.targets.flat_params`): Flickr's examples have them, so
#: clients copied them. They are dropped.
SAME_AS_OURS = {"format": "json", "nojsoncallback": "1"}


class RestTarget(Target):
    name = "rest"
    description = "Call any Flickr REST method with the user's token."
    idempotent = True
    requires_method = True

    def validate(self, method: str | None, params: Mapping[str, Any]) -> dict[str, str]:
        flat = super().validate(method, params)
        problems = []
        if method is not None and not METHOD.match(method):
            problems.append(
                {"field": "method", "message": "must be a Flickr method such as flickr.test.echo"}
            )
        for key, value in list(flat.items()):
            if SAME_AS_OURS.get(key) == value:
                del flat[key]
            elif key in SAME_AS_OURS:
                problems.append(
                    {
                        "field": f"params.{key}",
                        "message": f"set by FlickrHub: omit it or send {SAME_AS_OURS[key]}",
                    }
                )
            elif key in RESERVED or key.startswith("oauth_"):
                problems.append({"field": f"params.{key}", "message": "set by FlickrHub"})
        if problems:
            raise InvalidRequest("Invalid request", details=problems)
        return flat

    def is_idempotent(self, job: Job) -> bool:
        # Reads and setters are safe to repeat; a comment or a new set is not.
        return job.method is not None and is_idempotent(job.method)

    def cache_ttl(self, job: Job, settings: Settings) -> float | None:
        if job.method is None or not is_cacheable(job.method):
            return None
        ttl = settings.cache_ttl_for(job.method)
        return float(ttl) if ttl > 0 else None

    def is_write(self, job: Job) -> bool:
        return job.method is not None and is_write(job.method)

    async def execute(self, ctx: TargetContext) -> Any:
        assert ctx.job.method is not None
        return await ctx.flickr.call(ctx.job.method, ctx.job.params)


@hookimpl
def register_targets(register: Callable[[Target], None]) -> None:
    register(RestTarget())
