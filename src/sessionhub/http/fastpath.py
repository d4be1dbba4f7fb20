"""A fast lane for the hottest GETs, the ones clients poll.

Measured on the 2-core machine (docs/benchmarks.md): a polled ``GET /v0/sessions/{token}`` through
the full Starlette stack (router, mount, route, Request, Response) ran at about 0.53x the
requests/s of a raw ASGI function on the same uvicorn; the target is 0.6x. Routing and the
Request/Response objects cost more than the lookup itself, so these few GETs are answered here,
straight from the scope, by a *fast handler*: a coroutine that returns the encoded body or None.

The lane only ever serves successes. A fast handler returns None, or raises the core's
error, for anything it does not serve plainly (a malformed id, an unknown key, a missing object);
the request then goes down the full stack, which decides and renders the error the usual way.
That is safe because these are GETs: running one twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from sessionhub.core.errors import SessionhubError

FastHandler = Callable[[Scope, str], Awaitable[bytes | None]]
"""(scope, the path's last segment) -> the JSON body to send with 200, or None to fall through."""


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of request header ``name`` (lower case), decoded as latin-1."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class FastLane:
    """ASGI middleware: ``GET {prefix}{segment}`` goes to its fast handler first."""

    def __init__(self, app: ASGIApp, handlers: dict[str, FastHandler]) -> None:
        self.app = app
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            prefix, _, segment = scope["path"].rpartition("/")
            handler = self.handlers.get(prefix + "/")
            if handler is not None and segment:
                try:
                    body = await handler(scope, segment)
                except SessionhubError:
                    body = None
                if body is not None:
                    await send({"type": "http.response.start", "status": 200, "headers": [
                        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)
