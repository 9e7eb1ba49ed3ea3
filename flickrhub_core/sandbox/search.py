"""Filtering and ordering shared by ``photos.search``, ``people.getPhotos`` and friends.

Implements the arguments clients actually use: ``user_id`` (incl. ``me``), ``tags``
with ``tag_mode`` and ``-tag`` exclusion, ``text`` (title, description, tags; ``-word``
excludes), upload/taken date bounds (Unix time or MySQL datetime), ``privacy_filter``,
``content_type``, ``media`` and ``sort``. Only photos visible to the caller are ever
returned; unknown arguments are ignored, as Flickr does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from .errors import ApiFailure
from .library import Library, Photo, clean_tag
from .registry import CallContext

_PRIVACY: dict[str, Callable[[Photo], bool]] = {
    "1": lambda p: bool(p.ispublic),
    "2": lambda p: not p.ispublic and bool(p.isfriend) and not p.isfamily,
    "3": lambda p: not p.ispublic and bool(p.isfamily) and not p.isfriend,
    "4": lambda p: not p.ispublic and bool(p.isfriend) and bool(p.isfamily),
    "5": lambda p: not p.ispublic and not p.isfriend and not p.isfamily,
}
_CONTENT_TYPES = {
    "1": {1},
    "2": {2},
    "3": {3},
    "4": {1, 2},
    "5": {2, 3},
    "6": {1, 3},
    "7": {1, 2, 3},
}


def resolve_user(ctx: CallContext, user_id: str) -> str:
    """An NSID from ``user_id`` (``me`` = the caller); unknown → code 2 "Unknown user"."""
    if user_id == "me":
        if ctx.viewer is None:
            raise ApiFailure(2, "Unknown user")
        return ctx.viewer
    if user_id not in ctx.library.users:
        raise ApiFailure(2, "Unknown user")
    return user_id


def _timestamp(value: str) -> float | None:
    value = value.strip()
    if value.lstrip("-").isdigit():
        return float(value)
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return None


def _taken(photo: Photo) -> float:
    return _timestamp(photo.datetaken) or 0.0


def _matches_text(photo: Photo, text: str) -> bool:
    haystack = " ".join([photo.title, photo.description, *(t.clean for t in photo.tags)]).lower()
    for word in text.lower().split():
        if word.startswith("-") and len(word) > 1:
            if word[1:] in haystack:
                return False
        elif word not in haystack:
            return False
    return True


def _matches_tags(photo: Photo, tags: str, mode: str) -> bool:
    own = {tag.clean for tag in photo.tags}
    wanted = [part.strip() for part in tags.split(",") if part.strip()]
    excluded = {clean_tag(t[1:]) for t in wanted if t.startswith("-")}
    included = [clean_tag(t) for t in wanted if not t.startswith("-")]
    if own & excluded:
        return False
    if not included:
        return True
    hits = [tag in own for tag in included]
    return all(hits) if mode == "all" else any(hits)


def _bounds(ctx: CallContext, photo: Photo) -> bool:
    checks = (
        ("min_upload_date", float(photo.dateupload), 1),
        ("max_upload_date", float(photo.dateupload), -1),
        ("min_taken_date", _taken(photo), 1),
        ("max_taken_date", _taken(photo), -1),
    )
    for name, value, direction in checks:
        raw = ctx.arg(name)
        limit = _timestamp(raw) if raw else None
        if limit is not None and (value - limit) * direction < 0:
            return False
    return True


def select(ctx: CallContext, owner: str | None) -> list[Photo]:
    """Photos visible to the caller that match the request's filters, in ``sort`` order."""
    library: Library = ctx.library
    privacy = _PRIVACY.get(ctx.params.get("privacy_filter", ""))
    content = _CONTENT_TYPES.get(ctx.params.get("content_type", ""))
    tags, text = ctx.arg("tags"), ctx.arg("text")
    mode = (ctx.arg("tag_mode") or "any").lower()
    if (ctx.arg("media") or "all") == "videos":
        return []
    found = [
        photo
        for photo in library.photos.values()
        if library.can_see(photo, ctx.viewer)
        and (owner is None or photo.owner == owner)
        and (privacy is None or photo.owner != ctx.viewer or privacy(photo))
        and (content is None or photo.content_type in content)
        and (tags is None or _matches_tags(photo, tags, mode))
        and (text is None or _matches_text(photo, text))
        and _bounds(ctx, photo)
    ]
    return sort_photos(found, ctx.arg("sort") or "date-posted-desc")


def sort_photos(photos: list[Photo], sort: str) -> list[Photo]:
    keys: dict[str, Callable[[Photo], tuple[float, int]]] = {
        "date-posted": lambda p: (float(p.dateupload), int(p.id)),
        "date-taken": lambda p: (_taken(p), int(p.id)),
        "interestingness": lambda p: (float(p.views), int(p.id)),
    }
    field, _, direction = sort.rpartition("-")
    key = keys.get(field, keys["date-posted"])
    return sorted(photos, key=key, reverse=direction != "asc")
