"""The sandbox's Quart application: Flickr's paths, plus the ``/sandbox/`` admin routes.

Paths are Flickr's, each with and without the trailing slash where Flickr clients use
both (the signature covers the path exactly as requested):

================================  ==========  ========================================
``/services/oauth/request_token``  GET, POST   :mod:`.oauth_endpoints`
``/services/oauth/authorize``      GET, POST   :mod:`.oauth_endpoints`, :mod:`.authorize`
``/services/oauth/access_token``   GET, POST   :mod:`.oauth_endpoints`
``/services/rest[/]``              GET, POST   :mod:`.rest`, :mod:`.methods`
``/services/upload[/]``            POST        :mod:`.uploads`
``/services/replace[/]``           POST        :mod:`.uploads`
``/sandbox/...``                   see         :mod:`.admin`
================================  ==========  ========================================

So a client sets ``FLICKR_REST_URL=http://HOST:PORT/services/rest/``,
``FLICKR_UPLOAD_URL=.../services/upload/``, ``FLICKR_REPLACE_URL=.../services/replace/``
and ``FLICKR_OAUTH_URL=http://HOST:PORT/services/oauth``.
"""

from __future__ import annotations

from quart import Quart

from . import admin, oauth_endpoints, rest, uploads
from .config import SandboxConfig
from .connection import SandboxQuart
from .state import EXTENSION_KEY, SandboxState


def create_sandbox_app(config: SandboxConfig | None = None) -> Quart:
    """A fresh sandbox with its own library, tokens, limits and faults."""
    config = config if config is not None else SandboxConfig()
    app = SandboxQuart(__name__)
    # Uploads are streamed and bounded by max_upload_bytes; Quart's 16 MB cap would refuse them.
    app.config["MAX_CONTENT_LENGTH"] = None
    app.extensions[EXTENSION_KEY] = SandboxState(config)

    both = ("GET", "POST")
    app.add_url_rule(
        "/services/oauth/request_token",
        "request_token",
        oauth_endpoints.request_token_endpoint,
        methods=both,
    )
    app.add_url_rule(
        "/services/oauth/access_token",
        "access_token",
        oauth_endpoints.access_token_endpoint,
        methods=both,
    )
    app.add_url_rule(
        "/services/oauth/authorize", "authorize_get", oauth_endpoints.authorize_get, methods=["GET"]
    )
    app.add_url_rule(
        "/services/oauth/authorize",
        "authorize_post",
        oauth_endpoints.authorize_post,
        methods=["POST"],
    )
    for suffix in ("", "/"):
        app.add_url_rule(f"/services/rest{suffix}", "rest", rest.rest_endpoint, methods=both)
        app.add_url_rule(
            f"/services/upload{suffix}", "upload", uploads.upload_endpoint, methods=["POST"]
        )
        app.add_url_rule(
            f"/services/replace{suffix}", "replace", uploads.replace_endpoint, methods=["POST"]
        )

    if config.admin_enabled:
        app.add_url_rule("/sandbox/faults", "get_faults", admin.get_faults, methods=["GET"])
        app.add_url_rule("/sandbox/faults", "post_faults", admin.post_faults, methods=["POST"])
        app.add_url_rule(
            "/sandbox/faults", "delete_faults", admin.delete_faults, methods=["DELETE"]
        )
        app.add_url_rule("/sandbox/calls", "get_calls", admin.get_calls, methods=["GET"])
        app.add_url_rule("/sandbox/calls", "delete_calls", admin.delete_calls, methods=["DELETE"])
        app.add_url_rule("/sandbox/reset", "reset", admin.post_reset, methods=["POST"])
        app.add_url_rule("/sandbox/tokens/revoke", "revoke", admin.post_revoke, methods=["POST"])
    return app
