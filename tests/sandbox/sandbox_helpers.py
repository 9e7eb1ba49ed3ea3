"""Client-side helpers for the sandbox tests: sign like real Flickr clients, run the OAuth dance."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from oauthlib.oauth1 import (
    SIGNATURE_TYPE_AUTH_HEADER,
    SIGNATURE_TYPE_BODY,
    SIGNATURE_TYPE_QUERY,
    Client,
)

FORM = "application/x-www-form-urlencoded"
WHERE = {
    "header": SIGNATURE_TYPE_AUTH_HEADER,
    "query": SIGNATURE_TYPE_QUERY,
    "body": SIGNATURE_TYPE_BODY,
}

# Smallest valid images, enough for the sandbox's sniffing and size parsing.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001"
    "0d0a2db40000000049454e44ae426082"
)
JPEG_HEADER = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    b"\xff\xc0\x00\x11\x08\x01\xe0\x02\x80\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
)  # SOF0: 640 x 480


@dataclass
class Credentials:
    key: str
    secret: str
    token: str | None = None
    token_secret: str | None = None
    user_nsid: str | None = None
    username: str | None = None

    def client(self, where: str = "header", **extra: Any) -> Client:
        return Client(
            self.key,
            client_secret=self.secret,
            resource_owner_key=self.token,
            resource_owner_secret=self.token_secret,
            signature_type=WHERE[where],
            **extra,
        )


def keyless_oauth_header(token: str | None) -> str:
    """An ``Authorization: OAuth`` value without ``oauth_consumer_key``, shaped like the
    recorded requests Flickr answered with code 100 (janko/flickr-objects, 2013)."""
    fields = [
        ("oauth_nonce", "2f7b72858b09bc1163feee664593be99"),
        ("oauth_signature", "X%2BFaqx5n9g03AmbpV1HIbzXlswo%3D"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", str(int(time.time()))),
        *([("oauth_token", token)] if token else []),
        ("oauth_version", "1.0"),
    ]
    return "OAuth " + ", ".join(f'{name}="{value}"' for name, value in fields)


def signed(
    http: httpx.Client,
    creds: Credentials,
    method: str,
    url: str,
    params: dict[str, str],
    where: str = "header",
    **client_extra: Any,
) -> httpx.Response:
    """Send ``params`` signed by oauthlib, in the query (GET) or a form body (POST)."""
    client = creds.client(where, **client_extra)
    if method == "GET":
        full = f"{url}?{urlencode(params)}" if params else url
        uri, headers, _ = client.sign(full, http_method="GET")
        return http.get(uri, headers=headers)
    uri, headers, body = client.sign(
        url, http_method="POST", body=urlencode(params), headers={"Content-Type": FORM}
    )
    return http.post(uri, content=body, headers=headers)


def signed_multipart(
    http: httpx.Client,
    creds: Credentials,
    url: str,
    fields: dict[str, str],
    photo: bytes | None,
    filename: str = "photo.png",
) -> httpx.Response:
    """Sign the text fields only (as flickrapi and Flickr's SDK do), then send multipart."""
    _, headers, _ = creds.client().sign(
        url, http_method="POST", body=urlencode(fields), headers={"Content-Type": FORM}
    )
    files = {"photo": (filename, photo, "application/octet-stream")} if photo is not None else None
    return http.post(
        url, data=fields, files=files, headers={"Authorization": headers["Authorization"]}
    )


def rest(http: httpx.Client, creds: Credentials, base: str, method: str, **params: str) -> Any:
    """A signed JSON REST call (POST, like flickrapi); returns the parsed body."""
    all_params = {"method": method, "format": "json", "nojsoncallback": "1", **params}
    response = signed(http, creds, "POST", f"{base}/services/rest/", all_params)
    assert response.status_code == 200, response.text
    return response.json()


def oauth_dance(
    http: httpx.Client,
    base: str,
    key: str,
    secret: str,
    perms: str = "write",
    username: str | None = None,
    callback: str = "oob",
) -> Credentials:
    """request_token → scripted approval → access_token, as a script would do it."""
    consumer = Credentials(key, secret)
    response = signed(
        http, consumer, "GET", f"{base}/services/oauth/request_token", {}, callback_uri=callback
    )
    assert response.status_code == 200, response.text
    request_token = dict(parse_qsl(response.text))
    form = {"oauth_token": request_token["oauth_token"], "perms": perms, "approve": "1"}
    if username is not None:
        form["username"] = username
    approval = http.post(
        f"{base}/services/oauth/authorize", data=form, headers={"X-Sandbox-Approve": "1"}
    )
    assert approval.status_code == 200, approval.text
    verifier = approval.json()["oauth_verifier"]
    pending = Credentials(
        key, secret, request_token["oauth_token"], request_token["oauth_token_secret"]
    )
    response = signed(
        http, pending, "POST", f"{base}/services/oauth/access_token", {}, verifier=verifier
    )
    assert response.status_code == 200, response.text
    access = dict(parse_qsl(response.text))
    return Credentials(
        key,
        secret,
        access["oauth_token"],
        access["oauth_token_secret"],
        access["user_nsid"],
        access["username"],
    )
