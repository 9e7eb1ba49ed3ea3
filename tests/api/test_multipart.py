"""The streaming multipart reader and filename cleaning, on their own."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from flickrhub_api.errors import UnsupportedMediaType
from flickrhub_api.multipart import MultipartReader, boundary_of, sanitize_filename
from flickrhub_core.errors import InvalidRequest


async def body_of(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_all(data: bytes, size: int = 7) -> list[tuple[str, str | None, bytes]]:
    reader = MultipartReader(body_of(data, size), b"XyZ")
    parts = []
    while (part := await reader.next_part()) is not None:
        content = b"".join([chunk async for chunk in part.chunks()])
        parts.append((part.name, part.filename, content))
    return parts


FORM = (
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="title"\r\n\r\n'
    b"Hello\r\n"
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="photo"; filename="a.jpg"\r\n'
    b"Content-Type: image/jpeg\r\n\r\n"
    b"\r\n--XyZ-not-a-boundary\r\nbytes\r\n"
    b"--XyZ--\r\n"
)


@pytest.mark.parametrize("size", [1, 3, 7, 64, 10_000])
async def test_parts_come_out_whole_whatever_the_chunking(size: int) -> None:
    assert await read_all(FORM, size) == [
        ("title", None, b"Hello"),
        ("photo", "a.jpg", b"\r\n--XyZ-not-a-boundary\r\nbytes"),
    ]


async def test_an_unread_part_is_skipped() -> None:
    reader = MultipartReader(body_of(FORM), b"XyZ")
    first = await reader.next_part()
    assert first is not None and first.name == "title"
    second = await reader.next_part()
    assert second is not None and second.name == "photo"
    assert await reader.next_part() is None


async def test_a_truncated_body_is_invalid() -> None:
    with pytest.raises(InvalidRequest):
        await read_all(FORM[:-20])


async def test_endless_part_headers_are_invalid() -> None:
    hostile = b"--XyZ\r\nX-Pad: " + b"a" * 100_000
    with pytest.raises(InvalidRequest):
        await read_all(hostile, 4096)


async def test_a_text_field_over_its_limit_is_invalid() -> None:
    reader = MultipartReader(body_of(FORM), b"XyZ")
    part = await reader.next_part()
    assert part is not None
    with pytest.raises(InvalidRequest):
        await part.text(max_bytes=3)


def test_boundary_is_read_from_the_content_type() -> None:
    assert boundary_of('multipart/form-data; boundary="a b"') == b"a b"


def test_other_content_types_are_unsupported() -> None:
    with pytest.raises(UnsupportedMediaType):
        boundary_of("application/json")


def test_a_missing_boundary_is_invalid() -> None:
    with pytest.raises(InvalidRequest):
        boundary_of("multipart/form-data")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("cat.jpg", "cat.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\Pictures\\cat.jpg", "cat.jpg"),
        ("evil\x00name\u202egpj.exe", "evilnamegpj.exe"),
        ("..", "photo"),
        ("", "photo"),
        (None, "photo"),
        ("/", "photo"),
        ("é😀.png", "é😀.png"),
    ],
)
def test_filenames_are_sanitised(raw: str | None, clean: str) -> None:
    assert sanitize_filename(raw) == clean


def test_long_filenames_keep_their_extension() -> None:
    name = sanitize_filename("a" * 400 + ".jpeg")
    assert len(name) == 255
    assert name.endswith(".jpeg")


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(
        st.sampled_from([b"a", b"\r", b"\n", b"-", b"--XyZ", b"\r\n--XyZ", b" ", b"\x00"]),
        max_size=40,
    ).map(b"".join),
    size=st.integers(min_value=1, max_value=32),
)
async def test_any_photo_bytes_survive_any_chunking(data: bytes, size: int) -> None:
    # A delimiter (a line break, then --boundary) cannot be part of the data.
    assume(not re.search(rb"[\r\n]--XyZ", b"\n" + data))
    form = (
        b'--XyZ\r\nContent-Disposition: form-data; name="photo"; filename="p"\r\n\r\n'
        + data
        + b"\r\n--XyZ\r\n"
        + b'Content-Disposition: form-data; name="t"\r\n\r\nx\r\n--XyZ--\r\n'
    )
    parts = await read_all(form, size)
    assert parts == [("photo", "p", data), ("t", None, b"x")]
