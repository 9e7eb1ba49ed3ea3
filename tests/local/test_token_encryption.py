"""Tokens at rest: encrypted in SQLite, readable after rotation, never leaked.

The key: ``FLICKRHUB_SECRET_KEY`` (newest first), or in the embedded mode a key
file made once, 0600, in the data dir.
"""

from __future__ import annotations

import json
import sqlite3
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

import flickrhub_local
from flickrhub_core import hookimpl
from flickrhub_core.broker import MemoryBroker
from flickrhub_core.crypto import KEY_FILE, PREFIX, Keyring, new_key
from flickrhub_core.errors import ConfigError
from flickrhub_core.logs import REDACTED, redact
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings
from flickrhub_core.stores import StoredToken
from flickrhub_core.token_crypto import (
    SECRET_FIELDS,
    ListingTokenStore,
    RotatingTokenStore,
    open_token,
    reseal_record,
    seal_token,
)
from flickrhub_local import DATABASE, SqliteTokenStore
from tests.helpers import builtin_plugins
from tests.local.helpers import make_token

LOCAL = ("local", flickrhub_local)
PLAINTEXTS = (b"token-u1", b"secret-u1", b"token-u2", b"secret-u2")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def bytes_at_rest(data_dir: Path) -> bytes:
    """The database with its WAL: what a copied data dir would hold."""
    return b"".join(path.read_bytes() for path in sorted(data_dir.glob(f"{DATABASE}*")))


@pytest.fixture
def old_key() -> str:
    return new_key()


@pytest.fixture
async def make_store(data_dir: Path) -> AsyncIterator[Callable[..., SqliteTokenStore]]:
    """Stores on one database file, each with its own keys; closed after the test."""
    stores: list[SqliteTokenStore] = []

    def make(*keys: str) -> SqliteTokenStore:
        store = SqliteTokenStore(data_dir / DATABASE, Keyring(list(keys)))
        stores.append(store)
        return store

    try:
        yield make
    finally:
        for store in stores:
            await store.close()


def legacy_row(conn: sqlite3.Connection, token: StoredToken) -> None:
    """A row as the store wrote it before encryption: the whole record in plain JSON."""
    conn.execute(
        "INSERT INTO tokens (user_id, owner, consumer_key, user_nsid, created_at, updated_at,"
        " record) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            token.user_id,
            token.owner,
            token.consumer_key,
            token.user_nsid,
            token.created_at.timestamp(),
            token.updated_at.timestamp(),
            token.model_dump_json(),
        ),
    )


# --- the helpers the stores share ----------------------------------------------------


def test_seal_encrypts_only_the_secret_fields_and_open_reverses_it() -> None:
    keyring = Keyring([new_key()])
    token = make_token("u1")

    record = seal_token(keyring, token, mode="json")

    assert set(SECRET_FIELDS) == {"consumer_secret", "token", "token_secret"}
    for name in SECRET_FIELDS:
        assert record[name].startswith(PREFIX)
        assert record[name] != getattr(token, name)
    assert record["user_nsid"] == token.user_nsid
    assert record["username"] == token.username
    assert open_token(keyring, json.loads(json.dumps(record))) == token
    assert open_token(keyring, seal_token(keyring, token)) == token  # python mode


def test_reseal_is_none_when_every_secret_is_current() -> None:
    old, new = new_key(), new_key()
    token = make_token("u1")
    record = seal_token(Keyring([old]), token)

    rotated = reseal_record(Keyring([new, old]), record)

    assert rotated is not None
    assert reseal_record(Keyring([new, old]), rotated) is None
    assert open_token(Keyring([new]), rotated) == token


# --- the SQLite store ----------------------------------------------------------------


async def test_tokens_round_trip_through_every_read(
    make_store: Callable[..., SqliteTokenStore], old_key: str
) -> None:
    store = make_store(old_key)
    token = make_token("u1")
    await store.put(token)

    assert await store.get("u1") == token
    assert await store.find_account("app", "ck", token.user_nsid) == token
    assert await store.list("app") == [token]
    assert await store.list_all() == [token]
    assert isinstance(store, RotatingTokenStore)
    assert isinstance(store, ListingTokenStore)


