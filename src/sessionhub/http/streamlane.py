"""A short lane for streams: ``GET .../stream`` is answered here, before the routers.

A stream's request task lives as long as the stream does, and every layer it went through stays on
its stack for all that time: through the full stack (error boundaries, routers, a mount, a route,
Starlette's request wrapper) an idle subscriber held about 20 KB; this lane keeps the stack to a few
frames (docs/live.md has the figures). The handlers are the dialects' own (they parse, check the key
and the object, and return the ``EventStream``); errors before the stream starts are rendered by
the dialect's renderer, exactly as its router would. The lane's routes are the dialects' own: every
GET route whose path ends in ``/stream``, matched with the route's own compiled regex (nothing is
declared twice); a path none matches goes on to the routers, which answer it.

Streams are capped by count, since an idle one costs a descriptor and a few KB for as long as the
client likes: at most ``max_per_address`` open streams from one client address and
``max_per_account`` of one account (all its keys); a stream over a cap is answered 429 with
``Retry-After`` in the dialect's error shape (logged at most once per 10 s per kind).

Direct writes. A change of a topic followed by 10,000 streams went through 10,000 task wake-ups
and 10,000 ASGI ``send`` calls (a message dict, its checks, the middlewares' wrappers), which was
most of the fan-out's CPU (docs/live.md). The guarded protocol (http/guard.py) leaves a stream
request's uvicorn cycle in its scope (``CYCLE``); the lane gives the stream a ``CycleWire`` over it,
the one place that writes body bytes to a stream's connection without ``send``: one more chunk of
the response's chunked body (uvicorn's own framing), and only while the response is started, not
complete, the client connected and the connection's writes not paused by flow control. The
middlewares around the app only look at ``http.response.start``, which still goes through ``send``;
where one would count the body (an access log), the protocol lane is off and so are direct writes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sessionhub.core.errors import RateLimited, SessionhubError
from sessionhub.http.errors import Render
from sessionhub.http.routing import Mounts
from sessionhub.http.sse import EventStream
from sessionhub.http.throttled_log import ThrottledLog

log = logging.getLogger("sessionhub.http")

StreamHandler = Callable[[Request], Awaitable[EventStream]]
K = TypeVar("K", str, int)
CYCLE = "sessionhub.stream_cycle"
"""Scope key: the uvicorn request cycle of a stream request (set by the guarded protocol)."""


class CycleWire:
    """Body chunks written straight to a uvicorn (httptools) response's connection (see the module's
    docstring); ``write_now`` answers False, writing nothing, whenever ``send`` would have to wait or
    would drop the bytes."""

    __slots__ = ("_cycle",)

    def __init__(self, cycle: Any) -> None:
        self._cycle = cycle

    def write_now(self, body: bytes) -> bool:
        cycle = self._cycle
        if (cycle.disconnected or cycle.flow.write_paused or not cycle.response_started or cycle.response_complete
                or cycle.transport.is_closing()):
            return False
        cycle.transport.write(b"%x\r\n%b\r\n" % (len(body), body) if cycle.chunked_encoding else body)
        return True


class StreamLane:
    """ASGI middleware: GETs whose path fully matches a pattern (named groups become path params)."""

    def __init__(self, app: ASGIApp, mounts: Mounts, render_for: Callable[[str], Render], max_per_address: int = 2048,
                 max_per_account: int = 10_000) -> None:
        """``mounts``: (prefix, routes) pairs; ``render_for``: a path's dialect renderer."""
        self.app = app
        self.routes = [(prefix, route, cast(StreamHandler, route.endpoint), render_for(prefix + "/"))
                       for prefix, routes in mounts for route in routes
                       if isinstance(route, Route) and route.path.endswith("/stream") and route.methods
                       and "GET" in route.methods]
        self.max_per_address, self.max_per_account = max_per_address, max_per_account
        self.per_address: dict[str, int] = {}
        self.per_account: dict[int, int] = {}
        self.notes = ThrottledLog(log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].endswith("/stream"):
            path = scope["path"]
            for prefix, route, handler, render in self.routes:
                if not path.startswith(prefix):
                    continue
                match = route.path_regex.match(path[len(prefix):])
                if match is None:
                    continue
                scope["path_params"] = match.groupdict()
                client = scope.get("client")
                address = client[0] if client else ""
                try:
                    self._check(self.per_address, address, self.max_per_address, "address")
                    response = await handler(Request(scope, receive))
                    account = response.feed.account_id
                    self._check(self.per_account, account, self.max_per_account, "account")
                except SessionhubError as exc:
                    await render(exc)(scope, receive, send)
                    return
                except Exception:
                    log.exception("unexpected error on GET %s", scope["path"])
                    await render(None)(scope, receive, send)
                    return
                _count(self.per_address, address, 1)
                _count(self.per_account, account, 1)
                cycle = scope.get(CYCLE)
                if cycle is not None:
                    response.wire = CycleWire(cycle)
                try:
                    await response(scope, receive, send)
                finally:
                    _count(self.per_address, address, -1)
                    _count(self.per_account, account, -1)
                return
        await self.app(scope, receive, send)

    def _check(self, counts: dict[K, int], key: K, cap: int, kind: str) -> None:
        held = counts.get(key, 0)
        if held >= cap:
            self.notes.note(kind, "stream refused (429): %s %s holds %d streams, the cap", kind, key, held)
            raise RateLimited(f"too many open streams for this {kind} (at most {cap}); retry later", 5)


def _count(counts: dict[K, int], key: K, delta: int) -> None:
    held = counts.get(key, 0) + delta
    if held > 0:
        counts[key] = held
    else:
        counts.pop(key, None)
