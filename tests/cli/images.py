"""A tiny but valid JPEG, built here so the tests need no image library."""

from __future__ import annotations


def gray_jpeg() -> bytes:
    """An 8x8 mid-gray baseline JPEG (one block, DC 0, every AC 0).

    Each table has a single one-bit Huffman code: ``0`` for DC category 0 and
    ``0`` for end-of-block, so the whole scan is the bits ``00`` padded with ones.
    """
    soi = b"\xff\xd8"
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\xff\xdb\x00\x43\x00" + b"\x01" * 64
    sof0 = b"\xff\xc0\x00\x0b\x08\x00\x08\x00\x08\x01\x01\x11\x00"
    one_code = b"\x01" + b"\x00" * 15 + b"\x00"  # one code of length 1, symbol 0x00
    dht_dc = b"\xff\xc4\x00\x14\x00" + one_code
    dht_ac = b"\xff\xc4\x00\x14\x10" + one_code
    sos = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    scan = b"\x3f"
    eoi = b"\xff\xd9"
    return soi + app0 + dqt + sof0 + dht_dc + dht_ac + sos + scan + eoi
