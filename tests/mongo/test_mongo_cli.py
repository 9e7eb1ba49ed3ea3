"""``flickrhub tokens import-legacy`` against a MongoDB token collection."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pymongo import MongoClient

from flickrhub_core.cli import cli
from flickrhub_core.crypto import PREFIX
from tests.mongo.helpers import MongoServer
from tests.mongo.test_mongo_tokens import legacy_document


def test_import_legacy_gives_the_earlier_systems_accounts_to_an_owner(
    mongo_server: MongoServer,
    suffix: str,
    secret_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(mongo_server.url)
    collection = client[mongo_server.database][f"tokens_{suffix}"]
    collection.insert_one(legacy_document("old-1"))
    monkeypatch.chdir(tmp_path)  # no .env of this checkout
    env = {
        "FLICKRHUB_PLUGINS": "rest,local,mongo",
        "FLICKRHUB_DATA_DIR": str(tmp_path / "data"),
        "FLICKRHUB_SECRET_KEY": secret_key,
        "MONGO_URL": mongo_server.url,
        "MONGO_DB": mongo_server.database,
        "TOKEN_COLLECTION": f"tokens_{suffix}",
        "JOB_COLLECTION": f"jobs_{suffix}",
    }
    try:
        result = CliRunner().invoke(cli, ["tokens", "import-legacy", "--owner", "app"], env=env)
        raw = collection.find_one({"user_id": "old-1"})
    finally:
        client.close()

    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "Imported 1 token(s) of the earlier system for owner 'app'."
    assert raw is not None
    assert raw["owner"] == "app"
    assert str(raw["token"]).startswith(PREFIX)
    assert "token-old-1" not in result.stdout + result.stderr
