"""flickrhub-walk: a FlickrHub plugin adding the ``walk`` target.

``walk`` pages through any paginated Flickr read method (``flickr.photos.search``,
``flickr.people.getPhotos``, ``flickr.photosets.getList``, ...) and returns the
items of every page, up to ``max_items``, as one job result.
"""

from __future__ import annotations

from collections.abc import Callable

from flickrhub_core import Target, hookimpl
from flickrhub_walk.target import (
    MAX_ITEMS_DEFAULT,
    MAX_ITEMS_LIMIT,
    PER_PAGE_DEFAULT,
    PER_PAGE_LIMIT,
    WalkTarget,
    find_page,
)

__version__ = "0.1.0"

__all__ = [
    "MAX_ITEMS_DEFAULT",
    "MAX_ITEMS_LIMIT",
    "PER_PAGE_DEFAULT",
    "PER_PAGE_LIMIT",
    "WalkTarget",
    "__version__",
    "find_page",
    "register_targets",
]


@hookimpl
def register_targets(register: Callable[[Target], None]) -> None:
    register(WalkTarget())
