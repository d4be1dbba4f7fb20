"""Routers of the HTTP adapter: Starlette's, with a slash redirect that never names a host.

Starlette answers ``GET /v0/devices/`` with a 307 to an absolute URL built from the request's
``Host`` header, so ``Host: evil.example`` got ``Location: http://evil.example/v0/devices`` (issue 9).
Here the redirect is a relative reference (RFC 9110 §10.2.2): the same path without its trailing
slash, the query kept, no scheme and no host; a path that would start with ``//`` (which a browser
reads as another host) is not redirected at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Receive, Scope, Send

Mounts = Sequence[tuple[str, Sequence[BaseRoute]]]
"""Every route of the app as (mount prefix, routes); prefix "" for routes at the top."""


def router(routes: Sequence[BaseRoute], default: ASGIApp | None = None, **kw: object) -> Router:
    """A Router of ``routes`` whose slash redirect is relative (then ``default``, else Starlette's 404)."""
    inner = Router(list(routes), redirect_slashes=False, default=default, **kw)  # type: ignore[arg-type]
    fallback = inner.default

    async def slash_then_default(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            target = dict(scope, path=path.rstrip("/"))
            raw: bytes = scope.get("raw_path") or path.encode()
            location = raw.rstrip(b"/")
            if location.startswith(b"/") and not location.startswith(b"//") and any(
                    route.matches(target)[0] is not Match.NONE for route in inner.routes):
                if scope.get("query_string"):
                    location += b"?" + scope["query_string"]
                await send({"type": "http.response.start", "status": 307,
                            "headers": [(b"location", location), (b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
        await fallback(scope, receive, send)

    inner.default = slash_then_default
    return inner
