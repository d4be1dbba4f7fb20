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

import re
from collections.abc import Awaitable, Callable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from sessionhub.http.conditional import matches

FastHandler = Callable[[Scope, "re.Match[str]"], Awaitable[tuple[bytes, bytes] | None]]
"""(scope, the path's match) -> (the ETag, the JSON body to send with 200), or None to fall through.

The ETag must be read before the body (http/conditional.py); the handler has checked the key and
the object, so a matching ``If-None-Match`` is answered 304 right here, cheaper than the 200."""


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of request header ``name`` (lower case), decoded as latin-1."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def query_param(scope: Scope, name: str) -> str | None:
    """The last ``name=`` of the raw query string when it needs no decoding; else None (the full
    stack then reads it properly)."""
    prefix, found = name.encode() + b"=", None
    for part in scope["query_string"].split(b"&"):
        if part.startswith(prefix):
            found = part[len(prefix):]
    if found is None or b"%" in found or b"+" in found:
        return None
    return str(found.decode("latin-1"))


class FastLane:
    """ASGI middleware: a GET whose path fully matches one of ``routes`` tries its fast handler first.

    Any failure of a fast handler (an error of the core's, or anything unexpected) falls through
    to the full stack, which meets it again, renders it in the dialect's form and logs it.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[tuple[str, FastHandler]]) -> None:
        self.app = app
        self.routes = [(re.compile(pattern), handler) for pattern, handler in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            for pattern, handler in self.routes:
                match = pattern.fullmatch(path)
                if match is None:
                    continue
                if b"wait=" in scope["query_string"]:  # a long-poll: the full stack holds it
                    break
                try:
                    found = await handler(scope, match)
                except Exception:
                    found = None
                if found is None:
                    break
                tag, body = found
                inm = header(scope, b"if-none-match")
                if inm is not None and matches(inm, tag.decode()):
                    await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", tag)]})
                    await send({"type": "http.response.body", "body": b""})
                    return
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"etag", tag)]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
