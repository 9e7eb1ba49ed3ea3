"""Which Flickr REST methods write, which may be repeated, and which may be cached.

The write list is Flickr's own: every method whose reflection ``requiredperms`` is
write (2) or delete (3), 66 in all (flickr-api.md §2.2). Flickr requires POST for
them, and a proxy must never serve them from a cache. A few methods change state
despite read permissions (``flickr.push.*``, the legacy and OAuth ``flickr.auth.*``
token exchanges); they are treated as writes too.

Names are compared case-insensitively: a caller's odd spelling must not turn a
write into a cacheable GET.
"""

from __future__ import annotations

__all__ = [
    "IDEMPOTENT_WRITE_METHODS",
    "NEVER_CACHED_METHODS",
    "NEVER_CACHED_PREFIXES",
    "SIDE_EFFECT_METHODS",
    "WRITE_METHODS",
    "is_cacheable",
    "is_idempotent",
    "is_write",
]

#: requiredperms write/delete (66 methods): POST, never cached.
WRITE_METHODS: frozenset[str] = frozenset(
    {
        "flickr.blogs.postPhoto",
        "flickr.favorites.add",
        "flickr.favorites.remove",
        "flickr.galleries.addPhoto",
        "flickr.galleries.create",
        "flickr.galleries.editMeta",
        "flickr.galleries.editPhoto",
        "flickr.galleries.editPhotos",
        "flickr.galleries.removePhoto",
        "flickr.groups.discuss.replies.add",
        "flickr.groups.discuss.replies.delete",
        "flickr.groups.discuss.replies.edit",
        "flickr.groups.discuss.topics.add",
        "flickr.groups.join",
        "flickr.groups.joinRequest",
        "flickr.groups.leave",
        "flickr.groups.pools.add",
        "flickr.groups.pools.remove",
        "flickr.photos.addTags",
        "flickr.photos.comments.addComment",
        "flickr.photos.comments.deleteComment",
        "flickr.photos.comments.editComment",
        "flickr.photos.delete",
        "flickr.photos.geo.batchCorrectLocation",
        "flickr.photos.geo.correctLocation",
        "flickr.photos.geo.removeLocation",
        "flickr.photos.geo.setContext",
        "flickr.photos.geo.setLocation",
        "flickr.photos.geo.setPerms",
        "flickr.photos.licenses.setLicense",
        "flickr.photos.notes.add",
        "flickr.photos.notes.delete",
        "flickr.photos.notes.edit",
        "flickr.photos.people.add",
        "flickr.photos.people.delete",
        "flickr.photos.people.deleteCoords",
        "flickr.photos.people.editCoords",
        "flickr.photos.removeTag",
        "flickr.photos.setContentType",
        "flickr.photos.setDates",
        "flickr.photos.setMeta",
        "flickr.photos.setPerms",
        "flickr.photos.setSafetyLevel",
        "flickr.photos.setTags",
        "flickr.photos.suggestions.approveSuggestion",
        "flickr.photos.suggestions.rejectSuggestion",
        "flickr.photos.suggestions.removeSuggestion",
        "flickr.photos.suggestions.suggestLocation",
        "flickr.photos.transform.rotate",
        "flickr.photosets.addPhoto",
        "flickr.photosets.comments.addComment",
        "flickr.photosets.comments.deleteComment",
        "flickr.photosets.comments.editComment",
        "flickr.photosets.create",
        "flickr.photosets.delete",
        "flickr.photosets.editMeta",
        "flickr.photosets.editPhotos",
        "flickr.photosets.orderSets",
        "flickr.photosets.removePhoto",
        "flickr.photosets.removePhotos",
        "flickr.photosets.reorderPhotos",
        "flickr.photosets.setPrimaryPhoto",
        "flickr.testimonials.addTestimonial",
        "flickr.testimonials.approveTestimonial",
        "flickr.testimonials.deleteTestimonial",
        "flickr.testimonials.editTestimonial",
    }
)

#: Read permission only, but calling them changes state (subscriptions, tokens).
SIDE_EFFECT_METHODS: frozenset[str] = frozenset(
    {
        "flickr.push.subscribe",
        "flickr.push.unsubscribe",
        "flickr.auth.oauth.getAccessToken",
        "flickr.auth.getFrob",
        "flickr.auth.getToken",
        "flickr.auth.getFullToken",
    }
)

#: Writes that set state to the given values: sending one twice ends in the same
#: state, so a "write operation failed" (106) may be retried. Anything that adds,
#: creates, deletes, rotates or toggles is left out on purpose.
IDEMPOTENT_WRITE_METHODS: frozenset[str] = frozenset(
    {
        "flickr.galleries.editMeta",
        "flickr.galleries.editPhoto",
        "flickr.galleries.editPhotos",
        "flickr.groups.discuss.replies.edit",
        "flickr.photos.comments.editComment",
        "flickr.photos.geo.batchCorrectLocation",
        "flickr.photos.geo.correctLocation",
        "flickr.photos.geo.setContext",
        "flickr.photos.geo.setLocation",
        "flickr.photos.geo.setPerms",
        "flickr.photos.licenses.setLicense",
        "flickr.photos.notes.edit",
        "flickr.photos.people.editCoords",
        "flickr.photos.setContentType",
        "flickr.photos.setDates",
        "flickr.photos.setMeta",
        "flickr.photos.setPerms",
        "flickr.photos.setSafetyLevel",
        "flickr.photos.setTags",
        "flickr.photosets.comments.editComment",
        "flickr.photosets.editMeta",
        "flickr.photosets.editPhotos",
        "flickr.photosets.orderSets",
        "flickr.photosets.reorderPhotos",
        "flickr.photosets.setPrimaryPhoto",
        "flickr.testimonials.editTestimonial",
    }
)

#: Reads whose answer is about "now" (tickets, quotas) or about the caller's auth.
NEVER_CACHED_METHODS: frozenset[str] = frozenset(
    {"flickr.photos.upload.checkTickets", "flickr.people.getUploadStatus"}
)
#: Whole families never cached (echo/login tests, auth token checks).
NEVER_CACHED_PREFIXES: tuple[str, ...] = ("flickr.test.", "flickr.auth.")

_WRITES_LOWER = frozenset(m.lower() for m in WRITE_METHODS | SIDE_EFFECT_METHODS)
_IDEMPOTENT_LOWER = frozenset(m.lower() for m in IDEMPOTENT_WRITE_METHODS)
_NEVER_CACHED_LOWER = frozenset(m.lower() for m in NEVER_CACHED_METHODS)


def is_write(method: str) -> bool:
    """True if the call changes state at Flickr: send it as POST, never cache it."""
    return method.strip().lower() in _WRITES_LOWER


def is_idempotent(method: str) -> bool:
    """True if sending the call twice has the effect of sending it once.

    Reads are idempotent; of the writes, only the "set to this value" ones.
    Upload and replace (not REST methods) are not.
    """
    name = method.strip().lower()
    return name not in _WRITES_LOWER or name in _IDEMPOTENT_LOWER


def is_cacheable(method: str) -> bool:
    """True if a successful answer may be served from the cache (per user)."""
    name = method.strip().lower()
    if name in _WRITES_LOWER or name in _NEVER_CACHED_LOWER:
        return False
    return not name.startswith(NEVER_CACHED_PREFIXES)
