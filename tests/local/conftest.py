"""Fixtures for the ``local`` plugin: stores on ``tmp_path``, closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flickrhub_core.crypto import Keyring, new_key
from flickrhub_local import DATABASE, FileBlobStore, JobArchive, SqliteTokenStore


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def keyring() -> Keyring:
    return Keyring([new_key()])


@pytest.fixture
async def tokens(data_dir: Path, keyring: Keyring) -> AsyncIterator[SqliteTokenStore]:
    store = SqliteTokenStore(data_dir / DATABASE, keyring)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def archive(data_dir: Path) -> AsyncIterator[JobArchive]:
    store = JobArchive(data_dir / DATABASE)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def blobs(data_dir: Path) -> FileBlobStore:
    return FileBlobStore(data_dir / "blobs")
