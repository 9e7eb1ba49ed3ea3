"""Token documents of the earlier Node.js system, which FlickrHub replaces.

It used the same database and collection names (``MONGO_DB`` ``flickrhub``,
``TOKEN_COLLECTION`` ``tokens``) with another document::

    {user_id, token: {api_key, api_secret, oauth_token, oauth_token_secret,
                      user_nsid, username}, createdAt, updatedAt}

secrets in plain text, ``api_key``/``api_secret`` missing when its CLI connected the
account. Such a document is read as a connected account of the ``default`` owner (it
had no API clients), so the ``user_id``s its clients hold keep working; ``flickrhub
tokens import-legacy`` rewrites them in FlickrHub's shape, encrypted, for an owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flickrhub_core.errors import ConfigError
from flickrhub_core.flickr.models import Credentials
from flickrhub_core.stores import StoredToken

#: Matches the earlier system's documents (FlickrHub's have a string ``token``).
LEGACY_FILTER: dict[str, Any] = {"token": {"$type": "object"}}


def is_legacy(record: Mapping[str, Any]) -> bool:
    return isinstance(record.get("token"), Mapping)


def legacy_token(
    record: Mapping[str, Any], consumer: Credentials | None, *, owner: str | None = None
) -> StoredToken:
    """The account an earlier-system document holds.

    Its app is the one the document names, else ``FLICKR_API_KEY``: the earlier worker
    signed every call with that key, so the accounts its CLI connected used it.
    """
    token: Mapping[str, Any] = record["token"]
    key, secret = token.get("api_key"), token.get("api_secret")
    if not (key and secret):
        if consumer is None:
            raise ConfigError(
                f"the earlier system's token of user_id {record.get('user_id')!r} names no "
                "app: set FLICKR_API_KEY and FLICKR_API_SECRET to the key it was made with"
            )
        key, secret = consumer.consumer_key, consumer.consumer_secret
    fields: dict[str, Any] = {
        "user_id": record["user_id"],
        "consumer_key": key,
        "consumer_secret": secret,
        "token": token.get("oauth_token", ""),
        "token_secret": token.get("oauth_token_secret", ""),
        "user_nsid": token.get("user_nsid", ""),
        "username": token.get("username") or "",
    }
    if owner is not None:
        fields["owner"] = owner
    for ours, theirs in (("created_at", "createdAt"), ("updated_at", "updatedAt")):
        if record.get(theirs) is not None:
            fields[ours] = record[theirs]
    return StoredToken.model_validate(fields)
