"""The ``walk`` target: call a paginated Flickr read page by page, collect the items.

A Flickr list answer looks like ``{"photos": {"page": 1, "pages": 7, "perpage": 100,
"total": "650", "photo": [...]}, "stat": "ok"}``; the container and list names vary
by method (``photosets.photoset``, ``photoset.photo``, ...). :func:`find_page`
finds them generically: the one top-level object with ``page`` and ``pages`` and
at most one list-valued member.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flickrhub_core import InvalidRequest, Job, JobError, Target, TargetContext
from flickrhub_core.flickr import is_write

MAX_ITEMS_DEFAULT = 500
MAX_ITEMS_LIMIT = 5000
PER_PAGE_DEFAULT = 100
PER_PAGE_LIMIT = 500

METHOD = re.compile(r"^flickr(\.[A-Za-z0-9_]+){1,5}$")
#: Arguments the walker or FlickrHub sets; a request may not.
RESERVED = frozenset(
    {"method", "format", "nojsoncallback", "jsoncallback", "api_key", "api_sig", "auth_token"}
    | {"page"}  # the walker's own
)
COUNT = re.compile(r"^[0-9]{1,6}$")


@dataclass(frozen=True)
class Walk:
    """What to call and how far to go."""

    method: str
    params: dict[str, str]  # the method's own arguments, without ours
    max_items: int
    per_page: int


@dataclass(frozen=True)
class Page:
    """One page of a Flickr list answer."""

    page: int
    pages: int
    total: int | None
    items: list[Any]


class WalkTarget(Target):
    name = "walk"
    description = (
        "Page through a paginated Flickr read method (flickr.photos.search, "
        "flickr.photosets.getList, ...) and return its items, up to max_items."
    )
    idempotent = True
    requires_method = True

    def validate(self, method: str | None, params: Mapping[str, Any]) -> dict[str, str]:
        """Return the method's params with ``max_items`` and ``per_page`` filled in."""
        flat = super().validate(method, params)  # refuses a missing method
        walk = plan(method or "", flat)
        return {**walk.params, "max_items": str(walk.max_items), "per_page": str(walk.per_page)}

    def is_write(self, job: Job) -> bool:
        return False

    async def execute(self, ctx: TargetContext) -> dict[str, Any]:
        job = ctx.job
        try:
            walk = plan(job.method or "", job.params)
        except InvalidRequest as exc:  # validated at enqueue: only a tampered job gets here
            raise JobError(f"{exc}: {exc.details}", code=exc.code) from None
        per_page = min(walk.per_page, walk.max_items)
        items: list[Any] = []
        number = fetched = 0
        total: int | None = None
        truncated = False
        while True:
            # Between pages: a cancelled walk stops here (the job ends cancelled).
            ctx.raise_if_cancelled()
            number += 1
            answer = await ctx.flickr.call(
                walk.method, {**walk.params, "page": str(number), "per_page": str(per_page)}
            )
            page = find_page(walk.method, answer)
            fetched += 1
            total = page.total
            room = walk.max_items - len(items)
            items.extend(page.items[:room])
            more_pages = number < page.pages and bool(page.items)
            await ctx.report_progress({"page": number, "pages": page.pages, "items": len(items)})
            if len(items) >= walk.max_items:
                truncated = len(page.items) > room or more_pages
                break
            if not more_pages:
                break
        return {
            "method": walk.method,
            "items": items,
            "count": len(items),
            "pages_fetched": fetched,
            "total": total,
            "truncated": truncated,
        }


def plan(method: str, flat: Mapping[str, str]) -> Walk:
    """Check a walk request; raise :class:`InvalidRequest` with one detail per problem."""
    problems: list[dict[str, str]] = []
    if not METHOD.match(method):
        problems.append(
            {"field": "method", "message": "must be a Flickr method such as flickr.photos.search"}
        )
    elif is_write(method):
        problems.append(
            {"field": "method", "message": "must be a read method: walk never changes data"}
        )
    for key in flat:
        if key in RESERVED or key.startswith("oauth_"):
            problems.append({"field": f"params.{key}", "message": "set by the walker"})
    max_items = _count(flat, "max_items", MAX_ITEMS_DEFAULT, MAX_ITEMS_LIMIT, problems)
    per_page = _count(flat, "per_page", PER_PAGE_DEFAULT, PER_PAGE_LIMIT, problems)
    if problems:
        raise InvalidRequest("Invalid request", details=problems)
    params = {k: v for k, v in flat.items() if k not in ("max_items", "per_page")}
    return Walk(method, params, max_items, per_page)


def find_page(method: str, answer: Mapping[str, Any]) -> Page:
    """The page in a Flickr list answer; a :class:`JobError` if there is not exactly one."""
    boxes = [
        value
        for value in answer.values()
        if isinstance(value, Mapping) and "page" in value and "pages" in value
    ]
    lists = [value for value in boxes[0].values() if isinstance(value, list)] if boxes else []
    if len(boxes) != 1 or len(lists) > 1:
        raise _not_paginated(method)
    box = boxes[0]
    try:
        return Page(
            page=int(box["page"]),
            pages=int(box["pages"]),
            total=int(box["total"]) if box.get("total") not in (None, "") else None,
            # Flickr leaves an empty list out of some answers.
            items=lists[0] if lists else [],
        )
    except (TypeError, ValueError):
        raise _not_paginated(method) from None


def _not_paginated(method: str) -> JobError:
    return JobError(
        f"{method} did not answer with one paginated list (an object with page, pages "
        "and one list of items); walk only pages through such methods",
        code="ERR_NOT_PAGINATED",
        retryable=False,
    )


def _count(
    flat: Mapping[str, str], key: str, default: int, limit: int, problems: list[dict[str, str]]
) -> int:
    text = flat.get(key)
    if text is None:
        return default
    value = int(text) if COUNT.match(text) else 0
    if not 1 <= value <= limit:
        problems.append(
            {"field": f"params.{key}", "message": f"must be a whole number from 1 to {limit}"}
        )
    return value
