"""The ways the sandbox says no, each shaped like Flickr's own answer.

::

    SandboxError
    ├── ApiFailure      HTTP 200 ``stat: fail`` with a Flickr code (REST JSON/XML, upload XML)
    ├── OAuthProblem    HTTP 400/401 ``text/plain`` ``oauth_problem=...`` (problem reporting)
    └── BadRequest      HTTP 4xx plain text for requests no Flickr client would send

Handlers raise them; :mod:`flickrhub_core.sandbox.responses` renders them in the one
place that knows each endpoint's format.
"""

from __future__ import annotations

from urllib.parse import quote

PERM_NAMES = ("none", "read", "write", "delete")


class SandboxError(Exception):
    """Base of every refusal the sandbox renders."""


class ApiFailure(SandboxError):
    """A Flickr ``stat: fail`` with its numeric ``code`` and ``message``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class OAuthProblem(SandboxError):
    """An OAuth-level refusal: ``oauth_problem=<problem>`` plus optional extra fields.

    ``extra`` values are sent as they are (callers pass already-encoded text such as
    the ``debug_sbs`` base string, which Flickr echoes without re-encoding).
    """

    def __init__(
        self, status: int, problem: str, extra: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(problem)
        self.status = status
        self.problem = problem
        self.extra = extra or []

    def body(self) -> str:
        parts = [f"oauth_problem={quote(self.problem, safe='')}"]
        parts.extend(f"{name}={value}" for name, value in self.extra)
        return "&".join(parts)


class BadRequest(SandboxError):
    """A malformed request (unparseable body, oversized form): plain-text 4xx."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parameter_absent(*names: str) -> OAuthProblem:
    """400 for missing OAuth protocol parameters, as Flickr reports a missing ``oauth_token``."""
    return OAuthProblem(
        400, "parameter_absent", [("oauth_parameters_absent", quote("&".join(names), safe=""))]
    )


def invalid_key(reason: str = "Key not found") -> ApiFailure:
    return ApiFailure(100, f"Invalid API Key ({reason})")


def invalid_token() -> ApiFailure:
    return ApiFailure(98, "Invalid auth token")


def insufficient_perms(required: int, granted: int) -> ApiFailure:
    return ApiFailure(
        99,
        f"Insufficient permissions. Method requires {PERM_NAMES[required]} privileges; "
        f"{PERM_NAMES[granted]} granted.",
    )


def service_unavailable() -> ApiFailure:
    return ApiFailure(105, "Service currently unavailable")
