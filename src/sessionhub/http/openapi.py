"""The OpenAPI 3.1 document of every HTTP route, generated from the handlers' own declarations.

Each handler says what it takes and answers where it is written, with ``@docs.op(...)`` of its
dialect's ``Docs`` (summary, success status and body type, request body type, query parameters, the
error statuses it can give). Types are the msgspec structs of the wire modules, so the schemas come
from ``msgspec.json.schema_components`` and cannot drift from what the handlers decode; the response
structs are held to the renderers' output by tests/http/test_openapi.py and, on the wire, by
schemathesis.

``document(routes)`` walks the routes the app actually serves (mounts included), so a route whose
handler carries no ``@docs.op`` fails the build of the document (and the test that builds it): a new
route cannot go undocumented. What is said once elsewhere is derived, not repeated:

- path parameters: from the route's template and the dialect's table of id formats;
- live updates: a GET wrapped by ``Conditional`` (http/conditional.py) gains ``If-None-Match``,
  ``?wait=``, the ``ETag`` header and the 304; a ``text/event-stream`` handler gains ``patch``,
  ``Last-Event-ID`` and ``last_event_id``;
- security: the dialect's schemes (RUFUS: ``api_key`` / ``x-api-key`` headers; Coord: the
  ``access_key`` query parameter, plus the user's bearer JWT where an operation names a user).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from starlette.routing import BaseRoute, Mount, Route, Router

from sessionhub.http.conditional import CONDITIONAL, WAIT_MAX, WAIT_MIN

F = TypeVar("F", bound=Callable[..., Any])

ATTR = "__sessionhub_openapi__"
"""The attribute ``@docs.op`` sets on a handler (functools.update_wrapper carries it to wrappers)."""

JSON, SSE, HTML, TEXT = "application/json", "text/event-stream", "text/html", "text/plain"

STATUS_TEXT = {
    200: "OK", 201: "Created", 304: "Not Modified: the ETag still names the current version",
    400: "Bad request: a malformed or invalid parameter or body (the field is named)",
    401: "Unauthorized: no key, or an unknown or revoked one",
    403: "Forbidden: the key's access type does not allow this",
    404: "Not found (also what another account's object answers)", 409: "Conflict with the object's state",
    413: "Payload too large", 429: "Too many requests: the key or the address is over its rate (see Retry-After)",
    503: "Service unavailable: the database cannot be reached; retry",
}

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "api_key",
                     "description": "A sessionhub key (`sessionhub keys create`), RUFUS's primary header."},
    "XApiKeyHeader": {"type": "apiKey", "in": "header", "name": "x-api-key",
                      "description": "The same key in RUFUS's alternate header."},
    "ApiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key",
                    "description": "The same key as a query parameter, for a browser's EventSource (streams only)."},
    "AccessKeyQuery": {"type": "apiKey", "in": "query", "name": "access_key",
                       "description": "The same key in Coord's `access_key` query parameter."},
    "UserJWT": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "The end user, as a JWT from `POST /v1/users/create_jwt` (HS256, 1 h)."},
    "ServerToken": {"type": "http", "scheme": "bearer",
                    "description": "Coord's server token of create_jwt: a WRITE key of the same account."},
}


class ErrorDetail(msgspec.Struct):
    code: str
    message: str


class PlainError(msgspec.Struct):
    """The error body outside both dialects' prefixes (the paging stream, the operations endpoints)."""

    error: ErrorDetail


@dataclass(frozen=True)
class Param:
    """A query or header parameter an operation reads."""

    name: str
    schema: dict[str, Any]
    description: str
    where: str = "query"
    required: bool = False

    def spec(self) -> dict[str, Any]:
        out = {"name": self.name, "in": self.where, "required": self.required, "description": self.description,
               "schema": self.schema}
        return out


DATE_TIME: dict[str, Any] = {"type": "string", "format": "date-time", "pattern": (
    r"^[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?$")}
"""An RFC 3339 date-time, as the handlers parse it (an offset, ``Z``, or none = UTC). ``format`` alone only
annotates in JSON Schema 2020-12, so the pattern says it (29 February aside, which it leaves out)."""


def integer(low: int = 0, high: int = 2**53) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


@dataclass(frozen=True)
class Operation:
    """What one handler documents about itself (``@docs.op``)."""

    docs: Docs
    summary: str
    returns: Any
    status: int
    body: Any
    query: tuple[Param, ...]
    errors: tuple[int, ...]
    description: str
    media: str
    user: bool
    body_required: bool | None
    security: list[dict[str, list[str]]] | None


