"""Which REST methods are writes (POST, never cached), idempotent, or cacheable."""

from __future__ import annotations

import pytest

from flickrhub_core.flickr import is_cacheable, is_idempotent, is_write
from flickrhub_core.flickr.methods import (
    IDEMPOTENT_WRITE_METHODS,
    SIDE_EFFECT_METHODS,
    WRITE_METHODS,
)


def test_flickr_lists_66_write_methods() -> None:
    assert len(WRITE_METHODS) == 66
    assert all(m.startswith("flickr.") for m in WRITE_METHODS)


@pytest.mark.parametrize("method", sorted(WRITE_METHODS | SIDE_EFFECT_METHODS))
def test_writes_and_side_effects_are_never_cached(method: str) -> None:
    assert is_write(method)
    assert not is_cacheable(method)


def test_idempotent_writes_are_writes() -> None:
    assert IDEMPOTENT_WRITE_METHODS <= WRITE_METHODS


@pytest.mark.parametrize(
    "method",
    [
        "flickr.photos.getInfo",
        "flickr.photos.search",
        "flickr.people.getInfo",
        "flickr.photosets.getList",
    ],
)
def test_plain_reads_are_cacheable_gets(method: str) -> None:
    assert not is_write(method)
    assert is_cacheable(method)
    assert is_idempotent(method)


@pytest.mark.parametrize(
    "method",
    [
        "flickr.photos.upload.checkTickets",
        "flickr.test.echo",
        "flickr.test.login",
        "flickr.test.null",
        "flickr.auth.oauth.checkToken",
        "flickr.people.getUploadStatus",
    ],
)
def test_volatile_reads_are_never_cached(method: str) -> None:
    assert not is_write(method)
    assert not is_cacheable(method)


@pytest.mark.parametrize(
    ("method", "idempotent"),
    [
        ("flickr.photos.setMeta", True),
        ("flickr.photosets.reorderPhotos", True),
        ("flickr.photos.comments.addComment", False),
        ("flickr.photosets.create", False),
        ("flickr.photos.transform.rotate", False),
        ("flickr.photos.delete", False),
    ],
)
def test_only_set_style_writes_are_idempotent(method: str, idempotent: bool) -> None:
    assert is_idempotent(method) is idempotent


@pytest.mark.parametrize(
    "method", ["FLICKR.PHOTOS.DELETE", " flickr.photos.delete", "Flickr.Test.Echo"]
)
def test_odd_spelling_does_not_make_a_method_cacheable(method: str) -> None:
    assert not is_cacheable(method)