async def test_no_token_or_secret_is_in_the_database_files(
    make_store: Callable[..., SqliteTokenStore], old_key: str, data_dir: Path
) -> None:
    store = make_store(old_key)
    await store.put(make_token("u1"))
    await store.put(make_token("u2", nsid="2@N01"))

    at_rest = bytes_at_rest(data_dir)

    assert b"name-u1" in at_rest  # the bytes read are the ones written
    for plaintext in PLAINTEXTS:
        assert plaintext not in at_rest
    assert old_key.encode() not in at_rest
    await store.close()  # checkpointed into the main file: still nothing
    for plaintext in PLAINTEXTS:
        assert plaintext not in (data_dir / DATABASE).read_bytes()


async def test_rotation_makes_the_old_key_unneeded(
    make_store: Callable[..., SqliteTokenStore], old_key: str
) -> None:
    first = make_store(old_key)
    tokens = [make_token("u1"), make_token("u2", owner="other", nsid="2@N01")]
    for token in tokens:
        await first.put(token)
    await first.close()
    new = new_key()

    both = make_store(new, old_key)
    assert await both.get("u1") == tokens[0]  # readable during the change-over
    assert await both.rotate(Keyring([new, old_key])) == (2, 0)
    assert await both.rotate(Keyring([new, old_key])) == (0, 2)
    await both.close()

    only_new = make_store(new)
    assert await only_new.get("u1") == tokens[0]
    assert await only_new.list("other") == [tokens[1]]
    await only_new.close()
    only_old = make_store(old_key)
    with pytest.raises(ConfigError):
        await only_old.get("u1")


async def test_a_wrong_key_is_a_one_line_error_without_the_key(
    make_store: Callable[..., SqliteTokenStore], old_key: str
) -> None:
    await make_store(old_key).put(make_token("u1"))
    wrong = new_key()
    store = make_store(wrong)

    for read in (store.get("u1"), store.list("app"), store.rotate(Keyring([wrong]))):
        with pytest.raises(ConfigError) as info:
            await read
        message = str(info.value)
        assert "\n" not in message
        assert wrong not in message and old_key not in message
        assert "FLICKRHUB_SECRET_KEY" in message


async def test_a_failed_rotation_changes_nothing(
    make_store: Callable[..., SqliteTokenStore], old_key: str, data_dir: Path
) -> None:
    store = make_store(old_key)
    await store.put(make_token("u1"))
    other_key = new_key()
    other = make_store(other_key)
    await other.put(make_token("u2", nsid="2@N01"))  # encrypted with another key
    await store.close()
    await other.close()
    before = await _records(data_dir)

    with pytest.raises(ConfigError):
        await make_store(new_key(), old_key).rotate(Keyring([new_key(), old_key]))

    assert await _records(data_dir) == before


async def _records(data_dir: Path) -> list[Any]:
    with sqlite3.connect(data_dir / DATABASE) as conn:
        return conn.execute("SELECT user_id, record FROM tokens ORDER BY user_id").fetchall()


async def test_plain_rows_from_before_encryption_are_read_and_then_rotated(
    make_store: Callable[..., SqliteTokenStore], old_key: str, data_dir: Path
) -> None:
    store = make_store(old_key)
    await store.list("app")  # makes the schema
    legacy = make_token("u1")
    await store.db.run(lambda conn: legacy_row(conn, legacy))
    assert b"secret-u1" in bytes_at_rest(data_dir)

    assert await store.get("u1") == legacy
    assert await store.rotate(Keyring([old_key])) == (1, 0)
    assert await store.get("u1") == legacy
    await store.close()

    assert b"secret-u1" not in bytes_at_rest(data_dir)
    assert await make_store(old_key).rotate(Keyring([old_key])) == (0, 1)


