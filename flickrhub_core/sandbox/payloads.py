"""Library objects rendered in the JSON shapes Flickr recorded.

Types follow the recordings even where Flickr is inconsistent (``"total":"2"`` but
``"page":1``; ``"height_sq":75`` but ``"height_q":"150"``), because clients written
against Flickr must cope with exactly that.
"""

from __future__ import annotations

from typing import Any

from .library import Library, Photo, Photoset, User

SIZES: tuple[tuple[str, str, str, int, bool], ...] = (
    # extras key, getSizes label, URL suffix, longest edge, square crop
    ("sq", "Square", "_s", 75, True),
    ("q", "Large Square", "_q", 150, True),
    ("t", "Thumbnail", "_t", 100, False),
    ("s", "Small", "_m", 240, False),
    ("n", "Small 320", "_n", 320, False),
    ("m", "Medium", "", 500, False),
    ("z", "Medium 640", "_z", 640, False),
    ("c", "Medium 800", "_c", 800, False),
    ("l", "Large", "_b", 1024, False),
    ("h", "Large 1600", "_h", 1600, False),
    ("k", "Large 2048", "_k", 2048, False),
)
#: The size members ``photos.search`` prints as JSON numbers; every other ``width_*`` and
#: ``height_*`` is a string (``rest_flickr.photos.search.json``: ``"height_n":200`` but
#: ``"width_n":"320"``).
NUMERIC_DIMENSIONS = frozenset(
    {"width_sq", "height_sq", "height_n", "height_c", "height_h", "height_k"}
)
EXTRAS = frozenset(
    {
        "description",
        "license",
        "date_upload",
        "date_taken",
        "owner_name",
        "icon_server",
        "original_format",
        "last_update",
        "geo",
        "tags",
        "machine_tags",
        "o_dims",
        "views",
        "media",
        "path_alias",
    }
    | {f"url_{key}" for key, *_ in SIZES}
    | {"url_o"}
)


def static_url(photo: Photo, suffix: str) -> str:
    return f"https://farm{photo.farm}.staticflickr.com/{photo.server}/{photo.id}_{photo.secret}{suffix}.jpg"


def original_url(photo: Photo) -> str:
    return (
        f"https://farm{photo.farm}.staticflickr.com/{photo.server}/"
        f"{photo.id}_{photo.originalsecret}_o.{photo.originalformat}"
    )


def photo_page(photo: Photo) -> str:
    return f"https://www.flickr.com/photos/{photo.owner}/{photo.id}/"


def scaled(photo: Photo, edge: int, square: bool) -> tuple[int, int] | None:
    """Width and height of a derived size, or None when the original is too small for it.

    Halves round up, as Flickr's do: a 2560x1600 original is 100x63 as ``t``
    (Python's ``round`` would give 62).
    """
    if square:
        return edge, edge
    longest = max(photo.width, photo.height)
    if edge >= longest:
        return None
    return _half_up(photo.width * edge, longest), _half_up(photo.height * edge, longest)


def _half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def _dimension(name: str, value: int) -> int | str:
    return value if name in NUMERIC_DIMENSIONS else str(value)


