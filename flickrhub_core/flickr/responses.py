"""Turning Flickr's answers into Python values.

Three formats come back: JSON envelopes from REST (``format=json&nojsoncallback=1``),
XML from upload and replace (always, whatever ``format`` says), and form-encoded
bodies from the OAuth endpoints and OAuth errors. XML is parsed with defusedxml
and no DTD at all is accepted: a Flickr answer never has one, and a hostile or
hijacked endpoint must not be able to expand entities or reach files.

Parsing problems raise :class:`MalformedResponse`; the client maps them to
:class:`~flickrhub_core.errors.FlickrHttpError` (retryable for garbage, which Flickr
sends while degraded; not retryable for hostile XML).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from flickrhub_core.flickr.models import AccessToken, RequestToken

__all__ = [
    "MalformedResponse",
    "envelope_error",
    "parse_access_token",
    "parse_form",
    "parse_json_envelope",
    "parse_request_token",
    "parse_rest_body",
    "parse_xml_envelope",
    "xml_to_json",
]


_JSON = json.JSONDecoder()
#: What may follow a JSON answer's object (see :func:`parse_json_envelope`).
_TRAILER = " \t\r\n,"


class MalformedResponse(ValueError):
    """A body that is not what Flickr sends. ``hostile`` marks unsafe XML."""

    def __init__(self, message: str, *, hostile: bool = False) -> None:
        super().__init__(message)
        self.hostile = hostile


def _check_envelope(data: Any, fmt: str) -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("stat") not in ("ok", "fail"):
        raise MalformedResponse(f"{fmt} answer without a Flickr envelope")
    return data


def parse_json_envelope(body: bytes) -> dict[str, Any]:
    """A REST JSON answer: a dict whose ``stat`` is ``ok`` or ``fail``.

    Trailing commas after the object are ignored: Flickr has been seen to send its
    "not currently available" refusal as ``{"stat":"fail",...,"code":201},``
    (flickr-api.md §2.1), and that is still a refusal, not garbage.
    """
    try:
        text = body.decode("utf-8-sig").strip()
        data, end = _JSON.raw_decode(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MalformedResponse("answer is not JSON") from None
    if text[end:].strip(_TRAILER):
        raise MalformedResponse("answer is not JSON")
    return _check_envelope(data, "JSON")


def xml_to_json(element: Element) -> dict[str, Any]:
    """One element in Flickr's JSON shape (flickr-api.md §2).

    Attributes become members, text becomes ``_content``, a child element becomes a
    member named after its tag, and repeated children become a list. Whether a
    single child "should" be a list is schema knowledge Flickr's JSON has and XML
    lacks; callers of XML-only endpoints (upload, replace) never need it.
    """
    out: dict[str, Any] = dict(element.attrib)
    text = element.text
    if text is not None and text.strip():
        out["_content"] = text
    seen: set[str] = set()
    repeated: set[str] = set()
    for child in element:
        tag, value = child.tag, xml_to_json(child)
        if tag in repeated:
            out[tag].append(value)
        elif tag in seen:
            out[tag] = [out[tag], value]
            repeated.add(tag)
        else:
            out[tag] = value  # a child beats a same-named attribute
            seen.add(tag)
    return out


def parse_xml_envelope(body: bytes) -> dict[str, Any]:
    """An ``<rsp stat="...">`` answer, as the JSON envelope Flickr would have sent.

    ``{"stat": "ok", "photoid": {"_content": "1234"}}``;
    failures: ``{"stat": "fail", "err": {"code": "100", "msg": "..."}}``.
    """
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise MalformedResponse("unsafe XML refused (DTD or entities)", hostile=True) from None
    except (ParseError, UnicodeError, ValueError):
        raise MalformedResponse("answer is not well-formed XML") from None
    if root.tag != "rsp":
        raise MalformedResponse("XML answer without an <rsp> envelope")
    return _check_envelope(xml_to_json(root), "XML")


def parse_rest_body(body: bytes) -> dict[str, Any]:
    """A REST answer: JSON as asked for, or XML when Flickr answers in the wrong format."""
    if body.lstrip()[:1] == b"<":
        return parse_xml_envelope(body)
    return parse_json_envelope(body)


def envelope_error(envelope: dict[str, Any]) -> tuple[int | None, str]:
    """Flickr's error ``(code, message)`` from a ``stat: fail`` envelope (JSON or XML)."""
    err = envelope.get("err")
    if isinstance(err, dict):
        code, message = err.get("code"), err.get("msg")
    else:
        code, message = envelope.get("code"), envelope.get("message")
    try:
        number = int(code) if code is not None else None
    except (TypeError, ValueError):
        number = None
    return number, str(message) if message is not None else "unknown error"


def parse_form(body: bytes | str) -> dict[str, str]:
    """A form-encoded body (OAuth answers, ``oauth_problem`` errors), percent-decoded.

    Flickr labels these ``text/plain``, so the content type is not checked.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    return dict(parse_qsl(text.strip(), keep_blank_values=True))


def _require(fields: dict[str, str], *names: str) -> list[str]:
    missing = [n for n in names if not fields.get(n)]
    if missing:
        raise MalformedResponse(f"OAuth answer lacks {', '.join(missing)}")
    return [fields[n] for n in names]


def parse_request_token(body: bytes | str) -> RequestToken:
    """The ``request_token`` answer."""
    fields = parse_form(body)
    token, secret = _require(fields, "oauth_token", "oauth_token_secret")
    confirmed = fields.get("oauth_callback_confirmed", "").lower() == "true"
    return RequestToken(token=token, secret=secret, callback_confirmed=confirmed)


def parse_access_token(body: bytes | str) -> AccessToken:
    """The ``access_token`` answer; ``fullname`` may be absent or empty."""
    fields = parse_form(body)
    token, secret, nsid = _require(fields, "oauth_token", "oauth_token_secret", "user_nsid")
    return AccessToken(
        token=token,
        secret=secret,
        user_nsid=nsid,
        username=fields.get("username", ""),
        fullname=fields.get("fullname", ""),
    )
