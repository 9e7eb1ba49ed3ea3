"""``flickr.people.*`` and the upload bookkeeping methods (tickets, upload status)."""

from __future__ import annotations

from .errors import ApiFailure
from .payloads import page_of, person_info
from .registry import CallContext, Payload, method
from .search import resolve_user, select


@method("flickr.people.getInfo")
def get_info(ctx: CallContext) -> Payload:
    user = ctx.library.users.get(ctx.arg("user_id") or "")
    if user is None:
        raise ApiFailure(1, "User not found")
    return {"person": person_info(user, ctx.library, ctx.viewer)}


@method("flickr.people.findByUsername")
def find_by_username(ctx: CallContext) -> Payload:
    user = ctx.library.user_by_name(ctx.arg("username") or "")
    if user is None:
        raise ApiFailure(1, "User not found")
    return {"user": {"id": user.nsid, "nsid": user.nsid, "username": {"_content": user.username}}}


@method("flickr.people.getPhotos")
def get_photos(ctx: CallContext) -> Payload:
    user_id = ctx.arg("user_id")
    if user_id is None:
        raise ApiFailure(1, "Required arguments missing")
    owner = resolve_user(ctx, user_id)
    page, per_page = ctx.int_arg("page", 1, 1), ctx.int_arg("per_page", 100, 1, 500)
    return {"photos": page_of(select(ctx, owner), ctx.library, ctx.extras(), page, per_page)}


@method("flickr.people.getUploadStatus", perms=1)
def get_upload_status(ctx: CallContext) -> Payload:
    user = ctx.user
    max_bytes = ctx.max_upload_bytes
    sets = sum(1 for s in ctx.library.photosets.values() if s.owner == user.nsid)
    return {
        "user": {
            "id": user.nsid,
            "ispro": 0,
            "username": {"_content": user.username},
            "bandwidth": {
                "max": 0,
                "used": 0,
                "maxbytes": 0,
                "usedbytes": 0,
                "remainingbytes": 0,
                "maxkb": 0,
                "usedkb": 0,
                "remainingkb": 0,
                "unlimited": 1,
            },
            "filesize": {
                "max": max_bytes,
                "maxbytes": max_bytes,
                "maxkb": max_bytes // 1024,
                "maxmb": max_bytes // (1024 * 1024),
            },
            "videosize": {"maxbytes": 1073741824, "maxkb": 1048576, "maxmb": 1024},
            "sets": {"created": sets, "remaining": "lots"},
            "videos": {"uploaded": 0, "remaining": "lots"},
        }
    }


@method("flickr.photos.upload.checkTickets")
def check_tickets(ctx: CallContext) -> Payload:
    """Ticket states: ``complete`` 0 pending, 1 done (+ ``photoid``), 2 failed; else ``invalid``."""
    tickets = []
    for ticket_id in (part.strip() for part in ctx.params.get("tickets", "").split(",")):
        if not ticket_id:
            continue
        ticket = ctx.library.tickets.get(ticket_id)
        if ticket is None:
            tickets.append({"id": ticket_id, "invalid": 1})
        elif ticket.complete == 1:
            imported = str(ticket.imported) if ticket.imported is not None else None
            tickets.append(
                {"id": ticket.id, "complete": 1, "photoid": ticket.photo_id, "imported": imported}
            )
        else:
            tickets.append({"id": ticket.id, "complete": ticket.complete})
    return {"uploader": {"ticket": tickets}}