@dataclass
class Docs:
    """One dialect's documentation defaults: its tag, security, error body and path parameter formats."""

    tag: str
    security: list[dict[str, list[str]]]
    error: Any
    path_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""

    def op(self, summary: str, returns: Any = None, *, status: int = 200, body: Any = None,
           query: Sequence[Param] = (), errors: Sequence[int] = (400, 401, 403, 404), description: str = "",
           media: str = JSON, user: bool = False, body_required: bool | None = None,
           security: list[dict[str, list[str]]] | None = None) -> Callable[[F], F]:
        """Document the decorated handler. ``returns``: the success body's type (None: no body);
        ``errors``: the statuses besides success it can answer (400 and 413 are added with a body, 503 with a key);
        ``user``: the operation names an end user, who may come as a bearer JWT; ``body_required``:
        whether a request without a body is refused (default: when ``{}`` does not decode into ``body``);
        ``security``: instead of the dialect's."""
        operation = Operation(self, summary, returns, status, body, tuple(query), tuple(errors), description,
                              media, user, body_required, security)

        def mark(handler: F) -> F:
            setattr(handler, ATTR, operation)
            return handler

        return mark


def documented(endpoint: Any) -> Operation | None:
    found = getattr(endpoint, ATTR, None)
    return found if isinstance(found, Operation) else None


def served(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, Route]]:
    """Every (full path template, Route) of ``routes``, through mounts and the middleware around them."""
    for route in routes:
        if isinstance(route, Mount):
            app: Any = route.app
            while not isinstance(app, Router) and hasattr(app, "app"):
                app = app.app  # an ErrorBoundary (or any middleware) around the mounted router
            yield from served(getattr(app, "routes", []), prefix + route.path)
        elif isinstance(route, Route):
            app = route.endpoint
            while not isinstance(app, Router) and not callable(getattr(app, ATTR, None)) and hasattr(app, "app"):
                app = app.app  # a route whose endpoint is a whole ASGI app: its router holds full paths
            if isinstance(app, Router):
                yield from served(app.routes, prefix)
            else:
                yield prefix + route.path, route


_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?}")


UNDOCUMENTED = "undocumented"
"""The tag of a served route whose handler has no ``@docs.op`` yet: it is listed (with its path
parameters and no promise about its answers) so the document never hides a route, and
tests/http/test_openapi.py fails on any such route it does not know of."""


