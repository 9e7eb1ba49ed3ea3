"""Connected Flickr accounts in MongoDB: the ``TOKEN_COLLECTION`` (``tokens``).

One document per account, the fields of :class:`StoredToken` at the top level so
they can be queried; ``consumer_secret``, ``token`` and ``token_secret`` are
Fernet-encrypted with the runtime's keyring (:mod:`flickrhub_core.token_crypto`),
``created_at`` and ``updated_at`` are BSON dates (kept to the millisecond).
Documents written before encryption hold plain secrets: they are read as they
are and encrypted by :meth:`MongoTokenStore.rotate`.

Indexes: ``user_id`` (unique) and ``(owner, consumer_key, user_nsid)``.

The earlier system's documents, in the same collection, are read too (owner
``default``) and rewritten by :meth:`MongoTokenStore.import_legacy`
(:mod:`flickrhub_mongo._legacy`).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from flickrhub_core.crypto import Keyring
from flickrhub_core.flickr.models import Credentials
from flickrhub_core.stores import StoredToken
from flickrhub_core.token_crypto import SECRET_FIELDS, open_token, reseal_record, seal_token
from flickrhub_mongo._connection import Document, MongoConnection
from flickrhub_mongo._legacy import LEGACY_FILTER, is_legacy, legacy_token

#: Documents are read without Mongo's own ``_id``.
_NO_ID = {"_id": False}
#: What :meth:`MongoTokenStore.owner` reads of a document.
_OWNER_ONLY = {"_id": False, "owner": True}
_DEFAULT_OWNER = StoredToken.model_fields["owner"].default


class MongoTokenStore:
    """A :class:`~flickrhub_core.stores.TokenStore` in MongoDB, its secrets encrypted.

    Also a :class:`~flickrhub_core.token_crypto.RotatingTokenStore`, a
    :class:`~flickrhub_core.token_crypto.ListingTokenStore` and a
    :class:`~flickrhub_core.token_crypto.LegacyTokenStore`. ``consumer`` is the app
    the earlier system's documents without one were made with (``FLICKR_API_KEY``).
    """

    def __init__(
        self,
        conn: MongoConnection,
        collection: str,
        keyring: Keyring,
        consumer: Credentials | None = None,
    ) -> None:
        self.conn = conn
        self.collection_name = collection
        self.keyring = keyring
        self.consumer = consumer

    @property
    def collection(self) -> AsyncCollection[Document]:
        return self.conn.collection(self.collection_name)

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("user_id", ASCENDING)], unique=True)
        await self.collection.create_index(
            [("owner", ASCENDING), ("consumer_key", ASCENDING), ("user_nsid", ASCENDING)]
        )

    async def get(self, user_id: str) -> StoredToken | None:
        record = await self.collection.find_one({"user_id": user_id}, _NO_ID)
        return None if record is None else self._open(record)

    async def owner(self, user_id: str) -> str | None:
        """Only the ``owner`` field is read: the secrets are not fetched or decrypted."""
        record = await self.collection.find_one({"user_id": user_id}, _OWNER_ONLY)
        if record is None:
            return None
        # As get() reads it: a document without the field has the model's default.
        return str(record.get("owner", _DEFAULT_OWNER))

    async def find_account(
        self, owner: str, consumer_key: str, user_nsid: str
    ) -> StoredToken | None:
        record = await self.collection.find_one(
            {"owner": owner, "consumer_key": consumer_key, "user_nsid": user_nsid},
            _NO_ID,
            sort=[("updated_at", DESCENDING)],
        )
        return None if record is None else self._open(record)

    async def put(self, token: StoredToken) -> None:
        """Insert or replace by ``user_id`` (every field is set, so a replace)."""
        record = seal_token(self.keyring, token, mode="python")
        await self.collection.update_one({"user_id": token.user_id}, {"$set": record}, upsert=True)

    async def delete(self, user_id: str) -> bool:
        result = await self.collection.delete_one({"user_id": user_id})
        return result.deleted_count > 0

    async def list(self, owner: str) -> list[StoredToken]:
        """Oldest connection first, as the other stores list them."""
        where: dict[str, Any] = {"owner": owner}
        if owner == _DEFAULT_OWNER:  # the earlier system's documents have no owner
            where = {"$or": [where, LEGACY_FILTER]}
        cursor = self.collection.find(where, _NO_ID).sort(
            [("created_at", ASCENDING), ("user_id", ASCENDING)]
        )
        return [self._open(record) async for record in cursor]

    async def list_all(self) -> builtins.list[StoredToken]:
        """Every owner's tokens, by owner, then oldest connection first."""
        cursor = self.collection.find({}, _NO_ID).sort(
            [("owner", ASCENDING), ("created_at", ASCENDING), ("user_id", ASCENDING)]
        )
        return [self._open(record) async for record in cursor]

    async def import_legacy(self, owner: str) -> int:
        """Rewrite the earlier system's documents in this store's shape, secrets
        encrypted, for ``owner``; returns how many. Each keeps its ``user_id``, and
        is replaced only while it is still the earlier system's."""
        imported = 0
        async for record in self.collection.find(LEGACY_FILTER):
            token = legacy_token(record, self.consumer, owner=owner)
            result = await self.collection.replace_one(
                {"_id": record["_id"], **LEGACY_FILTER},
                seal_token(self.keyring, token, mode="python"),
            )
            imported += result.modified_count
        return imported

    async def rotate(self, keyring: Keyring) -> tuple[int, int]:
        """Re-encrypt every document's secrets with ``keyring``'s newest key (plain
        ones get encrypted); ``(rotated, already_current)``.

        Every document is re-encrypted in memory before the first write, so a
        secret no key decrypts raises ``ConfigError`` with nothing changed. Each
        write applies only if the document's secrets are still the ones read.
        """
        projection = {"_id": False, "user_id": True, **dict.fromkeys(SECRET_FIELDS, True)}
        planned: list[tuple[Mapping[str, Any], dict[str, Any]]] = []
        current = 0
        async for record in self.collection.find({}, projection):
            resealed = reseal_record(keyring, record)
            if resealed is None:
                current += 1
            else:
                planned.append((record, resealed))
        rotated = 0
        for old, new in planned:
            result = await self.collection.update_one(
                dict(old), {"$set": {name: new[name] for name in SECRET_FIELDS if name in new}}
            )
            rotated += result.modified_count
        return rotated, current

    def _open(self, record: Mapping[str, Any]) -> StoredToken:
        if is_legacy(record):
            return legacy_token(record, self.consumer)
        return open_token(self.keyring, record)
