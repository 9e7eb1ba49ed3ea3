"""The web UI's session: one signed cookie with the CSRF token and, when API keys
are configured, the client signed in.

The cookie is signed (itsdangerous), not encrypted: it holds nothing secret, only
a random CSRF token, a client's name and a short tag of that client's key digest
(so a changed key ends the session). Its signing keys are derived from the
runtime's secret keys (``FLICKRHUB_SECRET_KEY``, or the embedded mode's key file),
one per key, so rotating them does not sign everybody out at once and processes
sharing the keys accept each other's sessions.

Every POST form of the UI carries the token in :data:`CSRF_FIELD`; :func:`check_csrf`
refuses a form without the session's token (the cookie is ``SameSite=Lax`` and
``HttpOnly`` as well).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from quart import Response, current_app, g, request
from werkzeug.datastructures import MultiDict

from flickrhub_api.context import get_runtime
from flickrhub_core.crypto import KEY_FILE, Keyring, has_secret_key
from flickrhub_core.errors import FlickrHubError
from flickrhub_core.settings import Settings

__all__ = [
    "COOKIE",
    "CSRF_FIELD",
    "CsrfRejected",
    "UiSession",
    "check_csrf",
    "current_session",
    "load_session",
    "save_session",
    "signing_keys",
]

COOKIE = "flickrhub_ui"
#: The cookie is sent to the UI's paths only.
COOKIE_PATH = "/ui"
#: Seconds a session lasts (the signature's age is checked on every request).
MAX_AGE = 12 * 3600
CSRF_FIELD = "csrf_token"
_SALT = "flickrhub.ui.session"
_DERIVATION_LABEL = b"flickrhub web ui session v1"
_SERIALIZER_KEY = "flickrhub.ui.serializer"
_SESSION_ATTR = "flickrhub_ui_session"


class CsrfRejected(FlickrHubError):
    """A UI form without this session's CSRF token (stale page, or sent from elsewhere)."""

    code = "ERR_CSRF"
    http_status = 400


@dataclass
class UiSession:
    csrf: str
    #: The API client signed in (only when API keys are configured).
    client: str | None = None
    #: A tag of that client's key digest when it signed in.
    key_tag: str | None = None
    #: A message for the next page (after a redirect), shown once.
    notice: str | None = None
    modified: bool = False

    @classmethod
    def fresh(cls) -> UiSession:
        return cls(csrf=secrets.token_urlsafe(32), modified=True)

    def sign_in(self, client: str, key_tag: str) -> None:
        """Remember ``client``; a new CSRF token, so a token seen before sign-in is void."""
        self.client, self.key_tag = client, key_tag
        self.csrf = secrets.token_urlsafe(32)
        self.modified = True

    def sign_out(self) -> None:
        self.client = self.key_tag = None
        self.csrf = secrets.token_urlsafe(32)
        self.modified = True

    def dump(self) -> dict[str, Any]:
        return {
            "csrf": self.csrf,
            "client": self.client,
            "key_tag": self.key_tag,
            "notice": self.notice,
        }


def signing_keys(settings: Settings) -> list[bytes]:
    """One signing key per secret key, oldest first (itsdangerous signs with the last)."""
    if has_secret_key(settings) and settings.secret_key is not None:
        raw = [k.strip() for k in settings.secret_key.get_secret_value().split(",") if k.strip()]
    else:
        path = settings.data_dir / KEY_FILE
        if not path.exists():
            Keyring.from_settings(settings)  # makes the embedded mode's key file
        raw = [path.read_text().strip()]
    return [
        hmac.new(key.encode(), _DERIVATION_LABEL, hashlib.sha256).digest() for key in reversed(raw)
    ]


def _serializer() -> URLSafeTimedSerializer:
    extensions = current_app.extensions
    serializer: URLSafeTimedSerializer | None = extensions.get(_SERIALIZER_KEY)
    if serializer is None:
        serializer = URLSafeTimedSerializer(signing_keys(get_runtime().settings), salt=_SALT)
        extensions[_SERIALIZER_KEY] = serializer
    return serializer


def _parse(value: str | None) -> UiSession | None:
    if not value:
        return None
    try:
        data = _serializer().loads(value, max_age=MAX_AGE)
    except BadSignature:  # expired signatures are a subclass
        return None
    if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
        return None
    client, tag, notice = data.get("client"), data.get("key_tag"), data.get("notice")
    return UiSession(
        csrf=data["csrf"],
        client=client if isinstance(client, str) else None,
        key_tag=tag if isinstance(tag, str) else None,
        notice=notice if isinstance(notice, str) else None,
    )


def load_session() -> UiSession:
    """This request's session, from its cookie or new (saved with the response)."""
    session = _parse(request.cookies.get(COOKIE)) or UiSession.fresh()
    setattr(g, _SESSION_ATTR, session)
    return session


def current_session() -> UiSession:
    session: UiSession | None = g.get(_SESSION_ATTR)
    return session if session is not None else load_session()


def save_session(response: Response) -> Response:
    """Set the cookie if the session is new or changed."""
    session: UiSession | None = g.get(_SESSION_ATTR)
    if session is not None and session.modified:
        response.set_cookie(
            COOKIE,
            _serializer().dumps(session.dump()),
            max_age=MAX_AGE,
            path=COOKIE_PATH,
            secure=request.scheme == "https",
            httponly=True,
            samesite="Lax",
        )
    return response


def check_csrf(form: MultiDict[str, str]) -> None:
    """Refuse a form that does not carry this session's CSRF token."""
    sent = form.get(CSRF_FIELD, "")
    if not sent or not secrets.compare_digest(sent, current_session().csrf):
        raise CsrfRejected(
            "this form has expired or did not come from this FlickrHub page: "
            "reload the page and try again"
        )
