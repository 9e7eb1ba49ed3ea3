"""``GET /__config.js``: the earlier system's route R2, kept for pages that load it.

It answers ``window.API_BASE = "<base URL>";``: where this API is reachable. There is
no setting for a public base URL, so it is the origin the request reached, as the web
UI's curl examples use (behind a proxy: the host the proxy passes on); a request
without a usable ``Host`` gets the earlier system's default,
``http://localhost:<PORT>``. It holds no secret and needs no API key; it is not part
of the API, so the OpenAPI document leaves it out.
"""

from __future__ import annotations

import json

from quart import Blueprint, Response, request
from quart_schema import hide

from flickrhub_api.context import get_runtime

blueprint = Blueprint("config_js", __name__)

PATH = "/__config.js"


def config_script(base: str) -> str:
    """The script setting ``window.API_BASE`` to ``base``: as a JSON string, which is
    a JavaScript string literal with quotes, backslashes, control characters and
    everything beyond ASCII (U+2028 included) escaped."""
    return f"window.API_BASE = {json.dumps(base)};\n"


@blueprint.get(PATH)
@hide
async def config_js() -> Response:
    """``window.API_BASE`` for a browser page, as the earlier system served it."""
    # Werkzeug gives an empty host for a missing Host or one with invalid characters.
    if request.host:
        base = request.host_url.rstrip("/")
    else:
        base = f"http://localhost:{get_runtime().settings.port}"
    return Response(config_script(base), content_type="application/javascript; charset=utf-8")
