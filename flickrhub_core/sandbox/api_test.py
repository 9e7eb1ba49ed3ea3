"""``flickr.test.*`` and ``flickr.auth.oauth.checkToken``: the calls clients use to probe auth."""

from __future__ import annotations

import re

from .errors import ApiFailure
from .registry import CallContext, Payload, method
from .tokens import PERMS

_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_PERM_NAMES = {level: name for name, level in PERMS.items()}


@method("flickr.test.echo")
def echo(ctx: CallContext) -> Payload:
    """Every parameter back as ``{"_content": value}``, plus Flickr's OAuth echo members."""
    payload: Payload = {}
    for name, value in ctx.echo:
        # Names that cannot be XML elements would break format=rest; Flickr drops them too.
        if _XML_NAME.match(name) and name != "stat":
            payload[name] = {"_content": value}
    oauth = ctx.caller.oauth
    if oauth is not None:
        payload["api_auth_is_oauth"] = {"_content": "1"}
        payload["api_sig"] = {"_content": oauth.signature}
        if ctx.caller.token is not None:
            payload["auth_token"] = {"_content": ctx.caller.token.token}
    return payload


@method("flickr.test.login", perms=1)
def login(ctx: CallContext) -> Payload:
    user = ctx.user
    return {"user": {"id": user.nsid, "username": {"_content": user.username}}}


@method("flickr.test.null", perms=1)
def null(ctx: CallContext) -> Payload:
    return {}


@method("flickr.auth.oauth.checkToken")
def check_token(ctx: CallContext) -> Payload:
    """Describe the access token named by the explicit ``oauth_token`` argument.

    The call must be signed, and the token must be a query or body argument: the one
    in the ``Authorization`` header alone does not count, so without the argument
    Flickr answers 98 (flickr-api.md §1.3; sybrenstuvel/flickrapi#123).
    """
    if not ctx.caller.signed:
        raise ApiFailure(97, "Missing signature")
    token = ctx.tokens.access_token(ctx.arguments.get("oauth_token", "").strip())
    if token is None or token.consumer_key != ctx.caller.consumer_key:
        raise ApiFailure(98, "Invalid token")
    user = ctx.library.users[token.user_nsid]
    return {
        "oauth": {
            "token": {"_content": token.token},
            "perms": {"_content": _PERM_NAMES[token.perms]},
            "user": {"nsid": user.nsid, "username": user.username, "fullname": user.realname},
        }
    }