# --- the runtime's keyring -----------------------------------------------------------


async def test_the_embedded_mode_makes_a_0600_key_file_once(
    make_runtime: Callable[..., Runtime], settings: Settings
) -> None:
    first = make_runtime(LOCAL)
    key_file = settings.data_dir / KEY_FILE
    assert mode(key_file) == 0o600
    assert mode(settings.data_dir) == 0o700
    key = key_file.read_text()
    token = make_token("u1")
    await first.start()
    await first.tokens.put(token)
    await first.close()

    second = make_runtime(LOCAL)
    await second.start()
    try:
        assert key_file.read_text() == key
        assert await second.tokens.get("u1") == token
    finally:
        await second.close()
    assert key.strip().encode() not in bytes_at_rest(settings.data_dir)


def test_a_configured_key_is_used_and_no_key_file_is_made(
    make_runtime: Callable[..., Runtime], settings: Settings
) -> None:
    key = new_key()
    runtime = make_runtime(LOCAL, secret_key=SecretStr(f"{key},{new_key()}"))

    assert not (settings.data_dir / KEY_FILE).exists()
    sealed = runtime.keyring.encrypt("x")
    assert Keyring([key]).decrypt(sealed) == "x"


def test_a_malformed_key_is_a_one_line_error_without_the_value(
    make_runtime: Callable[..., Runtime],
) -> None:
    with pytest.raises(ConfigError) as info:
        make_runtime(secret_key=SecretStr("not-a-fernet-key"))
    assert "\n" not in str(info.value)
    assert "not-a-fernet-key" not in str(info.value)


class SharedBackends:
    """Enough of a distributed deployment for the role checks: stores that are not
    the in-memory ones (never used: the runtime is not started)."""

    @hookimpl
    def job_store(self, runtime: Runtime) -> object:
        return object()

    @hookimpl
    def request_token_store(self, runtime: Runtime) -> object:
        return object()


class SharedBroker(MemoryBroker):
    shared = True


@pytest.mark.parametrize("role", ["api", "worker"])
def test_separate_processes_need_the_shared_key(settings: Settings, role: Any) -> None:
    plugins = builtin_plugins(LOCAL, ("shared", SharedBackends()))

    with pytest.raises(ConfigError) as info:
        Runtime(settings, plugins, role=role, broker=SharedBroker())

    assert "FLICKRHUB_SECRET_KEY" in str(info.value)
    assert "\n" not in str(info.value)
    assert not (settings.data_dir / KEY_FILE).exists()

    keyed = settings.model_copy(update={"secret_key": SecretStr(new_key())})
    runtime = Runtime(keyed, plugins, role=role, broker=SharedBroker())
    assert runtime.keyring.decrypt(runtime.keyring.encrypt("x")) == "x"


# --- secrets in logs -----------------------------------------------------------------


def test_log_redaction_covers_every_secret_name() -> None:
    event = {
        "consumer_secret": "cs",
        "oauth_token_secret": "ots",
        "callback_secret": "cbs",
        "FLICKRHUB_SECRET_KEY": "k1,k2",
        "secret_key": "k",
        "token": "t",
        "nested": {"token_secret": "ts", "keys": [{"consumer_secret": "x"}]},
    }

    shown = redact(event)

    for name in ("consumer_secret", "oauth_token_secret", "callback_secret"):
        assert shown[name] == REDACTED
    assert shown["FLICKRHUB_SECRET_KEY"] == REDACTED
    assert shown["secret_key"] == REDACTED
    assert shown["token"] == REDACTED
    assert shown["nested"]["token_secret"] == REDACTED
    assert shown["nested"]["keys"][0]["consumer_secret"] == REDACTED


def test_a_stored_token_never_shows_its_secrets() -> None:
    token = make_token("u1")
    shown = repr(token) + str(token) + json.dumps(token.public_view())
    for plaintext in ("token-u1", "secret-u1", "'cs'"):
        assert plaintext not in shown