def document(routes: Iterable[BaseRoute], *, title: str = "sessionhub", version: str = "0") -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (a route without ``@docs.op`` is tagged UNDOCUMENTED)."""
    paths: dict[str, dict[str, Any]] = {}
    types: list[Any] = []
    pending: list[tuple[dict[str, Any], Operation, str]] = []
    tags: dict[str, str] = {}
    for path, route in served(routes):
        op = documented(route.endpoint)
        if op is None:
            template = _PARAM.sub(lambda m: "{" + m[1] + "}", path)
            for method in sorted((route.methods or set()) - {"HEAD"}):
                paths.setdefault(template, {})[method.lower()] = _stub(template, method, route.name)
            tags.setdefault(UNDOCUMENTED, "Routes whose handlers do not describe themselves yet (no @docs.op).")
            continue
        conditional = bool(getattr(route.endpoint, CONDITIONAL, False))
        template = _PARAM.sub(lambda m: "{" + m[1] + "}", path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            spec = _operation(op, template, method, conditional)
            paths.setdefault(template, {})[method.lower()] = spec
            pending.append((spec, op, method))
            tags.setdefault(op.docs.tag, op.docs.description)
        types.extend(t for t in (op.returns, op.body, op.docs.error) if t is not None and not isinstance(t, str))
    unique = list(dict.fromkeys(types))
    schemas, components = msgspec.json.schema_components(unique, ref_template="#/components/schemas/{name}")
    strings_refuse_nul(components)
    by_type = dict(zip(unique, schemas, strict=True))
    for spec, op, method in pending:
        _fill(spec, op, method, by_type)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": (
            "Live sessions at physical places. Two HTTP dialects, each as its clients know it — RUFUS Cloud "
            "public API v0 (race timing, `/v0`) and Coord Parking Access (`/v1/access/parking`, `/v1/users`) — "
            "plus live updates on both: every GET answers `If-None-Match` with 304 and long-polls with "
            "`?wait=SECONDS`; `/stream` twins follow a resource as Server-Sent Events, as JSON Patch "
            "diffs with `?patch=1`.")},
        "tags": [{"name": name, "description": text} for name, text in tags.items()],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": SECURITY_SCHEMES},
    }


NO_NUL = {"pattern": "\\u0000"}
"""Said of every string of a body: both stores refuse U+0000 in text (docs/store.md), a 400."""


def strings_refuse_nul(node: Any) -> None:
    """Add ``NO_NUL`` to every string schema within ``node`` (enums list their values already)."""
    if isinstance(node, dict):
        kind = node.get("type")
        if (kind == "string" or (isinstance(kind, list) and "string" in kind)) and "enum" not in node:
            node["not"] = NO_NUL
        for value in node.values():
            strings_refuse_nul(value)
    elif isinstance(node, list):
        for value in node:
            strings_refuse_nul(value)


def _stub(template: str, method: str, name: str) -> dict[str, Any]:
    return {"tags": [UNDOCUMENTED], "summary": f"{name} (not described yet)",
            "operationId": re.sub(r"[^A-Za-z0-9]+", "_", f"{method.lower()}{template}").strip("_"),
            "parameters": [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                           for n in _PARAM.findall(template)],
            "responses": {"default": {"description": "not described yet"}}}


def _operation(op: Operation, template: str, method: str, conditional: bool) -> dict[str, Any]:
    formats = op.docs.path_params
    params = [{"name": name, "in": "path", "required": True, "schema": formats.get(name, {"type": "string"})}
              for name in _PARAM.findall(template)]
    params += [p.spec() for p in op.query]
    if conditional:
        params += [
            Param("wait", integer(WAIT_MIN, WAIT_MAX), "Long-poll: with a matching If-None-Match, hold the request "
                  "until the resource changes (200 with the new body) or this many seconds pass (304).").spec(),
            Param("If-None-Match", {"type": "string"}, "An ETag this GET answered; if it still "
                  "names the current version the answer is 304 without a body.", where="header").spec(),
        ]
    if op.media == SSE:
        params += [
            Param("patch", {"type": "string", "enum": ["0", "1", "true", "false"]},
                  "1: after the first document, each event is a JSON Patch (RFC 6902) against the previous "
                  "one.").spec(),
            Param("Last-Event-ID", {"type": "string", "pattern": "^[0-9]{1,19}$"},
                  "Resume after this event id (browsers send it when they reconnect).", where="header").spec(),
            Param("last_event_id", {"type": "string", "pattern": "^[0-9]{1,19}$"},
                  "The same as the Last-Event-ID header, for clients that cannot set headers.").spec(),
        ]
    spec: dict[str, Any] = {
        "tags": [op.docs.tag], "summary": op.summary,
        "operationId": re.sub(r"[^A-Za-z0-9]+", "_", f"{method.lower()}{template}").strip("_"),
    }
    if op.description:
        spec["description"] = op.description
    if params:
        spec["parameters"] = params
    security = list(op.docs.security if op.security is None else op.security)
    if op.media == SSE and any("ApiKeyHeader" in s for s in security):
        security.append({"ApiKeyQuery": []})
    if op.user:
        security = [{**s, "UserJWT": []} for s in security] + security
    spec["security"] = security
    return spec


def _fill(spec: dict[str, Any], op: Operation, method: str, schemas: dict[Any, dict[str, Any]]) -> None:
    if op.body is not None:
        required = op.body_required if op.body_required is not None else not _accepts_empty(op.body)
        spec["requestBody"] = {"required": required, "content": {JSON: {"schema": schemas[op.body]}}}
    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": STATUS_TEXT.get(op.status, "OK")}
    if isinstance(op.returns, str):  # "json": any JSON object; "html", "sse", "text": a text
        success["content"] = {op.media: {"schema": {"type": "object" if op.returns == "json" else "string"}}}
    elif op.returns is not None:
        success["content"] = {op.media: {"schema": schemas[op.returns]}}
    conditional = any(p.get("name") == "wait" for p in spec.get("parameters", ()))
    etag = {"ETag": {"description": "The resource's version (strong validator; send it back in If-None-Match).",
                     "required": True, "schema": {"type": "string"}}}
    if conditional:
        success["headers"] = etag
    responses[str(op.status)] = success
    if conditional:
        responses["304"] = {"description": STATUS_TEXT[304], "headers": etag}
    errors = set(op.errors) | {429}  # every request passes the rate limits (http/ratelimit.py, docs/limits.md)
    if op.docs.security:  # the key is checked against the store, which may be unreachable
        errors.add(503)
    if op.body is not None:
        errors |= {400, 413}
    error_body = {"content": {JSON: {"schema": schemas[op.docs.error]}}} if op.docs.error is not None else {}
    for status in sorted(errors):
        responses[str(status)] = {"description": STATUS_TEXT[status], **error_body}
    responses["429"]["headers"] = {"Retry-After": {
        "description": "Seconds until the client's bucket holds a request again.", "required": True,
        "schema": {"type": "integer", "minimum": 1}}}
    spec["responses"] = responses


def _accepts_empty(body: Any) -> bool:
    """Whether ``{}`` decodes into ``body`` (then a request may leave the body out: the dialects read an
    empty body as ``{}``)."""
    try:
        msgspec.convert({}, body)
    except msgspec.ValidationError:
        return False
    return True
