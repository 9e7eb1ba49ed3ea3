"""Access tokens at rest: which fields of a :class:`StoredToken` are encrypted, and how.

Token stores that write to disk or to a server (``local``'s SQLite, Mongo) keep
``consumer_secret``, ``token`` and ``token_secret`` Fernet-encrypted with the
runtime's :class:`~flickrhub_core.crypto.Keyring`; the other fields stay plain so
they can be queried. A store calls :func:`seal_token` before writing a record and
:func:`open_token` after reading one; :func:`reseal_record` is the rotation step.
Records written before encryption (plain secrets) are read as they are and
encrypted by the next rotation.

Optional token-store capabilities (checked with ``isinstance``; the
:class:`~flickrhub_core.stores.TokenStore` protocol does not require them):

* :class:`RotatingTokenStore` -- ``rotate(keyring)``, used by
  ``flickrhub tokens rotate-key``;
* :class:`ListingTokenStore` -- ``list_all()``, every owner's tokens, used by
  ``flickrhub tokens list`` without ``--owner``;
* :class:`LegacyTokenStore` -- ``import_legacy(owner)``, used by ``flickrhub tokens
  import-legacy`` to rewrite the earlier system's token documents (the ``mongo``
  store).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol, runtime_checkable

from flickrhub_core.crypto import Keyring
from flickrhub_core.stores import StoredToken

__all__ = [
    "SECRET_FIELDS",
    "LegacyTokenStore",
    "ListingTokenStore",
    "RotatingTokenStore",
    "open_token",
    "reseal_record",
    "seal_token",
]

#: The fields of a :class:`StoredToken` that are only ever stored encrypted.
SECRET_FIELDS = ("consumer_secret", "token", "token_secret")


def seal_token(
    keyring: Keyring, token: StoredToken, *, mode: Literal["python", "json"] = "python"
) -> dict[str, Any]:
    """``token`` as a record to store, its secret fields encrypted.

    ``mode="json"`` gives JSON-ready values (datetimes as ISO strings, for SQLite);
    ``"python"`` keeps datetimes (for Mongo).
    """
    record = token.model_dump(mode=mode)
    for name in SECRET_FIELDS:
        record[name] = keyring.encrypt(str(record[name]))
    return record


def open_token(keyring: Keyring, record: Mapping[str, Any]) -> StoredToken:
    """The :class:`StoredToken` of a stored record, secrets decrypted.

    Plain (never encrypted) secrets pass through; a secret no key of ``keyring``
    decrypts raises :class:`~flickrhub_core.errors.ConfigError` (one line, no key).
    """
    fields = dict(record)
    for name in SECRET_FIELDS:
        value = fields.get(name)
        if isinstance(value, str):
            fields[name] = keyring.decrypt(value)
    return StoredToken.model_validate(fields)


def reseal_record(keyring: Keyring, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """``record`` with every secret re-encrypted with the newest key, or None when
    each already is (nothing to write)."""
    values = {name: record.get(name) for name in SECRET_FIELDS}
    secrets = {name: value for name, value in values.items() if isinstance(value, str)}
    if all(keyring.is_current(value) for value in secrets.values()):
        return None
    resealed = dict(record)
    for name, value in secrets.items():
        resealed[name] = keyring.rotate(value)
    return resealed


@runtime_checkable
class RotatingTokenStore(Protocol):
    """A token store that can re-encrypt all its tokens with a keyring's newest key."""

    async def rotate(self, keyring: Keyring) -> tuple[int, int]:
        """Re-encrypt every token not yet encrypted with ``keyring``'s newest key.

        Returns ``(rotated, already_current)``. All or nothing: if one secret
        cannot be decrypted, nothing is changed and ``ConfigError`` is raised.
        """
        ...


@runtime_checkable
class ListingTokenStore(Protocol):
    """A token store that can list every owner's tokens at once."""

    async def list_all(self) -> list[StoredToken]:
        """Every stored token, by owner, then oldest connection first."""
        ...


@runtime_checkable
class LegacyTokenStore(Protocol):
    """A token store that holds the earlier system's token documents too."""

    async def import_legacy(self, owner: str) -> int:
        """Rewrite each of them in this store's shape, secrets encrypted, for
        ``owner``, keeping its ``user_id``; returns how many were rewritten."""
        ...
