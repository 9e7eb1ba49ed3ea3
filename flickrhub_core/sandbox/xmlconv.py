"""Flickr's JSON rules run backwards, so one payload serves every response format.

Flickr documents how it turns its XML into JSON (``response.json.html``): attributes
become members, element text becomes ``_content``, repeated children become arrays
and ``<rsp>`` becomes the top object. Handlers here build the JSON shape (what the
recordings show) and :func:`to_rest_xml` rebuilds the XML a ``format=rest`` client
expects:

* ``"_content": v``   → the element's text;
* scalar members      → attributes (``None`` → empty, ``True``/``False`` → ``1``/``0``);
* object members      → a child element of that name;
* array members       → one child element per item, all with the member's name.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

XML_DECLARATION = '<?xml version="1.0" encoding="utf-8" ?>\n'


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if not isinstance(value, Mapping):
        element.text = _scalar(value)
        return
    for name, member in value.items():
        if name == "_content":
            element.text = _scalar(member)
        elif isinstance(member, Mapping):
            _fill(ET.SubElement(element, name), member)
        elif isinstance(member, list):
            for item in member:
                _fill(ET.SubElement(element, name), item)
        else:
            element.set(name, _scalar(member))


def to_rest_xml(payload: Mapping[str, Any], stat: str = "ok") -> str:
    """The ``format=rest`` document for a JSON payload (without its ``stat`` member)."""
    rsp = ET.Element("rsp", {"stat": stat})
    for name, member in payload.items():
        if name == "stat":
            continue
        if isinstance(member, list):
            for item in member:
                _fill(ET.SubElement(rsp, name), item)
        else:
            _fill(ET.SubElement(rsp, name), member)
    if len(rsp) == 0:
        return f'{XML_DECLARATION}<rsp stat="{stat}">\n</rsp>\n'  # as Flickr prints test.null
    ET.indent(rsp, space="\t")
    return XML_DECLARATION + ET.tostring(rsp, encoding="unicode") + "\n"


def attr(value: str) -> str:
    """Escape text for a double-quoted XML attribute."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
    )


def fail_xml(code: int, message: str) -> str:
    """Flickr's failure document, byte for byte as recorded (tab-indented ``<err />``)."""
    return (
        f'{XML_DECLARATION}<rsp stat="fail">\n\t<err code="{code}" msg="{attr(message)}" />\n'
        "</rsp>\n"
    )


def ok_xml(inner: str) -> str:
    """Flickr's upload/replace success document around one already-serialised element."""
    return f'{XML_DECLARATION}<rsp stat="ok">\n{inner}\n</rsp>\n'
