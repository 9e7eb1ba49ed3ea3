"""REST methods over the in-memory library: reads, paging, visibility and writes."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import httpx
from sandbox_helpers import Credentials, rest

from flickrhub_core.sandbox.testing import SandboxServer

JANKO = "78733179@N04"
PRIVATE_PHOTO = "10100785685"


def anon(http: httpx.Client, sandbox: SandboxServer, method: str, **params: str) -> Any:
    query = {
        "api_key": sandbox.consumer[0],
        "method": method,
        "format": "json",
        "nojsoncallback": "1",
        **params,
    }
    return http.get(sandbox.rest_url, params=query).json()


def test_search_is_seeded_from_the_recording(sandbox: SandboxServer, http: httpx.Client) -> None:
    recorded = json.loads(
        resources.files("flickrhub_core.sandbox")
        .joinpath("fixtures", "rest_flickr.photos.search.json")
        .read_text()
    )["photos"]["photo"]
    result = anon(http, sandbox, "flickr.photos.search", user_id=JANKO, extras="description,url_o")
    photos = {p["id"]: p for p in result["photos"]["photo"]}
    for row in recorded:
        ours = photos[row["id"]]
        for key in (
            "owner",
            "secret",
            "server",
            "farm",
            "title",
            "ispublic",
            "description",
            "width_o",
            "height_o",
        ):
            assert ours[key] == row[key], key


#: Every size extra the recording asked for; its photo 10115956703 (2560x1600) has them all.
ALL_SIZES = "url_sq,url_q,url_t,url_s,url_n,url_m,url_z,url_c,url_l,url_h,url_k,url_o"


def recorded_and_ours_dimensions(
    sandbox: SandboxServer, http: httpx.Client
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``width_*``/``height_*`` members of photo 10115956703: recorded, and ours."""
    recorded = json.loads(
        resources.files("flickrhub_core.sandbox")
        .joinpath("fixtures", "rest_flickr.photos.search.json")
        .read_text()
    )["photos"]["photo"]
    result = anon(http, sandbox, "flickr.photos.search", user_id=JANKO, extras=ALL_SIZES)
    ours = result["photos"]["photo"]

    def dimensions(photos: list[dict[str, Any]]) -> dict[str, Any]:
        (photo,) = [p for p in photos if p["id"] == "10115956703"]
        return {k: v for k, v in photo.items() if k.startswith(("width_", "height_"))}

    return dimensions(recorded), dimensions(ours)


