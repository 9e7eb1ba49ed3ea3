"""`flickrhub tokens new-key | rotate-key | list`, and no secret in any output."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from flickrhub_core.crypto import KEY_FILE, Keyring, new_key
from flickrhub_core.stores import StoredToken
from flickrhub_local import DATABASE, SqliteTokenStore
from tests.cli.conftest import Invoke
from tests.cli.test_info_cmds import one_error_line
from tests.local.helpers import make_token

SECRETS = ("token-u1", "secret-u1", "token-u2", "secret-u2", '"cs"')


def store_tokens(data_dir: Path, key: str, *tokens: StoredToken, plain: bool = False) -> None:
    """Put ``tokens`` in the data dir's SQLite store, encrypted with ``key`` (or, with
    ``plain``, as rows written before encryption)."""

    async def put() -> None:
        store = SqliteTokenStore(data_dir / DATABASE, Keyring([key]))
        try:
            for token in tokens:
                if plain:
                    await store.db.run(
                        lambda conn, t=token: conn.execute(
                            "INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (
                                t.user_id,
                                t.owner,
                                t.consumer_key,
                                t.user_nsid,
                                t.created_at.timestamp(),
                                t.updated_at.timestamp(),
                                t.model_dump_json(),
                            ),
                        )
                    )
                else:
                    await store.put(token)
        finally:
            await store.close()

    asyncio.run(put())


def no_secrets(*outputs: str) -> None:
    for output in outputs:
        for secret in SECRETS:
            assert secret not in output, output


def test_new_key_prints_a_fresh_fernet_key(invoke: Invoke) -> None:
    first, second = invoke("tokens", "new-key"), invoke("tokens", "new-key")

    assert first.exit_code == 0, first.stderr
    key = first.stdout.strip()
    assert Keyring([key]).decrypt(Keyring([key]).encrypt("x")) == "x"
    assert second.stdout.strip() != key


def test_list_with_nothing_connected(invoke: Invoke) -> None:
    result = invoke("tokens", "list")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "No connected accounts.\n"


def test_list_shows_every_owners_accounts_but_no_secret(invoke: Invoke, clean_env: Path) -> None:
    key = new_key()
    store_tokens(
        clean_env / "data", key, make_token("u1"), make_token("u2", owner="other", nsid="2@N01")
    )
    env = {"FLICKRHUB_SECRET_KEY": key}

    table = invoke("tokens", "list", env=env)
    as_json = invoke("tokens", "list", "--json", env=env)
    one_owner = invoke("tokens", "list", "--owner", "other", "--json", env=env)

    assert table.exit_code == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "OWNER",
        "USER_ID",
        "USER_NSID",
        "USERNAME",
        "PERMS",
        "CONNECTED_AT",
    ]
    assert [line.split()[:2] for line in lines[1:]] == [["app", "u1"], ["other", "u2"]]
    rows = json.loads(as_json.stdout)
    assert [r["user_id"] for r in rows] == ["u1", "u2"]
    assert set(rows[0]) == {
        "owner",
        "user_id",
        "user_nsid",
        "username",
        "fullname",
        "perms",
        "connected_at",
    }
    assert [r["user_id"] for r in json.loads(one_owner.stdout)] == ["u2"]
    no_secrets(table.output, as_json.output, one_owner.output)
    assert key not in table.output + as_json.output


def test_rotate_key_re_encrypts_so_the_old_key_can_go(invoke: Invoke, clean_env: Path) -> None:
    old, new = new_key(), new_key()
    store_tokens(clean_env / "data", old, make_token("u1"), make_token("u2", nsid="2@N01"))

    first = invoke("tokens", "rotate-key", env={"FLICKRHUB_SECRET_KEY": f"{new},{old}"})
    again = invoke("tokens", "rotate-key", env={"FLICKRHUB_SECRET_KEY": f"{new},{old}"})
    listed = invoke("tokens", "list", "--json", env={"FLICKRHUB_SECRET_KEY": new})

    assert first.exit_code == 0, first.stderr
    assert first.stdout.splitlines() == [
        "Re-encrypted 2 token(s) with the newest key; 0 already current."
    ]
    assert "Re-encrypted 0 token(s) with the newest key; 2 already current." in again.stdout
    assert listed.exit_code == 0, listed.stderr
    assert [r["user_id"] for r in json.loads(listed.stdout)] == ["u1", "u2"]
    no_secrets(first.output, again.output, listed.output)
    for output in (first.output, again.output, listed.output):
        assert old not in output and new not in output


def test_the_removed_key_is_a_one_line_error_without_a_key(invoke: Invoke, clean_env: Path) -> None:
    old, new = new_key(), new_key()
    store_tokens(clean_env / "data", old, make_token("u1"))

    for command in (("tokens", "list"), ("tokens", "rotate-key")):
        result = invoke(*command, env={"FLICKRHUB_SECRET_KEY": new})
        assert result.exit_code == 2
        line = one_error_line(result.stderr)
        assert "cannot be decrypted with FLICKRHUB_SECRET_KEY" in line
        assert old not in result.output and new not in result.output


def test_rotate_key_encrypts_rows_from_before_encryption_with_the_key_file(
    invoke: Invoke, clean_env: Path
) -> None:
    data_dir = clean_env / "data"
    store_tokens(data_dir, new_key(), make_token("u1"), plain=True)
    assert b"secret-u1" in (data_dir / DATABASE).read_bytes() + _wal(data_dir)

    result = invoke("tokens", "rotate-key")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Re-encrypted 1 token(s) with the newest key; 0 already current.",
        f"Key: {data_dir / KEY_FILE} (FLICKRHUB_SECRET_KEY is unset).",
    ]
    assert b"secret-u1" not in (data_dir / DATABASE).read_bytes() + _wal(data_dir)
    listed = invoke("tokens", "list", "--json")
    assert [r["user_id"] for r in json.loads(listed.stdout)] == ["u1"]


def _wal(data_dir: Path) -> bytes:
    wal = data_dir / f"{DATABASE}-wal"
    return wal.read_bytes() if wal.exists() else b""


def test_a_store_without_the_capability_is_a_one_line_error(invoke: Invoke) -> None:
    env = {"FLICKRHUB_PLUGINS": "rest"}  # tokens in memory

    rotate = invoke("tokens", "rotate-key", env=env)
    listed = invoke("tokens", "list", env=env)
    one_owner = invoke("tokens", "list", "--owner", "app", env=env)

    assert rotate.exit_code == 2
    assert "cannot re-encrypt" in one_error_line(rotate.stderr)
    assert listed.exit_code == 2
    assert "--owner" in one_error_line(listed.stderr)
    assert one_owner.exit_code == 0, one_owner.stderr


def test_a_malformed_key_is_refused_without_echoing_it(invoke: Invoke) -> None:
    result = invoke("tokens", "list", env={"FLICKRHUB_SECRET_KEY": "hunter2-not-a-key"})

    assert result.exit_code == 2
    assert "FLICKRHUB_SECRET_KEY" in one_error_line(result.stderr)
    assert "hunter2" not in result.output


def test_config_never_prints_the_secret_key(invoke: Invoke) -> None:
    key = new_key()
    env = {"FLICKRHUB_SECRET_KEY": f"{key},{new_key()}"}

    lines = invoke("config", env=env).stdout.splitlines()
    as_json = json.loads(invoke("config", "--json", env=env).stdout)

    assert "FLICKRHUB_SECRET_KEY=********" in lines
    assert as_json["FLICKRHUB_SECRET_KEY"] == "********"
    assert key not in "\n".join(lines) + json.dumps(as_json)


def test_the_commands_need_no_broker(invoke: Invoke) -> None:
    env = {"RABBIT_URL": "amqp://guest:guest@127.0.0.1:1/"}  # nothing listens there

    result = invoke("tokens", "list", env=env)

    assert result.exit_code == 0, result.stderr
    assert "guest" not in result.output


def test_import_legacy_without_mongo_says_where_the_earlier_tokens_are(invoke: Invoke) -> None:
    result = invoke("tokens", "import-legacy")

    assert result.exit_code != 0
    assert "MONGO_URL" in one_error_line(result.stderr)
