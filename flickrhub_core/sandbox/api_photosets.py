"""``flickr.photosets.*``: albums over the library's photos."""

from __future__ import annotations

from .errors import ApiFailure
from .library import Photoset
from .payloads import photo_entry, photoset_entry, photoset_url
from .registry import CallContext, Payload, method


def _own_set(ctx: CallContext) -> Photoset:
    photoset = ctx.library.photosets.get(ctx.arg("photoset_id") or "")
    if photoset is None or photoset.owner != ctx.user.nsid:
        raise ApiFailure(1, "Photoset not found")
    return photoset


@method("flickr.photosets.getList")
def get_list(ctx: CallContext) -> Payload:
    """Sets of ``user_id`` (default: the caller). All sets unless ``page`` asks for paging."""
    nsid = ctx.arg("user_id") or ctx.viewer
    if nsid is None or nsid not in ctx.library.users:
        raise ApiFailure(1, "User not found")
    sets = [s for s in ctx.library.photosets.values() if s.owner == nsid]
    total = len(sets)
    if "page" in ctx.params or "per_page" in ctx.params:
        page, per_page = ctx.int_arg("page", 1, 1), ctx.int_arg("per_page", 500, 1, 500)
    else:
        page, per_page = 1, max(total, 1)
    chunk = sets[(page - 1) * per_page : page * per_page]
    return {
        "photosets": {
            "cancreate": 1,
            "page": page,
            "pages": -(-total // per_page),
            "perpage": per_page,
            "total": total,
            "photoset": [photoset_entry(s, ctx.library, ctx.viewer) for s in chunk],
        }
    }


@method("flickr.photosets.getPhotos")
def get_photos(ctx: CallContext) -> Payload:
    photoset = ctx.library.photosets.get(ctx.arg("photoset_id") or "")
    if photoset is None:
        raise ApiFailure(1, "Photoset not found")
    user_id = ctx.arg("user_id")
    if user_id is not None and user_id not in ctx.library.users:
        raise ApiFailure(2, "User not found")
    if user_id is not None and user_id != photoset.owner:
        raise ApiFailure(1, "Photoset not found")
    photos = [
        photo
        for photo in (ctx.library.photos.get(pid) for pid in photoset.photos)
        if photo is not None and ctx.library.can_see(photo, ctx.viewer)
    ]
    page, per_page = ctx.int_arg("page", 1, 1), ctx.int_arg("per_page", 500, 1, 500)
    chunk = photos[(page - 1) * per_page : page * per_page]
    extras = ctx.extras()
    owner = ctx.library.users[photoset.owner]
    return {
        "photoset": {
            "id": photoset.id,
            "primary": photoset.primary,
            "owner": owner.nsid,
            "ownername": owner.username,
            "photo": [
                {
                    **photo_entry(p, ctx.library, extras),
                    "isprimary": "1" if p.id == photoset.primary else "0",
                }
                for p in chunk
            ],
            "page": page,
            "per_page": str(per_page),
            "perpage": str(per_page),
            "pages": -(-len(photos) // per_page),
            "title": photoset.title,
            "total": str(len(photos)),
        }
    }


@method("flickr.photosets.create", perms=2)
def create(ctx: CallContext) -> Payload:
    title = ctx.arg("title")
    if title is None:
        raise ApiFailure(1, "No title specified")
    primary = ctx.library.owned_photo(ctx.arg("primary_photo_id") or "", ctx.user.nsid)
    if primary is None:
        raise ApiFailure(2, "Photo not found")
    photoset = Photoset(
        id=ctx.library.new_long_id(),
        owner=ctx.user.nsid,
        primary=primary.id,
        title=title,
        description=ctx.params.get("description", ""),
        photos=[primary.id],
        date_create=int(ctx.now),
        date_update=int(ctx.now),
    )
    # New sets come first in the user's ordering, as on Flickr.
    ctx.library.photosets = {photoset.id: photoset, **ctx.library.photosets}
    return {"photoset": {"id": photoset.id, "url": photoset_url(photoset)}}


@method("flickr.photosets.addPhoto", perms=2)
def add_photo(ctx: CallContext) -> Payload:
    photoset = _own_set(ctx)
    photo = ctx.library.owned_photo(ctx.arg("photo_id") or "", ctx.user.nsid)
    if photo is None:
        raise ApiFailure(2, "Photo not found")
    if photo.id in photoset.photos:
        raise ApiFailure(3, "Photo already in set")
    photoset.photos.append(photo.id)
    photoset.date_update = int(ctx.now)
    return {}


@method("flickr.photosets.removePhoto", perms=2)
def remove_photo(ctx: CallContext) -> Payload:
    photoset = _own_set(ctx)
    photo_id = ctx.arg("photo_id") or ""
    if photo_id not in photoset.photos:
        raise ApiFailure(2, "Photo not found")
    photoset.photos.remove(photo_id)
    if not photoset.photos:
        del ctx.library.photosets[photoset.id]  # Flickr drops emptied sets
    elif photoset.primary == photo_id:
        photoset.primary = photoset.photos[0]
    photoset.date_update = int(ctx.now)
    return {}


@method("flickr.photosets.delete", perms=2)
def delete(ctx: CallContext) -> Payload:
    del ctx.library.photosets[_own_set(ctx).id]
    return {}
