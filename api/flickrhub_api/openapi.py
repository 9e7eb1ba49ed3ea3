"""The OpenAPI document at ``/openapi.json``: quart-schema's, completed and kept honest.

Each route declares what is its own: the request model, its success answer, and the
errors its own logic raises (``@errors(404, 409)``). What many routes share is added
here, derived from the code that enforces it, so the document follows the server's
configuration instead of drifting from it:

* ``401`` and the security requirement on every route that needs an API key
  (:func:`flickrhub_api.clients.is_exempt`), only when keys are configured; routes
  served without a key say ``security: []``;
* ``429`` with ``Retry-After`` on the same routes when the per-client rate limit is on;
* ``400``, ``408``, ``413`` and ``415`` on routes that read a body, ``400`` on routes
  that read a query string;
* ``404`` and ``405`` (with ``Allow``) on paths with parameters: a parameter holding
  ``/`` names another path, which may not exist or not take the method;
* ``503`` (with ``Retry-After``) on every route that reads or writes a store, the
  broker or Flickr: the error mapper answers a backend that is away that way (routes
  that touch none say so with ``@no_backend``);
* ``X-Request-ID`` on every answer.

It also fixes what quart-schema gets wrong or cannot say: response headers go on the
response object (not into ``content``); query parameters and form fields, which
cannot be null on the wire, lose their ``null`` alternative; non-JSON answers
(``/metrics``'s text, the callback's HTML page) are documented with their media type;
``operationId`` is the route's own (``@operation_id``), not prefixed with the method.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from quart_schema import OpenAPIProvider, document_response
from quart_schema.conversion import model_schema
from quart_schema.openapi import QUART_SCHEMA_OPERATION_ID_ATTRIBUTE
from werkzeug.routing import BaseConverter, Rule, UnicodeConverter

from flickrhub_api.clients import API_KEY_HEADER, CLIENTS_KEY, ClientKeys, is_exempt
from flickrhub_api.envelope import REQUEST_ID_HEADER
from flickrhub_api.limits import LIMITER_KEY
from flickrhub_api.models import ErrorEnvelope

__all__ = [
    "ERROR_DESCRIPTIONS",
    "FlickrHubOpenAPI",
    "MediaResponse",
    "document_account_links",
    "errors",
    "header_parameter",
    "link",
    "media_response",
    "no_backend",
    "response_notes",
]

F = TypeVar("F", bound=Callable[..., Any])

NOTES_ATTRIBUTE = "_flickrhub_response_notes"
LINKS_ATTRIBUTE = "_flickrhub_response_links"
MEDIA_ATTRIBUTE = "_flickrhub_media_responses"
HEADERS_ATTRIBUTE = "_flickrhub_header_parameters"
NO_BACKEND_ATTRIBUTE = "_flickrhub_no_backend"

#: What each error status means, unless a route says more precisely.
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Invalid request: malformed body, a missing field, a wrong type or a value out of "
    "range (ERR_INVALID_REQUEST); `details` has one string per problem (the earlier "
    'system\'s, e.g. "method is required"), `fields` the same as {field, message} objects',
    401: "No API key, or one no client has (ERR_UNAUTHORIZED); send `X-API-Key` or "
    "`Authorization: Bearer`",
    404: "Not found: unknown, or another API client's (the same answer either way)",
    405: "The path does not take this method (ERR_METHOD_NOT_ALLOWED); `Allow` lists those "
    "it takes",
    408: "The request body was not received in time (ERR_TIMEOUT)",
    409: "Conflict with the current state (ERR_CONFLICT)",
    413: "The body is larger than this server accepts (ERR_PAYLOAD_TOO_LARGE; `details.max_bytes`)",
    415: "The body's content type is not the one this route reads (ERR_UNSUPPORTED_MEDIA_TYPE)",
    429: "This API client sent more requests than its per-minute limit (ERR_RATE_LIMITED); "
    "`Retry-After` says when the next one is accepted",
    502: "Flickr could not be reached or failed (ERR_FLICKR_UNAVAILABLE); try again later",
    503: "A store, the queue or another service FlickrHub depends on is not available "
    "(ERR_UNAVAILABLE); try again after `Retry-After` seconds",
}
SUCCESS_DESCRIPTIONS: dict[int, str] = {200: "OK", 202: "Accepted: queued"}

_REQUEST_ID = {
    "description": "This request's id (also `request_id` in the envelope)",
    "required": True,
    "schema": {"type": "string"},
}
_RETRY_AFTER = {
    "description": "Seconds to wait before trying again",
    "schema": {"type": "integer", "minimum": 1},
}
#: Headers of the answers with a given status, besides ``X-Request-ID``.
STATUS_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The challenge: the key may be sent as a bearer token",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    405: {
        "Allow": {
            "description": "The methods this path takes",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {"Retry-After": {**_RETRY_AFTER, "required": True}},
    503: {"Retry-After": {**_RETRY_AFTER, "required": False}},
}
#: What OpenAPI allows in a component's name.
_COMPONENT_NAME = re.compile(r"[^A-Za-z0-9._-]")
#: The path parameter syntax of Werkzeug's default converter: one non-empty segment.
PATH_SEGMENT = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}


# --- route decorators -----------------------------------------------------------------


def _merge(func: F, attribute: str, values: Mapping[Any, Any]) -> F:
    merged = {**getattr(func, attribute, {}), **values}
    setattr(func, attribute, merged)
    return func


def no_backend(func: F) -> F:
    """Mark a route that touches no store, queue or service (so it cannot answer 503)."""
    setattr(func, NO_BACKEND_ATTRIBUTE, True)
    return func


def response_notes(notes: Mapping[int, str]) -> Callable[[F], F]:
    """Say what a status means on this route, replacing the generic description."""

    def decorator(func: F) -> F:
        return _merge(func, NOTES_ATTRIBUTE, notes)

    return decorator


def errors(*statuses: int, notes: Mapping[int, str] | None = None) -> Callable[[F], F]:
    """Document error answers (the :class:`ErrorEnvelope`) this route's own logic gives.

    Statuses every route of a kind shares (401, 429, body and query errors) are
    added by :class:`FlickrHubOpenAPI`; list only the route's own here.
    """

    def decorator(func: F) -> F:
        for status in statuses:
            document_response(ErrorEnvelope, status)(func)
        return _merge(func, NOTES_ATTRIBUTE, notes or {})

    return decorator


@dataclass(frozen=True)
class MediaResponse:
    """An answer that is not (only) JSON."""

    media_type: str
    schema: Mapping[str, Any]
    description: str | None = None


def media_response(
    status: int, media_type: str, *, description: str | None = None, schema: Any = None
) -> Callable[[F], F]:
    """Document an answer with ``status`` in ``media_type`` (text by default); added
    beside the JSON one if the status has one too."""
    body = schema if schema is not None else {"type": "string"}

    def decorator(func: F) -> F:
        media: list[tuple[int, MediaResponse]] = [*getattr(func, MEDIA_ATTRIBUTE, [])]
        media.append((status, MediaResponse(media_type, body, description)))
        setattr(func, MEDIA_ATTRIBUTE, media)
        return func

    return decorator


def link(
    status: int,
    name: str,
    operation: str,
    parameters: Mapping[str, str],
    *,
    description: str,
    body: Mapping[str, str] | None = None,
) -> Callable[[F], F]:
    """An OpenAPI link: how an answer's values feed another operation (``operation`` is
    its operationId; ``parameters`` map its parameter names, and ``body`` fields of its
    request body, to runtime expressions such as ``$response.body#/data/job_id``)."""
    value: dict[str, Any] = {"operationId": operation, "description": description}
    if parameters:
        value["parameters"] = dict(parameters)
    if body is not None:
        value["requestBody"] = dict(body)

    def decorator(func: F) -> F:
        links: dict[int, dict[str, Any]] = {**getattr(func, LINKS_ATTRIBUTE, {})}
        links[status] = {**links.get(status, {}), name: value}
        setattr(func, LINKS_ATTRIBUTE, links)
        return func

    return decorator