def test_search_sizes_have_the_recorded_json_types(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    recorded, ours = recorded_and_ours_dimensions(sandbox, http)
    assert {k: type(v) for k, v in ours.items()} == {k: type(v) for k, v in recorded.items()}


def test_search_sizes_round_halves_up_like_flickr(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    recorded, ours = recorded_and_ours_dimensions(sandbox, http)
    assert (ours["height_t"], ours["height_m"]) == ("63", "313")  # 62.5 and 312.5
    assert {k: str(v) for k, v in ours.items()} == {k: str(v) for k, v in recorded.items()}


def test_search_pages_with_flickr_envelope(make_sandbox: Any, http: httpx.Client) -> None:
    sandbox = make_sandbox(generated_photos=7)
    first = anon(http, sandbox, "flickr.photos.search", user_id=JANKO, per_page="5")["photos"]
    assert (first["page"], first["pages"], first["perpage"], first["total"]) == (1, 3, 5, "11")
    last = anon(http, sandbox, "flickr.photos.search", user_id=JANKO, per_page="5", page="3")[
        "photos"
    ]
    assert len(last["photo"]) == 1
    ids = [
        p["id"]
        for page in (1, 2, 3)
        for p in anon(
            http, sandbox, "flickr.photos.search", user_id=JANKO, per_page="5", page=str(page)
        )["photos"]["photo"]
    ]
    assert len(set(ids)) == 11


def test_search_per_page_is_capped_at_500(sandbox: SandboxServer, http: httpx.Client) -> None:
    result = anon(http, sandbox, "flickr.photos.search", user_id=JANKO, per_page="9999")
    assert result["photos"]["perpage"] == 500


def test_search_default_order_is_newest_upload_first(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    photos = anon(http, sandbox, "flickr.photos.search", user_id=JANKO, extras="date_upload")[
        "photos"
    ]["photo"]
    uploads = [int(p["dateupload"]) for p in photos]
    assert uploads == sorted(uploads, reverse=True)


def test_private_photos_are_visible_only_to_their_owner(
    sandbox: SandboxServer, http: httpx.Client, reader: Credentials
) -> None:
    public = anon(http, sandbox, "flickr.photos.search", user_id=JANKO)["photos"]["photo"]
    assert PRIVATE_PHOTO not in [p["id"] for p in public]
    mine = rest(http, reader, sandbox.base_url, "flickr.photos.search", user_id="me")["photos"][
        "photo"
    ]
    assert PRIVATE_PHOTO in [p["id"] for p in mine]
    assert anon(http, sandbox, "flickr.photos.getInfo", photo_id=PRIVATE_PHOTO)["code"] == 1


def test_search_me_without_login_is_unknown_user(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    assert anon(http, sandbox, "flickr.photos.search", user_id="me")["code"] == 2


def test_search_by_tags_and_text(sandbox: SandboxServer, http: httpx.Client) -> None:
    by_tag = anon(http, sandbox, "flickr.photos.search", tags="test")["photos"]["photo"]
    assert [p["id"] for p in by_tag] == ["7986395865"]
    by_text = anon(http, sandbox, "flickr.photos.search", text="jon snow")["photos"]["photo"]
    assert [p["id"] for p in by_text] == ["10115956703"]
    excluded = anon(http, sandbox, "flickr.photos.search", user_id=JANKO, tags="-foo")["photos"][
        "photo"
    ]
    assert "8130464513" not in [p["id"] for p in excluded]


def test_people_get_info_matches_recorded_person(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    person = anon(http, sandbox, "flickr.people.getInfo", user_id=JANKO)["person"]
    assert person["username"] == {"_content": "@janko-m"}
    assert person["realname"] == {"_content": "Janko Marohnić"}
    assert person["location"] == {"_content": "Zagreb, Croatia"}
    assert person["photos"]["count"] == {"_content": 4}


def test_people_get_photos_pages_the_users_photostream(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    result = anon(http, sandbox, "flickr.people.getPhotos", user_id=JANKO, per_page="2")["photos"]
    assert (result["pages"], result["total"], len(result["photo"])) == (2, "4", 2)


def test_get_sizes_lists_derived_sizes_and_original(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    sizes = anon(http, sandbox, "flickr.photos.getSizes", photo_id="8130464513")["sizes"]["size"]
    labels = [s["label"] for s in sizes]
    assert labels[0] == "Square"
    assert labels[-1] == "Original"
    assert (sizes[-1]["width"], sizes[-1]["height"]) == (800, 600)
    assert "Large" not in labels  # 1024 px is bigger than the 800 px original


def test_set_meta_changes_title_and_description(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    answer = rest(
        http,
        writer,
        sandbox.base_url,
        "flickr.photos.setMeta",
        photo_id="8130464513",
        title="New",
        description="D",
    )
    assert answer == {"stat": "ok"}
    photo = anon(http, sandbox, "flickr.photos.getInfo", photo_id="8130464513")["photo"]
    assert (photo["title"], photo["description"]) == ({"_content": "New"}, {"_content": "D"})


def test_add_tags_normalises_and_makes_photo_findable(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    rest(
        http,
        writer,
        sandbox.base_url,
        "flickr.photos.addTags",
        photo_id="8130464513",
        tags='Sunset "Central Station"',
    )
    tags = anon(http, sandbox, "flickr.photos.getInfo", photo_id="8130464513")["photo"]["tags"][
        "tag"
    ]
    assert [(t["raw"], t["_content"]) for t in tags][-2:] == [
        ("Sunset", "sunset"),
        ("Central Station", "centralstation"),
    ]
    found = anon(http, sandbox, "flickr.photos.search", tags="centralstation")["photos"]["photo"]
    assert [p["id"] for p in found] == ["8130464513"]


def test_delete_needs_delete_permission(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    answer = rest(http, writer, sandbox.base_url, "flickr.photos.delete", photo_id="8130464513")
    assert answer["code"] == 99


def test_delete_removes_the_photo(
    sandbox: SandboxServer, http: httpx.Client, deleter: Credentials
) -> None:
    assert rest(http, deleter, sandbox.base_url, "flickr.photos.delete", photo_id="8130464513") == {
        "stat": "ok"
    }
    assert anon(http, sandbox, "flickr.photos.getInfo", photo_id="8130464513")["code"] == 1


def test_photoset_list_matches_recording(
    sandbox: SandboxServer, http: httpx.Client, reader: Credentials
) -> None:
    recorded = json.loads(
        resources.files("flickrhub_core.sandbox")
        .joinpath("fixtures", "rest_flickr.photosets.getList.json")
        .read_text()
    )
    assert (
        rest(http, reader, sandbox.base_url, "flickr.photosets.getList", user_id=JANKO) == recorded
    )


def test_photoset_create_add_and_list_photos(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    created = rest(
        http,
        writer,
        sandbox.base_url,
        "flickr.photosets.create",
        title="Trip",
        primary_photo_id="8130464513",
    )
    set_id = created["photoset"]["id"]
    assert created["photoset"]["url"] == f"https://www.flickr.com/photos/{JANKO}/sets/{set_id}/"
    assert rest(
        http,
        writer,
        sandbox.base_url,
        "flickr.photosets.addPhoto",
        photoset_id=set_id,
        photo_id="10115956703",
    ) == {"stat": "ok"}
    again = rest(
        http,
        writer,
        sandbox.base_url,
        "flickr.photosets.addPhoto",
        photoset_id=set_id,
        photo_id="10115956703",
    )
    assert again == {"stat": "fail", "code": 3, "message": "Photo already in set"}
    missing = rest(
        http,
        writer,
        sandbox.base_url,
        "flickr.photosets.addPhoto",
        photoset_id=set_id,
        photo_id="1",
    )
    assert missing["code"] == 2
    listed = anon(http, sandbox, "flickr.photosets.getPhotos", photoset_id=set_id)["photoset"]
    assert [(p["id"], p["isprimary"]) for p in listed["photo"]] == [
        ("8130464513", "1"),
        ("10115956703", "0"),
    ]
    sets = anon(http, sandbox, "flickr.photosets.getList", user_id=JANKO)["photosets"]["photoset"]
    assert sets[0]["id"] == set_id


def test_recorded_ticket_is_complete(sandbox: SandboxServer, http: httpx.Client) -> None:
    answer = anon(
        http, sandbox, "flickr.photos.upload.checkTickets", tickets="78701040-72157636215045495,1"
    )
    assert answer["uploader"]["ticket"] == [
        {
            "id": "78701040-72157636215045495",
            "complete": 1,
            "photoid": PRIVATE_PHOTO,
            "imported": None,
        },
        {"id": "1", "invalid": 1},
    ]


def test_upload_status_reports_the_configured_limit(
    sandbox: SandboxServer, http: httpx.Client, reader: Credentials
) -> None:
    user = rest(http, reader, sandbox.base_url, "flickr.people.getUploadStatus")["user"]
    assert user["filesize"]["maxbytes"] == 200 * 1024 * 1024
    assert user["filesize"]["maxmb"] == 200


def test_reset_restores_the_seeded_library(
    sandbox: SandboxServer, http: httpx.Client, deleter: Credentials
) -> None:
    rest(http, deleter, sandbox.base_url, "flickr.photos.delete", photo_id="8130464513")
    assert http.post(f"{sandbox.base_url}/sandbox/reset").json() == {"reset": True}
    assert anon(http, sandbox, "flickr.photos.getInfo", photo_id="8130464513")["stat"] == "ok"
    assert rest(http, deleter, sandbox.base_url, "flickr.test.login")["stat"] == "ok"
