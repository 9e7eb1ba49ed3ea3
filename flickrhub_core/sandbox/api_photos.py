"""``flickr.photos.*``: reading, searching and editing photos of the library."""

from __future__ import annotations

from .errors import ApiFailure
from .library import Photo, split_tags
from .payloads import page_of, photo_info, photo_sizes
from .registry import CallContext, Payload, method
from .search import resolve_user, select

MAX_TAGS = 75


def _own_photo(ctx: CallContext) -> Photo:
    """The caller's photo named by ``photo_id``; anything else is "Photo not found" (code 1)."""
    photo = ctx.library.owned_photo(ctx.arg("photo_id") or "", ctx.user.nsid)
    if photo is None:
        raise ApiFailure(1, "Photo not found")
    return photo


def _paged(ctx: CallContext, photos: list[Photo]) -> Payload:
    page, per_page = ctx.int_arg("page", 1, 1), ctx.int_arg("per_page", 100, 1, 500)
    return {"photos": page_of(photos, ctx.library, ctx.extras(), page, per_page)}


@method("flickr.photos.search")
def search(ctx: CallContext) -> Payload:
    """Search visible photos. Without any filter it lists all visible photos (see package docs)."""
    user_id = ctx.arg("user_id")
    owner = resolve_user(ctx, user_id) if user_id is not None else None
    return _paged(ctx, select(ctx, owner))


@method("flickr.photos.getRecent")
def get_recent(ctx: CallContext) -> Payload:
    public = [p for p in ctx.library.photos.values() if p.ispublic]
    return _paged(ctx, sorted(public, key=lambda p: (p.dateupload, int(p.id)), reverse=True))


@method("flickr.photos.getInfo")
def get_info(ctx: CallContext) -> Payload:
    # Flickr answers a missing photo_id with code 1 too (recorded).
    photo = ctx.library.visible_photo(ctx.arg("photo_id") or "", ctx.viewer)
    if photo is None:
        raise ApiFailure(1, "Photo not found")
    return {"photo": photo_info(photo, ctx.library, ctx.viewer)}


@method("flickr.photos.getSizes")
def get_sizes(ctx: CallContext) -> Payload:
    photo = ctx.library.photos.get(ctx.arg("photo_id") or "")
    if photo is None:
        raise ApiFailure(1, "Photo not found")
    if not ctx.library.can_see(photo, ctx.viewer):
        raise ApiFailure(2, "Permission denied")
    return {"sizes": photo_sizes(photo)}


@method("flickr.photos.setMeta", perms=2)
def set_meta(ctx: CallContext) -> Payload:
    photo = _own_photo(ctx)
    if "title" not in ctx.params and "description" not in ctx.params:
        raise ApiFailure(2, "At least one of title or description must be set")
    if "title" in ctx.params:
        photo.title = ctx.params["title"]
    if "description" in ctx.params:
        photo.description = ctx.params["description"]
    photo.lastupdate = int(ctx.now)
    return {}


@method("flickr.photos.addTags", perms=2)
def add_tags(ctx: CallContext) -> Payload:
    photo = _own_photo(ctx)
    raw = ctx.arg("tags")
    if raw is None:
        raise ApiFailure(2, "Required arguments missing")
    known = {tag.clean for tag in photo.tags}
    fresh = [
        t
        for t in ctx.library.make_tags(ctx.user, photo.id, split_tags(raw))
        if t.clean not in known
    ]
    unique = list({tag.clean: tag for tag in fresh}.values())
    if len(photo.tags) + len(unique) > MAX_TAGS:
        raise ApiFailure(2, "Maximum number of tags reached")
    photo.tags.extend(unique)
    photo.lastupdate = int(ctx.now)
    return {
        "tags": {
            "tag": [
                {"full_tag_id": tag.id, "tag_id": tag.id.rsplit("-", 1)[-1], "_content": tag.clean}
                for tag in unique
            ]
        }
    }


@method("flickr.photos.setTags", perms=2)
def set_tags(ctx: CallContext) -> Payload:
    photo = _own_photo(ctx)
    if "tags" not in ctx.params:
        raise ApiFailure(2, "Required arguments missing")
    tags = ctx.library.make_tags(ctx.user, photo.id, split_tags(ctx.params["tags"]))
    photo.tags = list({tag.clean: tag for tag in tags}.values())[:MAX_TAGS]
    photo.lastupdate = int(ctx.now)
    return {}


@method("flickr.photos.setPerms", perms=2)
def set_perms(ctx: CallContext) -> Payload:
    photo = _own_photo(ctx)
    flags = {}
    for name in ("is_public", "is_friend", "is_family"):
        value = ctx.arg(name)
        if value not in ("0", "1"):
            raise ApiFailure(2, "Required arguments missing")
        flags[name] = int(value)
    photo.ispublic, photo.isfriend, photo.isfamily = (
        flags["is_public"],
        flags["is_friend"],
        flags["is_family"],
    )
    photo.lastupdate = int(ctx.now)
    return {
        "photoid": {
            "_content": photo.id,
            "secret": photo.secret,
            "originalsecret": photo.originalsecret,
        }
    }


@method("flickr.photos.delete", perms=3)
def delete(ctx: CallContext) -> Payload:
    ctx.library.delete_photo(_own_photo(ctx))
    return {}
