"""Recognise an uploaded image from its first bytes, the way Flickr refuses non-images (code 5).

Accepted: JPEG, PNG, GIF, WebP, TIFF and HEIF/HEIC/AVIF. Dimensions are read from the
header when the format makes that cheap (JPEG SOF within the first bytes kept, PNG,
GIF, WebP); otherwise a plausible default stands in.
"""

from __future__ import annotations

import struct

DEFAULT_SIZE = (1024, 768)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif"}


def image_format(head: bytes) -> str | None:
    """``jpg``/``png``/``gif``/``webp``/``tiff``/``heic`` for a recognised image, else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heic"
    return None


def image_size(kind: str, head: bytes) -> tuple[int, int]:
    """Width and height from the header, or :data:`DEFAULT_SIZE` when not cheaply known."""
    try:
        size = _SIZE_READERS.get(kind, lambda _: None)(head)
    except (struct.error, IndexError):
        size = None
    return size if size is not None and size[0] > 0 and size[1] > 0 else DEFAULT_SIZE


def _png(head: bytes) -> tuple[int, int] | None:
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _gif(head: bytes) -> tuple[int, int] | None:
    width, height = struct.unpack("<HH", head[6:10])
    return width, height


def _webp(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _jpeg(head: bytes) -> tuple[int, int] | None:
    offset = 2
    while offset + 9 < len(head):
        if head[offset] != 0xFF:
            return None
        marker = head[offset + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            offset += 2
            continue
        (length,) = struct.unpack(">H", head[offset + 2 : offset + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", head[offset + 5 : offset + 9])
            return width, height
        offset += 2 + length
    return None


_SIZE_READERS = {"png": _png, "gif": _gif, "webp": _webp, "jpg": _jpeg}
