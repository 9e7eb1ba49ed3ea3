"""The ``replace`` target: new bytes for an existing photo (title, tags stay).

Not idempotent: a replace whose outcome is unknown is never sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flickrhub_core import InvalidRequest, Job, Target, TargetContext, hookimpl
from flickrhub_core.targets import check_choices
from flickrhub_core.worker.photos import follow_ticket, photo_of

FIELDS: dict[str, frozenset[str] | None] = {"photo_id": None, "async": frozenset({"0", "1"})}


class ReplaceTarget(Target):
    name = "replace"
    description = "Replace the image of one of the user's photos."
    idempotent = False
    takes_photo = True

    def validate(self, method: str | None, params: Mapping[str, Any]) -> dict[str, str]:
        flat = check_choices(super().validate(method, params), FIELDS)
        if not flat.get("photo_id", "").strip():
            raise InvalidRequest(
                "Invalid request",
                details=[{"field": "photo_id", "message": "photo_id is required"}],
            )
        return flat

    def is_write(self, job: Job) -> bool:
        return True

    async def execute(self, ctx: TargetContext) -> Any:
        photo = await photo_of(ctx)
        fields = {k: v for k, v in ctx.job.params.items() if k != "photo_id"}
        response = await ctx.flickr.replace(photo, ctx.job.params["photo_id"], fields)
        return await follow_ticket(ctx, response)


@hookimpl
def register_targets(register: Callable[[Target], None]) -> None:
    register(ReplaceTarget())