def photo_entry(photo: Photo, library: Library, extras: set[str]) -> dict[str, Any]:
    """One ``<photo>`` of a search/list result with the requested ``extras``."""
    owner = library.users[photo.owner]
    entry: dict[str, Any] = {
        "id": photo.id,
        "owner": photo.owner,
        "secret": photo.secret,
        "server": photo.server,
        "farm": photo.farm,
        "title": photo.title,
        "ispublic": photo.ispublic,
        "isfriend": photo.isfriend,
        "isfamily": photo.isfamily,
    }
    if "description" in extras:
        entry["description"] = {"_content": photo.description}
    if "license" in extras:
        entry["license"] = photo.license
    if "date_upload" in extras:
        entry["dateupload"] = str(photo.dateupload)
    if "date_taken" in extras:
        entry.update(datetaken=photo.datetaken, datetakengranularity="0")
    if "owner_name" in extras:
        entry["ownername"] = owner.username
    if "icon_server" in extras:
        entry.update(iconserver=owner.iconserver, iconfarm=owner.iconfarm)
    if "original_format" in extras:
        entry.update(originalsecret=photo.originalsecret, originalformat=photo.originalformat)
    if "last_update" in extras:
        entry["lastupdate"] = str(photo.lastupdate)
    if "geo" in extras:
        entry.update(_geo_extras(photo))
    if "tags" in extras:
        entry["tags"] = " ".join(tag.clean for tag in photo.tags)
    if "machine_tags" in extras:
        entry["machine_tags"] = " ".join(tag.clean for tag in photo.tags if tag.machine)
    if "o_dims" in extras:
        # The one recording that asked for o_dims has none (rest_flickr.photos.search.json,
        # 2013), but other Flickr answers do carry them: when Flickr leaves them out is
        # not known, so they stay.
        entry.update(o_width=str(photo.width), o_height=str(photo.height))
    if "views" in extras:
        entry["views"] = str(photo.views)
    if "media" in extras:
        entry.update(media="photo", media_status="ready")
    if "path_alias" in extras:
        entry["pathalias"] = None
    for key, _label, suffix, edge, square in SIZES:
        dims = scaled(photo, edge, square)
        if f"url_{key}" in extras and dims is not None:
            entry[f"url_{key}"] = static_url(photo, suffix)
            entry[f"height_{key}"] = _dimension(f"height_{key}", dims[1])
            entry[f"width_{key}"] = _dimension(f"width_{key}", dims[0])
    if "url_o" in extras:
        entry.update(
            url_o=original_url(photo), height_o=str(photo.height), width_o=str(photo.width)
        )
    return entry


def _geo_extras(photo: Photo) -> dict[str, Any]:
    if photo.geo is None:
        return {"latitude": 0, "longitude": 0, "accuracy": 0, "context": 0}
    public = 1 if photo.ispublic else 0
    return {
        **photo.geo,
        "geo_is_family": 0,
        "geo_is_friend": 0,
        "geo_is_contact": 0,
        "geo_is_public": public,
    }


