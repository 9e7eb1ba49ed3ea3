"""Reading JSON request bodies into the request models.

quart-schema's ``validate_request`` insists on a JSON content type and a body;
the earlier system's routes also took an empty body (every field optional on
``/auth/start``) and a missing content type. This decorator keeps those
working, answers 415 for other content types, and raises quart-schema's own
``RequestSchemaValidationError`` so one mapper renders all validation errors.
It also documents the model for OpenAPI, exactly as ``validate_request`` does.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from quart import request
from quart_schema import RequestSchemaValidationError, document_request

from flickrhub_api.context import get_runtime
from flickrhub_api.errors import UnsupportedMediaType
from flickrhub_api.models import METHODLESS_TARGETS
from flickrhub_core.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


#: Arrays and objects nested deeper than this are refused: nothing FlickrHub takes
#: needs more, and deeper input only costs stack (the parser's, pydantic's, the store's).
MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: Made once: ``json.loads`` with any keyword argument builds a new decoder per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _loads(raw: str | bytes) -> Any:
    """``json.loads(raw, parse_constant=_refuse_constant)``, decoding bytes as it does."""
    if isinstance(raw, str):
        return json.loads(raw, parse_constant=_refuse_constant)
    return _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))


def _unsafe(value: Any) -> str | None:
    """Why ``value`` (parsed JSON) is refused, or None. Iterative: depth is bounded here."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
            children: Iterable[Any] = item
            if isinstance(item, dict):
                for key in item:
                    if _SURROGATE.search(key):
                        return "strings must be valid Unicode (a lone surrogate escape)"
                children = item.values()
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            if _SURROGATE.search(item):
                return "strings must be valid Unicode (a lone surrogate escape)"
        elif isinstance(item, float) and not math.isfinite(item):
            return "numbers must be finite"
    return None


def _is_json(mimetype: str) -> bool:
    return mimetype in ("", "application/json") or mimetype.endswith("+json")


async def read_json_object() -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``."""
    raw = await request.get_data(cache=True)
    if not raw.strip():
        return {}
    if not _is_json(request.mimetype):
        raise UnsupportedMediaType(
            "send the body as application/json", details={"content_type": request.mimetype}
        )
    try:
        value = _loads(raw)
    except RecursionError:
        # Deeper than the parser's stack: refused like anything past MAX_DEPTH.
        value = None
        problem: str | None = f"nested deeper than {MAX_DEPTH} levels"
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest(
            "Invalid request", details=[{"field": "body", "message": "malformed JSON"}]
        ) from None
    else:
        problem = _unsafe(value)
    if problem is not None:
        raise InvalidRequest("Invalid request", details=[{"field": "body", "message": problem}])
    if not isinstance(value, dict):
        raise InvalidRequest(
            "Invalid request",
            details=[{"field": "body", "message": "the request body must be a JSON object"}],
        )
    return value


def _context() -> dict[str, Any]:
    """What a model may need to know of the server while validating: the targets a
    request may name without a ``method`` (:class:`~flickrhub_api.models.RestRequest`)."""
    targets = get_runtime().targets
    return {
        METHODLESS_TARGETS: frozenset(
            name for name, target in targets.items() if not target.requires_method
        )
    }


def parse_model(model: type[M], data: dict[str, Any]) -> M:
    """Validate ``data``; failures become quart-schema's validation error (400)."""
    try:
        return model.model_validate(data, context=_context())
    except ValidationError as exc:
        raise RequestSchemaValidationError(exc) from None


def json_body(
    model: type[M],
) -> Callable[[Callable[..., Awaitable[R]]], Callable[..., Awaitable[R]]]:
    """Validate the JSON body as ``model`` and pass it to the handler as ``data``."""

    def decorator(func: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
        document_request(model)(func)

        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> R:
            data = parse_model(model, await read_json_object())
            return await func(*args, data=data, **kwargs)

        return wrapper

    return decorator
