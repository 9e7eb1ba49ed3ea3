"""The SQLite token store: connected accounts that survive a restart."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from flickrhub_core.crypto import Keyring, new_key
from flickrhub_core.errors import ConfigError
from flickrhub_local import DATABASE, SqliteTokenStore
from tests.local.helpers import make_token


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_tokens_survive_closing_and_reopening_the_store(
    data_dir: Path, keyring: Keyring
) -> None:
    token = make_token("u1")
    first = SqliteTokenStore(data_dir / DATABASE, keyring)
    await first.put(token)
    await first.close()

    second = SqliteTokenStore(data_dir / DATABASE, keyring)
    try:
        assert await second.get("u1") == token
    finally:
        await second.close()


async def test_a_missing_user_id_has_no_token(tokens: SqliteTokenStore) -> None:
    assert await tokens.get("nobody") is None


async def test_owner_names_whose_token_it_is_or_none(tokens: SqliteTokenStore) -> None:
    await tokens.put(make_token("u1", owner="app"))
    await tokens.put(make_token("u2", owner="other-app", nsid="2@N01"))

    assert await tokens.owner("u1") == "app"
    assert await tokens.owner("u2") == "other-app"
    assert await tokens.owner("nobody") is None


async def test_owner_follows_a_replace_and_a_delete(tokens: SqliteTokenStore) -> None:
    await tokens.put(make_token("u1", owner="app"))
    await tokens.put(make_token("u1", owner="other-app"))
    assert await tokens.owner("u1") == "other-app"

    await tokens.delete("u1")

    assert await tokens.owner("u1") is None


async def test_owner_does_not_decrypt(data_dir: Path, tokens: SqliteTokenStore) -> None:
    """Read with a key that cannot open the secrets: get refuses, owner still answers."""
    await tokens.put(make_token("u1", owner="app"))
    other = SqliteTokenStore(data_dir / DATABASE, Keyring([new_key()]))
    try:
        with pytest.raises(ConfigError):
            await other.get("u1")
        assert await other.owner("u1") == "app"
    finally:
        await other.close()


async def test_find_account_returns_the_token_of_one_flickr_account(
    tokens: SqliteTokenStore,
) -> None:
    await tokens.put(make_token("u1", nsid="1@N01"))
    await tokens.put(make_token("u2", nsid="2@N01"))

    found = await tokens.find_account("app", "ck", "2@N01")

    assert found is not None and found.user_id == "u2"
    assert await tokens.find_account("other-app", "ck", "2@N01") is None
    assert await tokens.find_account("app", "other-key", "2@N01") is None


async def test_put_replaces_the_token_of_the_same_user_id(tokens: SqliteTokenStore) -> None:
    await tokens.put(make_token("u1"))
    await tokens.put(make_token("u1").model_copy(update={"token": "renewed"}))

    token = await tokens.get("u1")

    assert token is not None and token.token == "renewed"
    assert len(await tokens.list("app")) == 1


async def test_delete_removes_a_token_and_says_whether_it_existed(
    tokens: SqliteTokenStore,
) -> None:
    await tokens.put(make_token("u1"))

    assert await tokens.delete("u1") is True
    assert await tokens.get("u1") is None
    assert await tokens.delete("u1") is False


async def test_list_returns_only_the_owners_tokens_oldest_first(
    tokens: SqliteTokenStore,
) -> None:
    await tokens.put(make_token("u1", owner="app"))
    await tokens.put(make_token("u2", owner="someone-else"))
    await tokens.put(make_token("u3", owner="app", nsid="3@N01"))

    assert [t.user_id for t in await tokens.list("app")] == ["u1", "u3"]
    assert await tokens.list("nobody") == []


async def test_database_is_0600_in_a_0700_data_dir(
    tokens: SqliteTokenStore, data_dir: Path
) -> None:
    await tokens.put(make_token("u1"))

    assert mode(data_dir) == 0o700
    assert mode(data_dir / DATABASE) == 0o600
    assert mode(data_dir / f"{DATABASE}-wal") == 0o600


@pytest.fixture
def open_data_dir(data_dir: Path) -> Path:
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    return data_dir


async def test_an_existing_open_data_dir_is_made_private(
    open_data_dir: Path, keyring: Keyring
) -> None:
    data_dir = open_data_dir
    store = SqliteTokenStore(data_dir / DATABASE, keyring)
    try:
        await store.put(make_token("u1"))
    finally:
        await store.close()

    assert mode(data_dir) == 0o700


async def test_the_database_is_in_wal_mode(tokens: SqliteTokenStore) -> None:
    journal = await tokens.db.run(lambda conn: conn.execute("PRAGMA journal_mode").fetchone())

    assert journal == ("wal",)
