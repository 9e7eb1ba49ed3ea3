"""Dispatch of REST calls to the method table, with Flickr's permission rules.

Implemented methods: ``flickr.test.echo|login|null``, ``flickr.auth.oauth.checkToken``,
``flickr.people.getInfo|findByUsername|getPhotos|getUploadStatus``,
``flickr.photos.search|getRecent|getInfo|getSizes|setMeta|addTags|setTags|setPerms|delete``,
``flickr.photos.upload.checkTickets`` and
``flickr.photosets.getList|getPhotos|create|addPhoto|removePhoto|delete``.

Rules, in order: unknown method → 112; required permission missing → 400
``parameter_absent`` (signed without token) or 99 (unsigned, or token too weak); a
write/delete method sent as GET → code 116 "The POST method is now required for all
setters", the answer Flickr gave GET setters since 2013 (recorded in
ept/uploadr.py#5); code 116 is otherwise "Bad URL found", but clients treat it as a
permanent error either way, which is what a wrong HTTP method is.
"""

from __future__ import annotations

from . import api_people, api_photos, api_photosets, api_test
from .auth import require_user
from .errors import ApiFailure
from .registry import METHODS, CallContext, Payload

HANDLER_MODULES = (api_people, api_photos, api_photosets, api_test)


def dispatch(ctx: CallContext, name: str, http_method: str) -> Payload:
    spec = METHODS.get(name)
    if spec is None:
        raise ApiFailure(112, f'Method "{name}" not found')
    require_user(ctx.caller, spec.perms)
    if spec.perms >= 2 and http_method != "POST":
        raise ApiFailure(116, "The POST method is now required for all setters")
    return spec.handler(ctx)
