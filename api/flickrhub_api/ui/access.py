"""Who the web UI acts for.

The UI's paths need no API key (:mod:`flickrhub_api.clients` exempts them). Without
keys configured it acts for the owner ``default``, as every API request does. With
``FLICKRHUB_API_KEYS`` set it acts for the client signed in at ``/ui/login`` with
its API key (kept in the signed session, see :mod:`flickrhub_api.ui.session`), and
every other page of the UI asks to sign in first.
"""

from __future__ import annotations

import hashlib

from quart import current_app

from flickrhub_api.clients import CLIENTS_KEY, ClientKeys
from flickrhub_api.context import DEFAULT_OWNER, authenticated_owner, get_runtime, set_owner
from flickrhub_api.ui.session import UiSession
from flickrhub_core.errors import Unauthorized

__all__ = ["SignInRequired", "bind_owner", "client_keys", "key_tag", "keys_enabled", "sign_in"]

_PARSED_KEY = "flickrhub.ui.client_keys"


class SignInRequired(Unauthorized):
    """API keys are configured and this browser has not signed in (or its key changed)."""


def client_keys() -> ClientKeys:
    """The app's clients (as parsed by its authentication, or from the settings)."""
    extensions = current_app.extensions
    keys: ClientKeys | None = extensions.get(CLIENTS_KEY) or extensions.get(_PARSED_KEY)
    if keys is None:
        keys = ClientKeys.from_settings(get_runtime().settings)
        extensions[_PARSED_KEY] = keys
    return keys


def keys_enabled() -> bool:
    return client_keys().enabled


def key_tag(keys: ClientKeys, client: str) -> str | None:
    """A short, one-way tag of ``client``'s key digest (None: no such client)."""
    for name, digest in keys.digests:
        if name == client:
            return hashlib.sha256(b"flickrhub-ui:" + digest).hexdigest()[:32]
    return None


def sign_in(session: UiSession, api_key: str) -> str | None:
    """Sign ``session`` in as the client whose key ``api_key`` is; its name, or None."""
    keys = client_keys()
    name = keys.authenticate(api_key)
    tag = key_tag(keys, name) if name is not None else None
    if name is None or tag is None:
        return None
    session.sign_in(name, tag)
    return name


def bind_owner(session: UiSession) -> str | None:
    """Make this request act for the UI's owner; return it (None: must sign in)."""
    keys = client_keys()
    if not keys.enabled:
        if authenticated_owner() is None:
            set_owner(DEFAULT_OWNER)
        return authenticated_owner()
    client = session.client
    if client is None or session.key_tag is None or key_tag(keys, client) != session.key_tag:
        return None
    set_owner(client)
    return client
