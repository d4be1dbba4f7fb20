"""A short lane for streams: ``GET .../stream`` is answered here, before the routers.

A stream's request task lives as long as the stream does, and every layer it went through stays on
its stack for all that time: through the full stack (error boundaries, routers, a mount, a route,
Starlette's request wrapper) an idle subscriber held about 20 KB; this lane keeps the stack to a few
frames (docs/live.md has the figures). The handlers are the dialects' own (they parse, check the key
and the object, and return the ``EventStream``); errors before the stream starts are rendered by
the dialect's renderer, exactly as its router would. A path the lane's patterns do not match (a
malformed id, say) goes on to the routers, which answer it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from sessionhub.core.errors import SessionhubError
from sessionhub.http.errors import Render
from sessionhub.http.sse import EventStream

log = logging.getLogger("sessionhub.http")

StreamHandler = Callable[[Request], Awaitable[EventStream]]


class StreamLane:
    """ASGI middleware: GETs whose path fully matches a pattern (named groups become path params)."""

    def __init__(self, app: ASGIApp, routes: Sequence[tuple[str, StreamHandler, Render]]) -> None:
        self.app = app
        self.routes = [(re.compile(pattern), handler, render) for pattern, handler, render in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].endswith("/stream"):
            for pattern, handler, render in self.routes:
                match = pattern.fullmatch(scope["path"])
                if match is None:
                    continue
                scope["path_params"] = match.groupdict()
                try:
                    response = await handler(Request(scope, receive))
                except SessionhubError as exc:
                    await render(exc)(scope, receive, send)
                    return
                except Exception:
                    log.exception("unexpected error on GET %s", scope["path"])
                    await render(None)(scope, receive, send)
                    return
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