def document_account_links(status: int, *, read: bool = True) -> Callable[[F], F]:
    """The links of an answer naming an account (``data.user_id``): read it, call
    Flickr for it, upload a photo to it."""
    user = "$response.body#/data/user_id"

    def decorator(func: F) -> F:
        if read:
            func = link(
                status, "GetAccount", "get_account", {"user_id": user}, description="The account"
            )(func)
        func = link(
            status,
            "EnqueueRest",
            "enqueue_rest",
            {},
            body={"user_id": user},
            description="Queue a Flickr call for this account",
        )(func)
        return link(
            status,
            "UploadPhoto",
            "upload_photo",
            {},
            body={"user_id": user},
            description="Upload a photo to this account",
        )(func)

    return decorator


def header_parameter(
    name: str, schema: Mapping[str, Any], *, description: str, required: bool = False
) -> Callable[[F], F]:
    """Document a request header the route reads (``Idempotency-Key``)."""
    parameter = {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": dict(schema),
    }

    def decorator(func: F) -> F:
        return _merge(func, HEADERS_ATTRIBUTE, {name: parameter})

    return decorator


# --- the provider ---------------------------------------------------------------------


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query or form value's schema: such values are text, never null."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        kept = [option for option in options if option != {"type": "null"}]
        if len(kept) != len(options):
            schema = {key: value for key, value in schema.items() if key != "anyOf"}
            if len(kept) == 1:
                schema = {**kept[0], **schema}
            else:
                schema["anyOf"] = kept
    if "default" in schema and schema["default"] is None:
        schema = {key: value for key, value in schema.items() if key != "default"}
    return schema


