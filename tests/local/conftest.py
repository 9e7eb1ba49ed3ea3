"""Fixtures for the ``local`` plugin: stores on ``tmp_path``, closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flickrhub_local import DATABASE, FileBlobStore, JobArchive, SqliteTokenStore


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def tokens(data_dir: Path) -> AsyncIterator[SqliteTokenStore]:
    store = SqliteTokenStore(data_dir / DATABASE)
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
