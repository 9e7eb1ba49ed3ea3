"""The Quart application: routes, envelope, limits and OpenAPI around one runtime."""

from __future__ import annotations

from quart import Quart
from quart_schema import Info, QuartSchema

from flickrhub_api import routes, ui
from flickrhub_api.access_log import install_access_log
from flickrhub_api.clients import install_authentication
from flickrhub_api.context import bind_runtime
from flickrhub_api.errors import install_error_handler
from flickrhub_api.limits import install_rate_limit
from flickrhub_api.openapi import FlickrHubOpenAPI
from flickrhub_api.routes.photos import FORM_OVERHEAD, REPLACE_PATH, UPLOAD_PATH
from flickrhub_api.security import install_security
from flickrhub_api.streaming import FlowControlledConnection, request_class
from flickrhub_core import __version__
from flickrhub_core.runtime import Runtime


def create_app(runtime: Runtime, *, manage_runtime: bool = True) -> Quart:
    """The API over ``runtime``.

    With ``manage_runtime`` the app starts and closes the runtime with the server
    (``flickrhub api``); without it the caller does (``flickrhub run`` shares one
    runtime between the API and the worker host).

    Bad ``FLICKRHUB_API_KEYS`` or ``FLICKRHUB_CORS_ORIGINS`` raise a one-line
    :class:`~flickrhub_core.errors.ConfigError` here, before anything serves.
    """
    settings = runtime.settings
    app = Quart("flickrhub_api")
    upload_limit = settings.max_upload_bytes + FORM_OVERHEAD
    app.request_class = request_class({UPLOAD_PATH: upload_limit, REPLACE_PATH: upload_limit})
    app.asgi_http_class = FlowControlledConnection
    # Every JSON route (multipart routes have their own limit above).
    app.config["MAX_CONTENT_LENGTH"] = settings.json_body_limit
    app.config["PROPAGATE_EXCEPTIONS"] = False
    bind_runtime(app, runtime)
    QuartSchema(
        app,
        # Only Swagger UI (/docs): its CDN assets are what /docs's CSP allows.
        redoc_ui_path=None,
        scalar_ui_path=None,
        # Security schemes, and the errors routes share, follow the settings:
        # FlickrHubOpenAPI adds them when the document is asked for.
        openapi_provider_class=FlickrHubOpenAPI,
        info=Info(
            title="FlickrHub",
            version=__version__,
            description="Queued, retried, cached and rate-limited Flickr calls for "
            "connected accounts. Every JSON answer is an envelope: "
            '{"request_id", "data", "error"}.',
        ),
        tags=[
            {"name": "auth", "description": "Connect a Flickr account (OAuth 1.0a)"},
            {"name": "jobs", "description": "Enqueue Flickr calls and read their outcome"},
            {"name": "photos", "description": "Upload and replace photos (streamed)"},
            {"name": "accounts", "description": "Connected Flickr accounts: list, read, revoke"},
            {"name": "admin", "description": "Dead letters: list, replay, purge"},
            {"name": "health", "description": "Probes and metrics"},
        ],
    )
    for blueprint in routes.BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.register_blueprint(ui.blueprint)  # the web UI: /, /ui/...
    install_error_handler(app)
    install_access_log(app)
    # In this order: preflights need no key; the rate limit is per authenticated client.
    install_security(app, settings.cors_origins)
    install_authentication(app, settings)
    install_rate_limit(app, settings.client_rate_limit_per_minute)
    if manage_runtime:
        app.before_serving(runtime.start)
        app.after_serving(runtime.close)
    return app