def _hoist_response_schemas(operation: dict[str, Any], components: dict[str, Any]) -> None:
    """Answers' JSON schemas become components (``ErrorEnvelope``, ``Envelope_JobView_``)
    referred to by ``$ref``: quart-schema inlines each one in every response."""
    for response in operation["responses"].values():
        media = response.get("content", {}).get("application/json")
        schema = media.get("schema") if media else None
        if not isinstance(schema, dict) or "title" not in schema:
            continue
        name = _COMPONENT_NAME.sub("_", schema["title"])
        components.setdefault(name, schema)
        media["schema"] = {"$ref": f"#/components/schemas/{name}"}


class FlickrHubOpenAPI(OpenAPIProvider):
    """quart-schema's provider with the additions described in the module docstring."""

    # --- what the app enforces -----------------------------------------------------------

    def _keys_enabled(self) -> bool:
        keys = self._app.extensions.get(CLIENTS_KEY)
        return isinstance(keys, ClientKeys) and keys.enabled

    def _rate_limited(self) -> bool:
        return self._app.extensions.get(LIMITER_KEY) is not None

    # --- the document --------------------------------------------------------------------

    def schema(self) -> dict[str, Any]:
        spec = super().schema()
        spec.pop("security", None)
        schemes = spec["components"].pop("securitySchemes", None)
        if self._keys_enabled():
            spec["components"]["securitySchemes"] = schemes or {
                "apiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER},
                "bearer": {"type": "http", "scheme": "bearer"},
            }
            spec["security"] = [{"apiKey": []}, {"bearer": []}]
        return spec

    def operation_id(self, method: str, path: str, func: Callable[..., Any]) -> str | None:
        explicit: str | None = getattr(func, QUART_SCHEMA_OPERATION_ID_ATTRIBUTE, None)
        return explicit if explicit is not None else super().operation_id(method, path, func)

    def build_path_parameter(self, name: str, converter: BaseConverter) -> dict[str, Any]:
        parameter = super().build_path_parameter(name, converter)
        if type(converter) is UnicodeConverter:
            parameter["schema"] = dict(PATH_SEGMENT)
        return parameter

    def build_querystring_parameters(
        self, model: type[Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        parameters, definitions = super().build_querystring_parameters(model)
        # quart-schema looks for ``required`` on each property; JSON Schema lists them
        # on the object.
        required = set(
            model_schema(
                model, preference=self._app.config["QUART_SCHEMA_CONVERSION_PREFERENCE"]
            ).get("required", [])
        )
        for parameter in parameters:
            if parameter["name"] in required:
                parameter["required"] = True
        return parameters, definitions

    def build_response_object(
        self, model: type[Any], headers_model: type[Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        response, definitions = super().build_response_object(model, headers_model)
        # quart-schema puts header models into ``content``, where they are a media type.
        misplaced = response["content"].pop("headers", None)
        if misplaced:
            response["headers"] = {
                name: {"schema": schema["schema"]} for name, schema in misplaced.items()
            }
        return response, definitions

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        func = self._app.view_functions[rule.endpoint]
        for path, operations in paths.items():
            for method, operation in operations.items():
                operation = self._complete(copy.deepcopy(operation), func, path, rule)
                _hoist_response_schemas(operation, components)
                operations[method] = operation
        return paths, components

    # --- one operation -------------------------------------------------------------------

    def _complete(
        self, operation: dict[str, Any], func: Callable[..., Any], path: str, rule: Rule
    ) -> dict[str, Any]:
        if not operation.get("description"):
            operation.pop("description", None)
        parameters: list[dict[str, Any]] = operation["parameters"]
        for parameter in parameters:
            if parameter["in"] == "query":
                parameter["schema"] = _without_null(parameter["schema"])
        parameters.extend(getattr(func, HEADERS_ATTRIBUTE, {}).values())
        content: dict[str, Any] = operation.get("requestBody", {}).get("content", {})
        for media_type, body in content.items():
            if media_type != "application/json":
                properties = body["schema"].get("properties", {})
                for name, schema in properties.items():
                    properties[name] = _without_null(schema)

        exempt = is_exempt(path)
        shared: set[int] = set()
        if content or any(parameter["in"] == "query" for parameter in parameters):
            shared.add(400)
        if content:
            shared |= {408, 413, 415}
        if rule.arguments:
            shared |= {404, 405}
        if not exempt and self._keys_enabled():
            shared.add(401)
        if not exempt and self._rate_limited():
            shared.add(429)
        if not getattr(func, NO_BACKEND_ATTRIBUTE, False):
            shared.add(503)
        if exempt and self._keys_enabled():
            operation["security"] = []

        # quart-schema keys them by int: one kind of key, sorted, as JSON has them.
        responses: dict[str, Any] = {
            str(key): value for key, value in operation["responses"].items()
        }
        for status in sorted(shared):
            if str(status) not in responses:
                response, _ = self.build_response_object(ErrorEnvelope, None)
                responses[str(status)] = response
        for status, media in getattr(func, MEDIA_ATTRIBUTE, []):
            response = responses.setdefault(str(status), {"description": "", "content": {}})
            response["content"][media.media_type] = {"schema": dict(media.schema)}
            if media.description:
                response["description"] = media.description
        for status, links in getattr(func, LINKS_ATTRIBUTE, {}).items():
            responses[str(status)]["links"] = copy.deepcopy(links)
        notes: Mapping[int, str] = getattr(func, NOTES_ATTRIBUTE, {})
        for key, response in responses.items():
            status = int(key)
            response["description"] = (
                notes.get(status)
                or ERROR_DESCRIPTIONS.get(status)
                or response.get("description")
                or SUCCESS_DESCRIPTIONS.get(status, "")
            )
            headers = {REQUEST_ID_HEADER: dict(_REQUEST_ID), **STATUS_HEADERS.get(status, {})}
            response["headers"] = {**headers, **response.get("headers", {})}
        operation["responses"] = dict(sorted(responses.items(), key=lambda item: int(item[0])))
        return operation
