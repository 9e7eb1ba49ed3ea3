"""What a job target is: the contract the ``rest``, ``upload`` and ``replace``
plugins (and third parties) implement, and the context a target runs in."""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from flickrhub_core.errors import InvalidRequest, JobCancelled
from flickrhub_core.jobs import Job

if TYPE_CHECKING:
    import structlog

    from flickrhub_core.settings import Settings
    from flickrhub_core.stores import BlobStore
    from flickrhub_core.worker.session import UserFlickr

TARGET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_PARAMS = 100
MAX_PARAM_KEY = 100
MAX_PARAM_VALUE = 10_000


@dataclass
class TargetContext:
    """Everything ``Target.execute`` may use; built by the worker host per attempt."""

    job: Job
    #: Flickr bound to the job's user and paced by the shared rate limiter.
    flickr: UserFlickr
    blobs: BlobStore
    settings: Settings
    #: The worker's logger: lines logged while the job runs carry its ids
    #: (:func:`flickrhub_core.logs.bound_job`).
    log: structlog.stdlib.BoundLogger
    #: Report progress of long work (e.g. ``{"bytes_sent": n, "bytes_total": m}``).
    report_progress: Callable[[dict[str, Any]], Awaitable[None]]
    #: Set when the job's owner asks to cancel it while it runs (see
    #: :mod:`flickrhub_core.cancel`); long targets check :attr:`cancelled` between steps.
    cancel_event: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def cancelled(self) -> bool:
        """Whether the job's owner asked to cancel it: stop at the next safe point."""
        return self.cancel_event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`~flickrhub_core.errors.JobCancelled` if :attr:`cancelled`."""
        if self.cancel_event.is_set():
            raise JobCancelled()


class Target(ABC):
    """One kind of job. Subclass it and register an instance from a plugin's
    ``register_targets`` hook.

    ``idempotent`` decides what a retry may do: a non-idempotent target's request
    is never sent twice when its first outcome is unknown.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    idempotent: ClassVar[bool] = True
    #: Whether a request must name a Flickr ``method``.
    requires_method: ClassVar[bool] = False
    #: Whether jobs carry a photo (multipart routes ``/upload`` and ``/replace``).
    takes_photo: ClassVar[bool] = False

    @property
    def queue(self) -> str:
        return f"flickr_{self.name}"

    def validate(self, method: str | None, params: Mapping[str, Any]) -> dict[str, str]:
        """Check a request's method and params; return the params as Flickr text.

        Raise :class:`InvalidRequest` with field details for anything wrong.
        The default accepts Flickr's flat arguments (strings, numbers, booleans).
        """
        if self.requires_method and not method:
            raise InvalidRequest(
                "Invalid request", details=[{"field": "method", "message": "method is required"}]
            )
        return flat_params(params)

    def is_idempotent(self, job: Job) -> bool:
        """Whether sending this job's request twice is harmless (defaults to ``idempotent``)."""
        return self.idempotent

    def cache_ttl(self, job: Job, settings: Settings) -> float | None:
        """Seconds a successful result may be cached, or None to never cache it."""
        return None

    def is_write(self, job: Job) -> bool:
        """Whether a success changes the user's data (invalidates their cached reads)."""
        return True

    @abstractmethod
    async def execute(self, ctx: TargetContext) -> Any:
        """Run one attempt; return a JSON-serialisable result or raise a JobError."""


def param_text(value: Any) -> str | None:
    """One Flickr argument as the text sent, or None if it cannot be one.

    What the earlier system's JavaScript sent (``String(value)``), except booleans:

    * strings as they are; integers, and floats that are whole numbers, as integers
      (``2.0`` is ``"2"``, as in JavaScript, where Python would say ``"2.0"``);
    * booleans as ``"1"``/``"0"``: Flickr's boolean arguments (``is_public``,
      ``nojsoncallback``, ...) are 0/1 and do not read ``true``/``false``;
    * an array of those joined with commas (``["url_m", "owner_name"]`` is
      ``"url_m,owner_name"``), the form of Flickr's list arguments such as ``extras``.

    Objects, nested arrays and nulls have no such text: None.
    """
    if isinstance(value, list):
        items = [_scalar_text(item) for item in value]
        return None if None in items else ",".join(str(item) for item in items)
    return _scalar_text(value)


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))  # from 1e21 on, JavaScript writes exponents too
    if isinstance(value, int | float | str):
        return str(value)
    return None


def flat_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Flickr's arguments are flat text (:func:`param_text`): strings, numbers,
    booleans and arrays of those.

    Objects, nested arrays and nulls are refused, with one detail per bad field.
    """
    if len(params) > MAX_PARAMS:
        raise InvalidRequest(
            "Invalid request",
            details=[{"field": "params", "message": f"at most {MAX_PARAMS} params"}],
        )
    out: dict[str, str] = {}
    problems: list[dict[str, str]] = []
    for key, value in params.items():
        field = f"params.{key}"
        if not isinstance(key, str) or not key or len(key) > MAX_PARAM_KEY:
            problems.append({"field": field, "message": "param names must be 1-100 characters"})
            continue
        text = param_text(value)
        if text is None:
            problems.append(
                {
                    "field": field,
                    "message": "must be a string, number or boolean, or an array of those",
                }
            )
            continue
        if len(text) > MAX_PARAM_VALUE:
            problems.append({"field": field, "message": f"at most {MAX_PARAM_VALUE} characters"})
            continue
        out[key] = text
    if problems:
        raise InvalidRequest("Invalid request", details=problems)
    return out


def check_choices(
    flat: Mapping[str, str], allowed: Mapping[str, frozenset[str] | None]
) -> dict[str, str]:
    """Refuse unknown arguments and out-of-range values, one detail per field."""
    problems = []
    for key, value in flat.items():
        if key not in allowed:
            problems.append({"field": key, "message": "not a Flickr argument of this target"})
        elif (choices := allowed[key]) is not None and value not in choices:
            problems.append(
                {"field": key, "message": f"must be one of {', '.join(sorted(choices))}"}
            )
    if problems:
        raise InvalidRequest("Invalid request", details=problems)
    return dict(flat)
