"""The ``upload`` target: a new photo, streamed from the blob store to Flickr.

Not idempotent: an upload whose outcome is unknown is never sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flickrhub_core import Job, Target, TargetContext, hookimpl
from flickrhub_core.targets import check_choices
from flickrhub_core.worker.photos import follow_ticket, photo_of

#: Flickr's upload arguments and the values each accepts (None: any text).
FIELDS: dict[str, frozenset[str] | None] = {
    "title": None,
    "description": None,
    "tags": None,
    "is_public": frozenset({"0", "1"}),
    "is_friend": frozenset({"0", "1"}),
    "is_family": frozenset({"0", "1"}),
    "safety_level": frozenset({"1", "2", "3"}),
    "content_type": frozenset({"1", "2", "3"}),
    "hidden": frozenset({"1", "2"}),
    "async": frozenset({"0", "1"}),
}


class UploadTarget(Target):
    name = "upload"
    description = "Upload a photo to the user's Flickr account."
    idempotent = False
    takes_photo = True

    def validate(self, method: str | None, params: Mapping[str, Any]) -> dict[str, str]:
        return check_choices(super().validate(method, params), FIELDS)

    def is_write(self, job: Job) -> bool:
        return True

    async def execute(self, ctx: TargetContext) -> Any:
        photo = await photo_of(ctx)
        response = await ctx.flickr.upload(photo, ctx.job.params)
        return await follow_ticket(ctx, response)


@hookimpl
def register_targets(register: Callable[[Target], None]) -> None:
    register(UploadTarget())
