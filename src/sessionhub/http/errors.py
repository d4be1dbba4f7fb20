"""The error boundary every HTTP dialect sits behind.

A dialect gives one function from a core error to its wire response. The boundary turns
everything that escapes a handler into one: the core's errors as they are, Starlette's routing
404/405 as ``RouteNotFound``/``MethodNotAllowed``, and anything unexpected into an internal
error that is logged with its traceback and never shown on the wire.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionhub.core import errors as E
from sessionhub.core.errors import MethodNotAllowed, RateLimited, RouteNotFound, SessionhubError, lookup

log = logging.getLogger("sessionhub.http")

HTTP_STATUS: dict[type[SessionhubError], int] = {
    E.SessionhubError: 500,
    E.InvalidInput: 400,
    E.PayloadTooLarge: 413,
    E.Unauthorized: 401,
    E.Forbidden: 403,
    E.NotFound: 404,
    E.DeviceNotFound: 404,
    E.SessionNotFound: 404,
    E.SessionsNotFound: 404,
    E.SessionNotActive: 404,
    E.EventNotFound: 404,
    E.ParticipantNotFound: 404,
    E.LocationNotFound: 404,
    E.BarcodeNotFound: 404,
    E.PlateNotFound: 404,
    E.RouteNotFound: 404,
    E.Conflict: 409,
    E.AlreadyExists: 409,
    E.ParticipantExists: 409,
    E.IllegalTransition: 409,
    E.StaleTelemetry: 409,
    E.MethodNotAllowed: 405,
    E.RateLimited: 429,
    E.StoreUnavailable: 503,
    E.SchemaError: 503,
}
"""The status of every class of the core's error tree, for every HTTP dialect (a test walks the tree)."""

Render = Callable[[SessionhubError | None], Response]
"""A dialect's renderer: a core error to its response; None is an unexpected failure (500)."""

Bodies = dict[type[SessionhubError], Callable[[SessionhubError], dict[str, Any]]]
"""A dialect's error table: the body of every class of the core's error tree (a test walks the tree)."""

_encode = msgspec.json.Encoder().encode


def generic_body(error: SessionhubError) -> dict[str, Any]:
    """The body of an error outside every dialect's prefix (and of what no dialect claims)."""
    return {"error": {"code": error.code, "message": error.message}}


def renderer(bodies: Bodies | None = None) -> Render:
    """The one way an HTTP error is rendered: the body from the dialect's table (``bodies``; None:
    ``generic_body``), the status from ``HTTP_STATUS``, and ``Retry-After`` for a ``RateLimited``."""

    def render(error: SessionhubError | None) -> Response:
        error = error or SessionhubError("internal error")
        body = generic_body(error) if bodies is None else lookup(bodies, error)(error)
        response = Response(_encode(body), lookup(HTTP_STATUS, error), media_type="application/json")
        if isinstance(error, RateLimited):
            response.headers["retry-after"] = str(error.retry_after)
        return response

    return render


def from_http_exception(exc: HTTPException) -> SessionhubError | None:
    if exc.status_code == 404:
        return RouteNotFound("no such resource")
    if exc.status_code == 405:
        return MethodNotAllowed("method not allowed on this resource")
    return None


class ErrorBoundary:
    """ASGI middleware: render whatever a dialect's handlers raise with that dialect's renderer."""

    def __init__(self, app: ASGIApp, render: Render) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("app", self)  # makes Starlette's routing raise its 404/405 for us to render
        started = False

        async def guarded(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, guarded)
        except ClientDisconnect:  # the client left mid-upload: nobody to answer, nothing went wrong here
            log.debug("client went away during %s %s", scope.get("method"), scope.get("path"))
        except Exception as exc:
            if isinstance(exc, SessionhubError):
                error: SessionhubError | None = exc
            elif isinstance(exc, HTTPException):
                error = from_http_exception(exc)
            else:
                error = None
            if error is None:
                log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # a stream already sent its head: all we can do is end it
                log.warning("error after the response started on %s: %r", scope.get("path"), exc)
                return
            response = self.render(error)
            if isinstance(error, MethodNotAllowed) and (allow := allowed(self.app, scope)):
                response.headers["allow"] = allow
            await response(scope, receive, send)


def allowed(router: ASGIApp, scope: Scope) -> str:
    """The ``Allow`` of a 405: the methods of every route of ``router`` whose path matches (Starlette's
    own 405 names only the first such route's, though a path often has one route per method)."""
    methods: set[str] = set()
    for route in getattr(router, "routes", ()):
        match, _ = route.matches({**scope, "method": "\0"})  # no method matches: each path match is PARTIAL
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return ", ".join(sorted(methods, key=lambda m: (order.index(m) if m in order else len(order), m)))


def render_for(dialects: Sequence[tuple[str, Render]], fallback: Render) -> Callable[[str], Render]:
    """path -> the renderer of the dialect whose prefix the path has (a path that only nearly
    matches a dialect's mount, e.g. one holding a percent-encoded newline, is still that dialect's
    client), else ``fallback``."""

    def pick(path: str) -> Render:
        return next((r for prefix, r in dialects if path.startswith(prefix)), fallback)

    return pick


def not_found(pick: Callable[[str], Render]) -> ASGIApp:
    """The router's default: a path no route took answers 404 in the form of its dialect."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await pick(scope["path"])(RouteNotFound("no such resource"))(scope, receive, send)

    return app
