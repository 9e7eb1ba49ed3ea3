"""Test doubles: a Flickr session that serves pages from a list, a progress recorder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class FakeFlickr:
    """Answers a paginated method the way Flickr does, from ``items``.

    ``container``/``member`` name the list (``photos``/``photo``,
    ``photosets``/``photoset``, ...); ``as_text`` sends numbers as strings, as
    some Flickr methods do. ``calls`` records what was asked.
    """

    def __init__(
        self,
        items: list[Any],
        *,
        container: str = "photos",
        member: str = "photo",
        as_text: bool = False,
    ) -> None:
        self.items = items
        self.container = container
        self.member = member
        self.as_text = as_text
        self.calls: list[tuple[str, dict[str, str]]] = []

    async def call(self, method: str, params: Mapping[str, str]) -> dict[str, Any]:
        self.calls.append((method, dict(params)))
        page, per_page = int(params["page"]), int(params["per_page"])
        pages = -(-len(self.items) // per_page)
        chunk = self.items[(page - 1) * per_page : page * per_page]

        def number(value: int) -> int | str:
            return str(value) if self.as_text else value

        return {
            self.container: {
                "page": number(page),
                "pages": number(pages),
                "perpage": number(per_page),
                "total": str(len(self.items)),
                self.member: chunk,
            },
            "stat": "ok",
        }


class Progress(list[dict[str, Any]]):
    """Records what the target reports through ``ctx.report_progress``."""

    async def __call__(self, progress: dict[str, Any]) -> None:
        self.append(progress)
