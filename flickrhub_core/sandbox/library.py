"""The sandbox's in-memory Flickr: users, photos, photosets and upload tickets.

Seeded from the real recordings shipped in ``fixtures/``: user ``78733179@N04``
(``@janko-m``), the two photos of ``photos.search``, photo ``7986395865`` of
``photos.getInfo``, the photoset of ``photosets.getList`` with its primary photo
``10100895983``, and the private photo ``10100785685`` that the recorded upload
ticket produced. ``SandboxConfig.generated_photos`` adds more public photos for
paging. Ids and secrets of new objects come from a seeded RNG, so a given seed
replays the same ids.

Visibility follows Flickr without contacts: a photo is visible to everyone when it
is public and otherwise only to its owner.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

DEFAULT_NSID = "78733179@N04"


@dataclass
class User:
    nsid: str
    username: str
    realname: str
    internal_id: str
    location: str = ""
    description: str = ""
    iconserver: str = "0"
    iconfarm: int = 0
    mbox_sha1sum: str = ""
    timezone: dict[str, str] = field(
        default_factory=lambda: {"label": "Coordinated Universal Time", "offset": "+00:00"}
    )


@dataclass
class Tag:
    id: str
    raw: str
    clean: str
    author: str
    machine: bool


@dataclass
class Photo:
    id: str
    owner: str
    secret: str
    originalsecret: str
    server: str
    farm: int
    title: str
    description: str = ""
    ispublic: int = 1
    isfriend: int = 0
    isfamily: int = 0
    license: str = "0"
    safety_level: int = 1
    content_type: int = 1
    hidden: int = 1
    dateupload: int = 0
    datetaken: str = ""
    lastupdate: int = 0
    tags: list[Tag] = field(default_factory=list)
    views: int = 0
    originalformat: str = "jpg"
    width: int = 1024
    height: int = 768
    geo: dict[str, Any] | None = None
    extra_info: dict[str, Any] = field(default_factory=dict)
    size_bytes: int = 0
    sha256: str = ""


@dataclass
class Photoset:
    id: str
    owner: str
    primary: str
    title: str
    description: str
    photos: list[str]
    date_create: int
    date_update: int = 0


@dataclass
class Ticket:
    """An async upload/replace: it completes (``complete=1``) once ``ready_at`` has passed."""

    id: str
    owner: str
    ready_at: float
    photo: Photo | None = None
    replace_id: str | None = None
    new_secrets: tuple[str, str] | None = None
    complete: int = 0
    photo_id: str | None = None
    imported: int | None = None


_TAG_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_MACHINE_TAG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:[A-Za-z_][A-Za-z0-9_]*=.+$")


def split_tags(text: str) -> list[str]:
    """Split a Flickr tag string: spaces separate tags, double quotes group multi-word tags."""
    return [quoted or bare for quoted, bare in _TAG_TOKEN.findall(text) if (quoted or bare).strip()]


def clean_tag(raw: str) -> str:
    """Flickr's normalised tag: lower case, no spaces or punctuation (machine tags keep ``:=``)."""
    if _MACHINE_TAG.match(raw):
        namespace_predicate, _, value = raw.partition("=")
        return namespace_predicate.lower() + "=" + value.lower().replace('"', "")
    return "".join(ch for ch in raw.lower() if ch.isalnum())


def is_machine_tag(raw: str) -> bool:
    return bool(_MACHINE_TAG.match(raw))


def nsid_for_username(username: str) -> str:
    """A made-up but stable NSID: the same username always gets the same account."""
    number = int(hashlib.sha256(username.encode("utf-8")).hexdigest(), 16) % 90_000_000
    return f"{number + 10_000_000}@N01"


