"""An unmodified ``flickrapi`` 2.4 client (requests + requests-oauthlib) against the sandbox.

Only its endpoint URLs change (they are plain attributes); everything else, signing
included, is the library's own code.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import flickrapi
import pytest
import requests
from sandbox_helpers import PNG_1X1

from flickrhub_core.sandbox.testing import SandboxServer


def client_for(sandbox: SandboxServer, fmt: str = "etree") -> flickrapi.FlickrAPI:
    key, secret = sandbox.consumer
    flickr = flickrapi.FlickrAPI(key, secret, format=fmt, store_token=False)
    flickr.REST_URL = sandbox.rest_url
    flickr.UPLOAD_URL = sandbox.upload_url
    flickr.REPLACE_URL = sandbox.replace_url
    flickr.flickr_oauth.REQUEST_TOKEN_URL = f"{sandbox.oauth_url}/request_token"
    flickr.flickr_oauth.AUTHORIZE_URL = f"{sandbox.oauth_url}/authorize"
    flickr.flickr_oauth.ACCESS_TOKEN_URL = f"{sandbox.oauth_url}/access_token"
    return flickr


def authenticated(
    sandbox: SandboxServer, perms: str = "delete", fmt: str = "etree"
) -> flickrapi.FlickrAPI:
    flickr = client_for(sandbox, fmt)
    flickr.get_request_token(oauth_callback="oob")
    url = flickr.auth_url(perms=perms)
    assert url.startswith(f"{sandbox.oauth_url}/authorize?oauth_token=")
    token = parse_qs(urlsplit(url).query)["oauth_token"][0]
    approval = requests.post(
        f"{sandbox.oauth_url}/authorize",
        data={"oauth_token": token, "perms": perms, "approve": "1"},
        headers={"X-Sandbox-Approve": "1"},
        timeout=10,
    )
    flickr.get_access_token(approval.json()["oauth_verifier"])
    return flickr


def test_oauth_flow_and_login(sandbox: SandboxServer) -> None:
    flickr = authenticated(sandbox)
    user = flickr.test.login().find("user")
    assert user.get("id") == "78733179@N04"
    assert user.findtext("username") == "@janko-m"
    assert flickr.token_cache.token.user_nsid == "78733179@N04"


def test_token_valid_fails_as_on_flickr(sandbox: SandboxServer) -> None:
    # token_valid() calls checkToken without its oauth_token argument, which Flickr
    # answers with 98 (sybrenstuvel/flickrapi#123).
    flickr = authenticated(sandbox, perms="write")
    assert not flickr.token_valid(perms="write")


def test_check_token_with_its_oauth_token_argument(sandbox: SandboxServer) -> None:
    flickr = authenticated(sandbox, perms="write")
    token = flickr.token_cache.token.token
    answer = flickr.auth.oauth.checkToken(oauth_token=token)
    assert answer.findtext("oauth/token") == token
    assert answer.findtext("oauth/perms") == "write"


def test_search_pages(sandbox: SandboxServer) -> None:
    # flickrapi.walk() needs lxml (it calls Element.getchildren()), so page by hand.
    flickr = authenticated(sandbox)
    photos = flickr.photos.search(user_id="me", per_page=2).find("photos")
    assert (photos.get("page"), photos.get("pages"), photos.get("total")) == ("1", "3", "5")
    walked = [
        photo.get("id")
        for page in (1, 2, 3)
        for photo in flickr.photos.search(user_id="me", per_page=2, page=page).iter("photo")
    ]
    assert len(set(walked)) == 5
    assert "10100785685" in walked  # the private photo, visible to its owner


def test_parsed_json_calls_and_errors(sandbox: SandboxServer) -> None:
    flickr = authenticated(sandbox, fmt="parsed-json")
    info = flickr.photos.getInfo(photo_id="7986395865")
    assert info["photo"]["title"]["_content"] == "Game of Thrones"
    with pytest.raises(flickrapi.FlickrError) as raised:
        flickr.photos.getInfo(photo_id="1")
    assert raised.value.code == 1


def test_write_calls(sandbox: SandboxServer) -> None:
    flickr = authenticated(sandbox)
    flickr.photos.setMeta(photo_id="8130464513", title="Renamed")
    assert flickr.photos.getInfo(photo_id="8130464513").find("photo").findtext("title") == "Renamed"
    created = flickr.photosets.create(title="Album", primary_photo_id="8130464513").find("photoset")
    flickr.photosets.addPhoto(photoset_id=created.get("id"), photo_id="7986395865")
    listed = flickr.photosets.getPhotos(photoset_id=created.get("id")).find("photoset")
    assert [p.get("id") for p in listed.findall("photo")] == ["8130464513", "7986395865"]


def test_upload_and_replace(sandbox: SandboxServer, tmp_path: Path) -> None:
    flickr = authenticated(sandbox)
    image = tmp_path / "holiday.png"
    image.write_bytes(PNG_1X1)
    # Pass the open file: flickrapi leaves files it opens itself unclosed.
    with image.open("rb") as fileobj:
        uploaded = flickr.upload(
            filename=str(image), fileobj=fileobj, tags='beach "blue sky"', is_public="0"
        )
    photo_id = uploaded.findtext("photoid")
    info = flickr.photos.getInfo(photo_id=photo_id).find("photo")
    assert info.findtext("title") == "holiday.png"  # flickrapi sends the file name as title
    assert [t.text for t in info.iter("tag")] == ["beach", "bluesky"]
    assert info.find("visibility").get("ispublic") == "0"

    with image.open("rb") as fileobj:
        replaced = flickr.replace(filename=str(image), photo_id=photo_id, fileobj=fileobj)
    replaced = replaced.find("photoid")
    assert replaced.text == photo_id
    assert flickr.photos.getInfo(photo_id=photo_id).find("photo").get("secret") == replaced.get(
        "secret"
    )


def test_async_upload_ticket(sandbox: SandboxServer, tmp_path: Path) -> None:
    import time

    flickr = authenticated(sandbox)
    image = tmp_path / "later.png"
    image.write_bytes(PNG_1X1)
    with image.open("rb") as fileobj:
        ticket = flickr.upload(filename=str(image), fileobj=fileobj, **{"async": "1"})
    ticket = ticket.findtext("ticketid")
    time.sleep(0.4)
    state = flickr.photos.upload.checkTickets(tickets=ticket).find("uploader").find("ticket")
    assert state.get("complete") == "1"
    assert state.get("photoid")


def test_unauthorized_write_raises_flickr_error(sandbox: SandboxServer) -> None:
    flickr = authenticated(sandbox, perms="read")
    with pytest.raises(flickrapi.FlickrError) as raised:
        flickr.photos.delete(photo_id="8130464513")
    assert raised.value.code == 99
