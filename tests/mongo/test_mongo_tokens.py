"""The Mongo token store: connected accounts, their secrets encrypted at rest."""

from __future__ import annotations

from datetime import datetime

import pytest
from pymongo.errors import DuplicateKeyError

from flickrhub_core.crypto import PREFIX, Keyring, new_key
from flickrhub_core.errors import ConfigError
from flickrhub_core.flickr.models import Credentials
from flickrhub_core.stores import TokenStore
from flickrhub_core.token_crypto import SECRET_FIELDS, ListingTokenStore, RotatingTokenStore
from flickrhub_mongo import MongoConnection, MongoTokenStore
from tests.mongo.helpers import index_keys, make_token, now_ms


async def test_a_token_round_trips_and_its_secrets_are_ciphertext_at_rest(
    tokens: MongoTokenStore,
) -> None:
    token = make_token("u1")

    await tokens.put(token)
    raw = await tokens.collection.find_one({"user_id": "u1"})

    assert await tokens.get("u1") == token
    assert raw is not None
    for name in SECRET_FIELDS:
        assert raw[name].startswith(PREFIX)
        assert getattr(token, name) not in str(raw)
    assert raw["owner"] == "app"
    assert raw["user_nsid"] == "1@N01"
    assert isinstance(raw["created_at"], datetime)
    assert isinstance(raw["updated_at"], datetime)
    assert raw["created_at"] == token.created_at


async def test_it_is_a_token_store_that_rotates_and_lists_all(tokens: MongoTokenStore) -> None:
    assert isinstance(tokens, TokenStore)
    assert isinstance(tokens, RotatingTokenStore)
    assert isinstance(tokens, ListingTokenStore)


async def test_put_replaces_by_user_id(tokens: MongoTokenStore) -> None:
    await tokens.put(make_token("u1", age=60))
    newer = make_token("u1").model_copy(update={"token": "token-2", "username": "renamed"})

    await tokens.put(newer)

    assert await tokens.get("u1") == newer
    assert await tokens.collection.count_documents({"user_id": "u1"}) == 1


async def test_user_id_is_unique(tokens: MongoTokenStore) -> None:
    await tokens.put(make_token("u1"))

    with pytest.raises(DuplicateKeyError):
        await tokens.collection.insert_one({"user_id": "u1", "owner": "other"})


async def test_the_indexes_exist(tokens: MongoTokenStore, conn: MongoConnection) -> None:
    await tokens.ensure_indexes()  # a second time changes nothing

    indexes = await index_keys(conn, tokens.collection_name)

    assert indexes[("user_id",)].get("unique") is True
    assert ("owner", "consumer_key", "user_nsid") in indexes


async def test_find_account_gives_the_newest_token_of_that_account(
    tokens: MongoTokenStore,
) -> None:
    older = make_token("u1", age=60)
    newer = make_token("u2")
    await tokens.put(newer)
    await tokens.put(older)
    await tokens.put(make_token("u3", owner="other"))

    assert await tokens.find_account("app", "ck", "1@N01") == newer
    assert await tokens.find_account("app", "other-key", "1@N01") is None
    assert await tokens.find_account("nobody", "ck", "1@N01") is None


async def test_owner_names_whose_token_it_is_or_none(tokens: MongoTokenStore) -> None:
    await tokens.put(make_token("u1"))
    await tokens.put(make_token("u2", owner="other", nsid="2@N01"))

    assert await tokens.owner("u1") == "app"
    assert await tokens.owner("u2") == "other"
    assert await tokens.owner("nobody") is None

    await tokens.delete("u1")
    assert await tokens.owner("u1") is None


async def test_owner_of_a_document_without_one_is_the_default_as_get_reads_it(
    tokens: MongoTokenStore,
) -> None:
    record = make_token("u1").model_dump(exclude={"owner"})
    await tokens.collection.insert_one(record)

    token = await tokens.get("u1")

    assert token is not None and await tokens.owner("u1") == token.owner == "default"


async def test_owner_does_not_decrypt(tokens: MongoTokenStore) -> None:
    """With a key that cannot open the secrets get refuses; owner still answers."""
    await tokens.put(make_token("u1"))
    tokens.keyring = Keyring([new_key()])

    with pytest.raises(ConfigError):
        await tokens.get("u1")
    assert await tokens.owner("u1") == "app"


async def test_delete_says_whether_there_was_a_token(tokens: MongoTokenStore) -> None:
    await tokens.put(make_token("u1"))

    assert await tokens.delete("u1") is True
    assert await tokens.delete("u1") is False
    assert await tokens.get("u1") is None
    assert await tokens.get("never") is None


async def test_list_gives_one_owners_tokens_oldest_first(tokens: MongoTokenStore) -> None:
    second = make_token("b", age=10, nsid="2@N01")
    first = make_token("a", age=20, nsid="3@N01")
    others = make_token("c", owner="other")
    for token in (second, others, first):
        await tokens.put(token)

    assert await tokens.list("app") == [first, second]
    assert await tokens.list("other") == [others]
    assert await tokens.list("nobody") == []
    assert await tokens.list_all() == [first, second, others]