def _fixture(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath("fixtures", name).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


class Library:
    """All photo data of one sandbox; :meth:`reset` puts it back to the seed."""

    def __init__(self, seed: int | None = None, generated_photos: int = 0) -> None:
        self._seed = seed
        self._generated = generated_photos
        self.users: dict[str, User] = {}
        self.photos: dict[str, Photo] = {}
        self.photosets: dict[str, Photoset] = {}
        self.tickets: dict[str, Ticket] = {}
        self.rng = random.Random(seed)
        self._next_photo = 0
        self._next_tag = 0
        self.reset()

    # -- ids -------------------------------------------------------------------------
    def hex(self, digits: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(digits))

    def new_photo_id(self) -> str:
        self._next_photo += self.rng.randint(1, 997)
        return str(self._next_photo)

    def new_tag_id(self, owner: User, photo_id: str) -> str:
        self._next_tag += 1
        return f"{owner.internal_id}-{photo_id}-{self._next_tag}"

    def new_long_id(self) -> str:
        """A 17-digit id like Flickr's photoset and ticket ids (``72157...``)."""
        return "72157" + "".join(self.rng.choice("0123456789") for _ in range(12))

    # -- users -----------------------------------------------------------------------
    def user_by_name(self, username: str) -> User | None:
        return next((u for u in self.users.values() if u.username == username), None)

    def ensure_user(self, username: str) -> User:
        """The user called ``username``, created with a stable made-up NSID if new."""
        existing = self.user_by_name(username)
        if existing is not None:
            return existing
        nsid = nsid_for_username(username)
        user = User(nsid=nsid, username=username, realname=username, internal_id=nsid.split("@")[0])
        self.users[nsid] = user
        return user

    # -- photos ----------------------------------------------------------------------
    @staticmethod
    def can_see(photo: Photo, viewer: str | None) -> bool:
        return bool(photo.ispublic) or photo.owner == viewer

    def visible_photo(self, photo_id: str, viewer: str | None) -> Photo | None:
        photo = self.photos.get(photo_id)
        return photo if photo is not None and self.can_see(photo, viewer) else None

    def owned_photo(self, photo_id: str, owner: str) -> Photo | None:
        photo = self.photos.get(photo_id)
        return photo if photo is not None and photo.owner == owner else None

    def make_tags(self, owner: User, photo_id: str, raws: list[str]) -> list[Tag]:
        return [
            Tag(
                self.new_tag_id(owner, photo_id),
                raw,
                clean_tag(raw),
                owner.nsid,
                is_machine_tag(raw),
            )
            for raw in raws
            if clean_tag(raw)
        ]

    def add_photo(self, photo: Photo) -> Photo:
        self.photos[photo.id] = photo
        return photo

    def delete_photo(self, photo: Photo) -> None:
        del self.photos[photo.id]
        for photoset in list(self.photosets.values()):
            if photo.id in photoset.photos:
                photoset.photos.remove(photo.id)
                if not photoset.photos:
                    del self.photosets[photoset.id]  # Flickr drops emptied sets
                elif photoset.primary == photo.id:
                    photoset.primary = photoset.photos[0]

    # -- tickets ---------------------------------------------------------------------
    def new_ticket(self, owner: User, ready_at: float) -> Ticket:
        ticket = Ticket(
            id=f"{owner.internal_id}-{self.new_long_id()}", owner=owner.nsid, ready_at=ready_at
        )
        self.tickets[ticket.id] = ticket
        return ticket

    def complete_due_tickets(self, now: float) -> None:
        """Finish async uploads whose processing time has passed (lazily, on each request)."""
        for ticket in self.tickets.values():
            if ticket.complete or ticket.ready_at > now:
                continue
            if ticket.photo is not None:
                self.add_photo(ticket.photo)
                ticket.photo_id, ticket.complete = ticket.photo.id, 1
            elif ticket.replace_id is not None and ticket.new_secrets is not None:
                target = self.photos.get(ticket.replace_id)
                if target is None:
                    ticket.complete = 2  # the photo went away while "converting"
                    continue
                target.secret, target.originalsecret = ticket.new_secrets
                target.lastupdate = int(now)
                ticket.photo_id, ticket.complete = target.id, 1
            ticket.imported = int(now)

    # -- seed ------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the recorded seed (made-up users survive: access tokens point at them)."""
        self.rng = random.Random(self._seed)
        self.photos.clear()
        self.photosets.clear()
        self.tickets.clear()
        self._next_tag = 1000
        self._seed_from_fixtures()
        self._next_photo = max(int(pid) for pid in self.photos)
        self._generate(self._generated)

    def _seed_from_fixtures(self) -> None:
        person = _fixture("rest_flickr.people.getInfo.json")["person"]
        user = User(
            nsid=person["nsid"],
            username=person["username"]["_content"],
            realname=person["realname"]["_content"],
            internal_id="78701040",  # the numeric id in the recorded tag ids and mobile URL
            location=person["location"]["_content"],
            description=person["description"]["_content"],
            iconserver=person["iconserver"],
            iconfarm=person["iconfarm"],
            mbox_sha1sum=person["mbox_sha1sum"]["_content"],
            timezone=person["timezone"],
        )
        self.users.setdefault(user.nsid, user)
        user = self.users[user.nsid]
        for row in _fixture("rest_flickr.photos.search.json")["photos"]["photo"]:
            self.add_photo(self._photo_from_search(row, user))
        self.add_photo(self._photo_from_info(_fixture("rest_flickr.photos.getInfo.json")["photo"]))
        primary = self.add_photo(
            Photo(
                id="10100895983",
                owner=user.nsid,
                secret="617545ac10",  # noqa: S106 - photo secrets are public URL parts
                originalsecret="f2c1d0a9b8",
                server="7392",
                farm=8,
                title="Set",
                dateupload=1380985770,
                datetaken="2013-10-05 16:49:30",
                lastupdate=1380985779,
                width=800,
                height=600,
            )
        )
        recorded_set = _fixture("rest_flickr.photosets.getList.json")["photosets"]["photoset"][0]
        self.photosets[recorded_set["id"]] = Photoset(
            id=recorded_set["id"],
            owner=user.nsid,
            primary=primary.id,
            title=recorded_set["title"]["_content"],
            description=recorded_set["description"]["_content"],
            photos=[primary.id],
            date_create=int(recorded_set["date_create"]),
            date_update=int(recorded_set["date_update"]),
        )
        recorded_ticket = _fixture("rest_flickr.photos.upload.checkTickets.json")["uploader"][
            "ticket"
        ][0]
        private = self.add_photo(
            Photo(
                id=recorded_ticket["photoid"],
                owner=user.nsid,
                secret="4b1d8e7a2c",  # noqa: S106 - photo secrets are public URL parts
                originalsecret="9e3f5a7c1b",
                server="3694",
                farm=4,
                title="Private upload",
                ispublic=0,
                dateupload=1380985000,
                datetaken="2013-10-05 16:56:40",
                lastupdate=1380985000,
                width=1200,
                height=800,
            )
        )
        self.tickets[recorded_ticket["id"]] = Ticket(
            id=recorded_ticket["id"], owner=user.nsid, ready_at=0, complete=1, photo_id=private.id
        )

    def _photo_from_search(self, row: dict[str, Any], owner: User) -> Photo:
        upload = int(row["dateupload"]) if len(row["dateupload"]) > 4 else 1351420323
        photo = Photo(
            id=row["id"],
            owner=row["owner"],
            secret=row["secret"],
            originalsecret=row["originalsecret"],
            server=row["server"],
            farm=row["farm"],
            title=row["title"],
            description=row["description"]["_content"],
            ispublic=row["ispublic"],
            isfriend=row["isfriend"],
            isfamily=row["isfamily"],
            license=row["license"],
            dateupload=upload,
            datetaken=row["datetaken"],
            lastupdate=int(row["lastupdate"]),
            views=int(row["views"]),
            originalformat=row["originalformat"],
            width=int(row["width_o"]),
            height=int(row["height_o"]),
            geo={
                key: row[key]
                for key in ("latitude", "longitude", "accuracy", "context", "place_id", "woeid")
            },
        )
        photo.tags = self.make_tags(owner, photo.id, row["tags"].split())
        return photo

    def _photo_from_info(self, info: dict[str, Any]) -> Photo:
        owner = self.users[info["owner"]["nsid"]]
        location = info["location"]
        photo = Photo(
            id=info["id"],
            owner=owner.nsid,
            secret=info["secret"],
            originalsecret="c0ffee1234",
            server=info["server"],
            farm=info["farm"],
            title=info["title"]["_content"],
            description=info["description"]["_content"],
            ispublic=info["visibility"]["ispublic"],
            isfriend=info["visibility"]["isfriend"],
            isfamily=info["visibility"]["isfamily"],
            license=info["license"],
            dateupload=int(info["dateuploaded"]),
            datetaken=info["dates"]["taken"],
            lastupdate=int(info["dates"]["lastupdate"]),
            views=int(info["views"]),
            width=1600,
            height=1000,
            geo={
                "latitude": location["latitude"],
                "longitude": location["longitude"],
                "accuracy": location["accuracy"],
                "context": int(location["context"]),
                "place_id": location["place_id"],
                "woeid": location["woeid"],
            },
            extra_info={
                key: info[key] for key in ("comments", "notes", "people", "location", "geoperms")
            },
        )
        photo.tags = [
            Tag(tag["id"], tag["raw"], tag["_content"], tag["author"], bool(tag["machine_tag"]))
            for tag in info["tags"]["tag"]
        ]
        return photo

    def _generate(self, count: int) -> None:
        owner = self.users[DEFAULT_NSID]
        for index in range(count):
            photo_id = self.new_photo_id()
            uploaded = 1380000000 - index * 3600
            photo = Photo(
                id=photo_id,
                owner=owner.nsid,
                secret=self.hex(10),
                originalsecret=self.hex(10),
                server=str(self.rng.randint(1000, 9999)),
                farm=self.rng.randint(1, 9),
                title=f"Generated photo {index + 1}",
                dateupload=uploaded,
                datetaken="2013-09-01 12:00:00",
                lastupdate=uploaded,
            )
            photo.tags = self.make_tags(owner, photo_id, ["generated"])
            self.add_photo(photo)