def page_of(
    photos: list[Photo], library: Library, extras: set[str], page: int, per_page: int
) -> dict[str, Any]:
    """The paging envelope of ``photos.search`` / ``people.getPhotos`` (``total`` is a string)."""
    total = len(photos)
    pages = -(-total // per_page)
    chunk = photos[(page - 1) * per_page : page * per_page]
    return {
        "page": page,
        "pages": pages,
        "perpage": per_page,
        "total": str(total),
        "photo": [photo_entry(photo, library, extras) for photo in chunk],
    }


def photo_info(photo: Photo, library: Library, viewer: str | None) -> dict[str, Any]:
    """``flickr.photos.getInfo``'s ``photo`` object; owner-only members only for the owner."""
    owner = library.users[photo.owner]
    is_owner = viewer == photo.owner
    info: dict[str, Any] = {
        "id": photo.id,
        "secret": photo.secret,
        "server": photo.server,
        "farm": photo.farm,
        "dateuploaded": str(photo.dateupload),
        "isfavorite": 0,
        "license": photo.license,
        "safety_level": str(photo.safety_level - 1),
        "rotation": 0,
    }
    if is_owner:
        info.update(originalsecret=photo.originalsecret, originalformat=photo.originalformat)
    info.update(
        owner={
            "nsid": owner.nsid,
            "username": owner.username,
            "realname": owner.realname,
            "location": owner.location,
            "iconserver": owner.iconserver,
            "iconfarm": owner.iconfarm,
            "path_alias": None,
        },
        title={"_content": photo.title},
        description={"_content": photo.description},
        visibility={
            "ispublic": photo.ispublic,
            "isfriend": photo.isfriend,
            "isfamily": photo.isfamily,
        },
        dates={
            "posted": str(photo.dateupload),
            "taken": photo.datetaken,
            "takengranularity": "0",
            "takenunknown": "0",
            "lastupdate": str(photo.lastupdate),
        },
    )
    if is_owner:
        info["permissions"] = {"permcomment": 3, "permaddmeta": 2}
    info.update(
        views=str(photo.views),
        editability={"cancomment": 1 if viewer else 0, "canaddmeta": 1 if is_owner else 0},
        publiceditability={"cancomment": 1, "canaddmeta": 0},
        usage={
            "candownload": 1,
            "canblog": 1 if viewer else 0,
            "canprint": 1 if viewer else 0,
            "canshare": 1,
        },
        comments={"_content": "0"},
        notes={"note": []},
        people={"haspeople": 0},
        tags={
            "tag": [
                {
                    "id": tag.id,
                    "author": tag.author,
                    "authorname": library.users[tag.author].username
                    if tag.author in library.users
                    else "",
                    "raw": tag.raw,
                    "_content": tag.clean,
                    "machine_tag": 1 if tag.machine else 0,
                }
                for tag in photo.tags
            ]
        },
    )
    recorded = {
        key: value for key, value in photo.extra_info.items() if key != "geoperms" or is_owner
    }
    info.update(recorded)
    info.update(urls={"url": [{"type": "photopage", "_content": photo_page(photo)}]}, media="photo")
    return info


def photo_sizes(photo: Photo) -> dict[str, Any]:
    sizes: list[dict[str, Any]] = []
    for key, label, suffix, edge, square in SIZES:
        dims = scaled(photo, edge, square)
        if dims is not None:
            sizes.append(
                {
                    "label": label,
                    "width": dims[0],
                    "height": dims[1],
                    "source": static_url(photo, suffix),
                    "url": f"{photo_page(photo)}sizes/{key}/",
                    "media": "photo",
                }
            )
    sizes.append(
        {
            "label": "Original",
            "width": photo.width,
            "height": photo.height,
            "source": original_url(photo),
            "url": f"{photo_page(photo)}sizes/o/",
            "media": "photo",
        }
    )
    return {"canblog": 0, "canprint": 0, "candownload": 1, "size": sizes}


def person_info(user: User, library: Library, viewer: str | None) -> dict[str, Any]:
    photos = [
        p for p in library.photos.values() if p.owner == user.nsid and library.can_see(p, viewer)
    ]
    first_taken = min((p.datetaken for p in photos if p.datetaken), default="")
    first_upload = min((p.dateupload for p in photos), default=0)
    return {
        "id": user.nsid,
        "nsid": user.nsid,
        "ispro": 0,
        "iconserver": user.iconserver,
        "iconfarm": user.iconfarm,
        "path_alias": None,
        "username": {"_content": user.username},
        "realname": {"_content": user.realname},
        "mbox_sha1sum": {"_content": user.mbox_sha1sum},
        "location": {"_content": user.location},
        "timezone": user.timezone,
        "description": {"_content": user.description},
        "photosurl": {"_content": f"https://www.flickr.com/photos/{user.nsid}/"},
        "profileurl": {"_content": f"https://www.flickr.com/people/{user.nsid}/"},
        "mobileurl": {"_content": f"https://m.flickr.com/photostream.gne?id={user.internal_id}"},
        "photos": {
            "firstdatetaken": {"_content": first_taken},
            "firstdate": {"_content": str(first_upload) if first_upload else ""},
            "count": {"_content": len(photos)},
            "views": {"_content": str(sum(p.views for p in photos))},
        },
    }


def photoset_entry(photoset: Photoset, library: Library, viewer: str | None) -> dict[str, Any]:
    primary = library.photos[photoset.primary]
    count = sum(1 for pid in photoset.photos if library.visible_photo(pid, viewer) is not None)
    return {
        "id": photoset.id,
        "primary": photoset.primary,
        "secret": primary.secret,
        "server": primary.server,
        "farm": primary.farm,
        "photos": str(count),
        "videos": 0,
        "title": {"_content": photoset.title},
        "description": {"_content": photoset.description},
        "needs_interstitial": 0,
        "visibility_can_see_set": 1,
        "count_views": "0",
        "count_comments": "0",
        "can_comment": 1 if viewer else 0,
        "date_create": str(photoset.date_create),
        "date_update": str(photoset.date_update),
    }


def photoset_url(photoset: Photoset) -> str:
    return f"https://www.flickr.com/photos/{photoset.owner}/sets/{photoset.id}/"