async def test_rotation_re_encrypts_with_the_newest_key_and_plain_secrets_get_encrypted(
    tokens: MongoTokenStore, secret_key: str
) -> None:
    token = make_token("u1")
    await tokens.put(token)
    plain = make_token("u2")
    await tokens.collection.insert_one(plain.model_dump())  # written before encryption
    assert await tokens.get("u2") == plain  # plain secrets are read as they are

    newest = new_key()
    both = Keyring([newest, secret_key])

    assert await tokens.rotate(both) == (2, 0)
    assert await tokens.rotate(both) == (0, 2)
    tokens.keyring = Keyring([newest])
    assert await tokens.get("u1") == token
    assert await tokens.get("u2") == plain
    raw = await tokens.collection.find_one({"user_id": "u2"})
    assert raw is not None and raw["token"].startswith(PREFIX)


async def test_rotation_without_the_old_key_changes_nothing(tokens: MongoTokenStore) -> None:
    await tokens.put(make_token("u1"))
    before = await tokens.collection.find_one({"user_id": "u1"})

    with pytest.raises(ConfigError):
        await tokens.rotate(Keyring([new_key()]))

    assert await tokens.collection.find_one({"user_id": "u1"}) == before


async def test_times_are_kept_to_the_millisecond(tokens: MongoTokenStore) -> None:
    token = make_token("u1").model_copy(update={"created_at": now_ms(-5)})

    await tokens.put(token)
    stored = await tokens.get("u1")

    assert stored is not None
    assert stored.created_at == token.created_at
    assert stored.created_at.utcoffset() is not None


# --- the earlier system's documents -------------------------------------------------------


def legacy_document(user_id: str = "old-1", *, app: bool = True) -> dict[str, object]:
    """A token document as the earlier Node.js system wrote it (its CLI left out the app)."""
    token: dict[str, object] = {
        "oauth_token": f"token-{user_id}",
        "oauth_token_secret": f"secret-{user_id}",
        "user_nsid": "7@N01",
        "username": "someone",
    }
    if app:
        token.update(api_key="their-key", api_secret="their-secret")
    at = now_ms(-60)
    return {"user_id": user_id, "token": token, "createdAt": at, "updatedAt": at}


async def test_an_earlier_system_document_is_read_as_an_account_of_the_default_owner(
    tokens: MongoTokenStore,
) -> None:
    document = legacy_document()
    await tokens.collection.insert_one(dict(document))

    token = await tokens.get("old-1")

    assert token is not None
    assert (token.owner, token.consumer_key, token.consumer_secret) == (
        "default",
        "their-key",
        "their-secret",
    )
    assert (token.token, token.token_secret, token.user_nsid) == (
        "token-old-1",
        "secret-old-1",
        "7@N01",
    )
    assert token.created_at == document["createdAt"]
    assert await tokens.owner("old-1") == "default"
    assert [t.user_id for t in await tokens.list("default")] == ["old-1"]


async def test_an_earlier_system_document_without_an_app_uses_flickr_api_key(
    conn: MongoConnection, suffix: str, keyring: Keyring
) -> None:
    store = MongoTokenStore(conn, f"tokens_{suffix}", keyring, Credentials("env-key", "env-secret"))
    await store.collection.insert_one(legacy_document(app=False))

    token = await store.get("old-1")

    assert token is not None
    assert (token.consumer_key, token.consumer_secret) == ("env-key", "env-secret")


async def test_an_earlier_system_document_without_an_app_or_flickr_api_key_says_so(
    tokens: MongoTokenStore,
) -> None:
    await tokens.collection.insert_one(legacy_document(app=False))

    with pytest.raises(ConfigError, match="FLICKR_API_KEY"):
        await tokens.get("old-1")


async def test_import_legacy_rewrites_them_encrypted_for_the_owner_keeping_their_user_ids(
    tokens: MongoTokenStore,
) -> None:
    await tokens.collection.insert_many([legacy_document("old-1"), legacy_document("old-2")])
    current = make_token("new-1")
    await tokens.put(current)

    assert await tokens.import_legacy("app") == 2
    assert await tokens.import_legacy("app") == 0

    raw = await tokens.collection.find_one({"user_id": "old-1"})
    assert raw is not None
    assert raw["owner"] == "app"
    assert raw["token"].startswith(PREFIX)  # no longer the earlier system's plain dict
    assert "createdAt" not in raw
    imported = await tokens.get("old-1")
    assert imported is not None
    assert (imported.owner, imported.token, imported.consumer_key) == (
        "app",
        "token-old-1",
        "their-key",
    )
    assert await tokens.find_account("app", "their-key", "7@N01") is not None
    assert await tokens.get("new-1") == current
