"""CORS and the security headers of every response.

CORS: only the exact origins in ``FLICKRHUB_CORS_ORIGINS`` (``scheme://host[:port]``,
comma separated; no ``*``) get ``Access-Control-Allow-Origin``; any other origin
gets no CORS header at all, so its browser scripts cannot read an answer. API keys
travel in headers, never cookies, so credentials are not allowed. Preflights
(``OPTIONS`` with ``Access-Control-Request-Method``) are answered here, before
authentication: browsers send them without the key.

Headers on every response: a Content-Security-Policy (the API's own pages may load
only from this origin; inline ``<style>``/``<script>`` blocks of our own HTML are
allowed by their hash, never by ``'unsafe-inline'``), ``nosniff``, no framing,
no referrer, ``Cross-Origin-Opener-Policy``, and ``Cache-Control: no-store``
(answers carry per-client data). ``/docs`` (Swagger UI from quart-schema) gets a
policy of its own that allows exactly the two files it loads from the CDN.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from quart import Quart, Response, current_app, request
from quart.wrappers.response import DataBody

from flickrhub_core.errors import ConfigError

__all__ = [
    "ALLOWED_HEADERS",
    "ALLOWED_METHODS",
    "BASE_CSP",
    "DOCS_PATH",
    "content_security_policy",
    "inline_hashes",
    "install_security",
    "parse_origins",
]

SETTING = "FLICKRHUB_CORS_ORIGINS"
ORIGINS_KEY = "flickrhub.cors_origins"
DOCS_PATH = "/docs"
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = "X-API-Key, Authorization, Content-Type, Idempotency-Key, X-Request-ID"
EXPOSED_HEADERS = "X-Request-ID, Retry-After"
PREFLIGHT_MAX_AGE = "600"
#: The policy of every answer (JSON, errors, the API's own HTML pages).
BASE_CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Inline blocks: an opening tag without ``src`` and the text up to its closing tag.
_INLINE = {
    kind: re.compile(rf"<{kind}(?![^>]*\ssrc\s*=)[^>]*>(.*?)</{kind}\s*>", re.S | re.I)
    for kind in ("script", "style")
}
#: HTML pages larger than this are not scanned for inline blocks.
_MAX_SCANNED_HTML = 512 * 1024


# --- CORS ---------------------------------------------------------------------------


def _origin(entry: str) -> str:
    parts = urlsplit(entry)
    if (
        parts.scheme.lower() not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise ConfigError(
            f"{SETTING}: {entry!r} is not an origin (scheme://host[:port], http or https)"
        )
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{SETTING}: {entry!r} has an invalid port") from None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def parse_origins(raw: str) -> frozenset[str]:
    """The allowed origins, normalised as browsers send them; a bad entry (or ``*``)
    is a one-line :class:`ConfigError`."""
    origins: set[str] = set()
    for entry in raw.split(","):
        entry = entry.strip()
        if not entry:
            continue
        if entry == "*" or entry.lower() == "null":
            raise ConfigError(f"{SETTING}: {entry!r} is not allowed: list exact origins")
        origins.add(_origin(entry))
    return frozenset(origins)


def _allowed_origin() -> str | None:
    origin = request.headers.get("Origin")
    allowed: frozenset[str] = current_app.extensions.get(ORIGINS_KEY, frozenset())
    return origin if origin is not None and origin in allowed else None


async def _preflight() -> Response | None:
    """Answer a CORS preflight (before authentication: browsers send no key)."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    response = current_app.response_class("", status=204)
    origin = _allowed_origin()
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response


# --- Content-Security-Policy --------------------------------------------------------


def _hash_source(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def inline_hashes(html: str) -> dict[str, list[str]]:
    """CSP hash sources of the inline ``script`` and ``style`` blocks of ``html``."""
    found: dict[str, list[str]] = {}
    for kind, pattern in _INLINE.items():
        sources = sorted({_hash_source(block) for block in pattern.findall(html)})
        if sources:
            found[kind] = sources
    return found


def _policy(directives: Iterable[tuple[str, Iterable[str]]]) -> str:
    return "; ".join(" ".join([name, *sources]) for name, sources in directives)


def content_security_policy(
    path: str, html: str | None, docs_assets: tuple[str, str] | None = None
) -> str:
    """The policy of an answer at ``path``; ``html`` is the page when it is one.

    ``docs_assets`` are the Swagger UI script and stylesheet URLs that ``/docs`` loads.
    """
    hashes = inline_hashes(html) if html else {}
    if path == DOCS_PATH and docs_assets is not None:
        script_url, css_url = docs_assets
        # The spec is fetched from here; icons are data: URIs in the stylesheet.
        return _policy(
            [
                ("default-src", ["'none'"]),
                ("script-src", [script_url, *hashes.get("script", [])]),
                ("style-src", [css_url, *hashes.get("style", [])]),
                ("img-src", ["'self'", "data:"]),
                ("connect-src", ["'self'"]),
                ("frame-ancestors", ["'none'"]),
                ("base-uri", ["'none'"]),
                ("form-action", ["'self'"]),
            ]
        )
    if not hashes:
        return BASE_CSP
    extra = [(f"{kind}-src", ["'self'", *sources]) for kind, sources in hashes.items()]
    return f"{BASE_CSP}; {_policy(extra)}"


async def _html_of(response: Response) -> str | None:
    if response.mimetype != "text/html" or not isinstance(response.response, DataBody):
        return None
    length = response.content_length
    if length is not None and length > _MAX_SCANNED_HTML:
        return None
    data = await response.get_data(as_text=True)
    return data


async def _secure(response: Response) -> Response:
    # Every answer passes here: the names already set are read once (a werkzeug
    # ``Headers`` lookup scans the whole list), the missing ones added in one go.
    headers = response.headers
    present = {name.lower() for name, _ in headers.items()}
    path = request.path
    added = [
        (name, value) for name, value in SECURITY_HEADERS.items() if name.lower() not in present
    ]
    if "content-security-policy" not in present:
        html = await _html_of(response)
        if html is None and path != DOCS_PATH:
            policy = BASE_CSP  # what content_security_policy answers without a page
        else:
            config = current_app.config
            docs = (config["QUART_SCHEMA_SWAGGER_JS_URL"], config["QUART_SCHEMA_SWAGGER_CSS_URL"])
            policy = content_security_policy(path, html, docs)
        added.append(("Content-Security-Policy", policy))
    if "cache-control" not in present and not path.startswith("/static/"):
        added.append(("Cache-Control", "no-store"))
    if "strict-transport-security" not in present and request.scheme == "https":
        added.append(("Strict-Transport-Security", HSTS))
    headers.extend(added)
    if current_app.extensions.get(ORIGINS_KEY):
        response.vary.add("Origin")
        origin = _allowed_origin()
        if origin is not None:
            headers.setdefault("Access-Control-Allow-Origin", origin)
            headers.setdefault("Access-Control-Expose-Headers", EXPOSED_HEADERS)
    return response


def install_security(app: Quart, cors_origins: str) -> None:
    """CORS for ``cors_origins`` (a bad list refuses to start) and the security
    headers. Install before authentication: preflights carry no key."""
    app.extensions[ORIGINS_KEY] = parse_origins(cors_origins)
    app.before_request(_preflight)
    app.after_request(_secure)
