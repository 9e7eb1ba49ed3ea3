"""Pure helpers: Flickr's JSON→XML rules in reverse, and image sniffing."""

from __future__ import annotations

import struct

from defusedxml import ElementTree
from sandbox_helpers import JPEG_HEADER, PNG_1X1

from flickrhub_core.sandbox.sniff import DEFAULT_SIZE, image_format, image_size
from flickrhub_core.sandbox.xmlconv import to_rest_xml


def test_content_becomes_text_scalars_attributes_lists_repeat() -> None:
    xml = to_rest_xml(
        {
            "photos": {
                "page": 1,
                "total": "2",
                "photo": [{"id": "1", "title": {"_content": "a & b"}}, {"id": "2"}],
            }
        }
    )
    rsp = ElementTree.fromstring(xml)
    assert rsp.get("stat") == "ok"
    photos = rsp.find("photos")
    assert (photos.get("page"), photos.get("total")) == ("1", "2")
    assert [p.get("id") for p in photos.findall("photo")] == ["1", "2"]
    assert photos.find("photo").findtext("title") == "a & b"


def test_null_and_bool_attributes() -> None:
    rsp = ElementTree.fromstring(to_rest_xml({"person": {"path_alias": None, "ispro": False}}))
    person = rsp.find("person")
    assert (person.get("path_alias"), person.get("ispro")) == ("", "0")


def test_sniffs_image_types() -> None:
    assert image_format(PNG_1X1) == "png"
    assert image_format(JPEG_HEADER) == "jpg"
    assert image_format(b"GIF89a" + b"\x00" * 10) == "gif"
    assert image_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert image_format(b"II*\x00" + b"\x00" * 8) == "tiff"
    assert image_format(b"\x00\x00\x00\x18ftypheic") == "heic"
    assert image_format(b"%PDF-1.7") is None


def test_reads_dimensions_from_headers() -> None:
    assert image_size("png", PNG_1X1) == (1, 1)
    assert image_size("jpg", JPEG_HEADER) == (640, 480)
    assert image_size("gif", b"GIF89a" + struct.pack("<HH", 320, 200)) == (320, 200)
    assert image_size("tiff", b"II*\x00") == DEFAULT_SIZE
