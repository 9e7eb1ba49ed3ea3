"""A stand-in for Flickr's side of OAuth: checks captured requests independently.

A plain reimplementation (hashlib/hmac/urllib, no oauthlib signing code) of what
Flickr verifies: the query, the ``Authorization`` header's oauth params and, for
uploads, the multipart text fields, never the photo.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header, unescape

from flickrhub_core.flickr import Credentials


def _enc(value: str) -> str:
    return quote(value, safe="~")


def server_base_string(method: str, url: str, params: list[tuple[str, str]]) -> str:
    """A plain reimplementation of Flickr's check, independent of oauthlib."""
    parts = urlsplit(url)
    pairs = sorted((_enc(k), _enc(v)) for k, v in params)
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join(
        [method, _enc(f"{parts.scheme}://{parts.netloc}{parts.path}"), _enc(normalized)]
    )


def server_signature(base: str, consumer_secret: str, token_secret: str | None) -> str:
    key = f"{_enc(consumer_secret)}&{_enc(token_secret or '')}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()


@dataclass
class Part:
    headers: dict[str, str]
    content: bytes

    @property
    def disposition(self) -> dict[str, str]:
        """name/filename from Content-Disposition."""
        return dict(re.findall(r'(\w+)="([^"]*)"', self.headers["content-disposition"]))


def parse_multipart(body: bytes, content_type: str) -> list[Part]:
    boundary = content_type.split("boundary=", 1)[1].encode()
    chunks = body.split(b"--" + boundary)
    assert chunks[0] == b"", "body must start with the boundary"
    assert chunks[-1] == b"--\r\n", "body must end with the closing boundary"
    parts = []
    for chunk in chunks[1:-1]:
        assert chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n")
        head, _, content = chunk[2:-2].partition(b"\r\n\r\n")
        headers = dict(
            (k.strip().lower(), v.strip())
            for k, _, v in (line.partition(":") for line in head.decode().split("\r\n"))
        )
        parts.append(Part(headers, content))
    return parts


class FlickrCheck:
    """Verifies a captured request the way Flickr does (header + query + text fields)."""

    @staticmethod
    def oauth(request: httpx.Request) -> dict[str, str]:
        # oauthlib 4 leaves header values percent-encoded.
        header = request.headers["Authorization"]
        return {k: unescape(v) for k, v in parse_authorization_header(header)}

    @staticmethod
    def form(request: httpx.Request) -> list[tuple[str, str]]:
        return parse_qsl(request.content.decode(), keep_blank_values=True)

    @staticmethod
    def query(request: httpx.Request) -> list[tuple[str, str]]:
        return parse_qsl(request.url.query.decode(), keep_blank_values=True)

    @staticmethod
    def parts(request: httpx.Request) -> list[Part]:
        return parse_multipart(request.content, request.headers["Content-Type"])

    @staticmethod
    def text_fields(parts: list[Part]) -> list[tuple[str, str]]:
        """The multipart fields Flickr signs: every part that is not a file."""
        return [
            (p.disposition["name"], p.content.decode())
            for p in parts
            if "filename" not in p.disposition
        ]

    def verify(
        self,
        request: httpx.Request,
        creds: Credentials,
        fields: list[tuple[str, str]],
        token_secret: str | None = None,
    ) -> str:
        """Assert the signature over query + oauth header + ``fields``; return the base."""
        oauth = self.oauth(request)
        signed = [(k, v) for k, v in oauth.items() if k not in ("oauth_signature", "realm")]
        params = self.query(request) + signed + fields
        base = server_base_string(request.method, str(request.url), params)
        secret = creds.token_secret if token_secret is None else token_secret
        assert oauth["oauth_signature"] == server_signature(base, creds.consumer_secret, secret)
        return base
