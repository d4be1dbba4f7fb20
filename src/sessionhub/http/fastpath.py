"""The fast lane: conditional GETs answered from kept renders, before the Starlette stack.

Measured on the 2-core machine (docs/benchmarks.md): a polled GET through the full Starlette stack
(router, mount, route, Request, Response) ran at about half the requests/s of a raw ASGI function
on the same uvicorn. Routing and the Request/Response objects cost more than the lookup itself.

Nothing here is declared twice. The lane's routes are the dialects' own Starlette routes whose
endpoints ``Conditional`` made with ``fast=True`` (found by walking the route table, matched with the
route's own compiled path regex), each with the key rule and topics it was declared with. The lane
answers a GET only when the full stack's answer is already known: the key authenticates and may
read, and the view (http/renders.py) is kept at the resource's current version. It then sends that
body with its ETag, or 304 for a matching ``If-None-Match``, exactly what the full stack would send
(one test runs every fast route through both). Anything else (no key, a bad id, a miss, a
long-poll) goes down the full stack, which decides and renders the answer; a failure the lane did
not expect is logged (at most once per 10 s) and goes the same way.

``answer`` is a plain function of the scope, so the protocol-level lane (http/guard.py) calls it
without building an ASGI request at all.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sessionhub.core.changes import Change, keys_topic
from sessionhub.core.errors import SessionhubError
from sessionhub.http.conditional import FastGet, etag, matches, may_read, view_of
from sessionhub.http.keyrules import header
from sessionhub.http.renders import Renders, View
from sessionhub.http.routing import Mounts
from sessionhub.http.throttled_log import ThrottledLog
from sessionhub.live.hub import ChangeHub

log = logging.getLogger("sessionhub.http")


@dataclass(frozen=True, slots=True)
class FastRoute:
    prefix: str
    """The mount's path (``/v0``); the route's regex matches the rest."""
    route: Route
    spec: FastGet


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
"""(status, headers, body) of a fast answer."""
Known = tuple[int, tuple[str, ...], View]
"""A resolved request: (account id, topics, view)."""
MAX_KNOWN = 10_000


def fast_routes(mounts: Mounts, fast: dict[Any, FastGet]) -> list[FastRoute]:
    """Every GET route of ``mounts`` ((prefix, routes) pairs) whose endpoint is in ``fast``."""
    out = []
    for prefix, routes in mounts:
        for route in routes:
            if isinstance(route, Route) and route.methods and "GET" in route.methods and route.endpoint in fast:
                out.append(FastRoute(prefix, route, fast[route.endpoint]))
    return out


class FastLane:
    """ASGI middleware: answers from kept renders where it can (see the module's docstring)."""

    def __init__(self, app: ASGIApp, routes: Sequence[FastRoute], hub: ChangeHub, renders: Renders) -> None:
        self.app, self.routes, self.hub, self.renders = app, list(routes), hub, renders
        self.notes = ThrottledLog(log)
        self.answered = 0
        self._known: dict[tuple[str, bytes, tuple[tuple[bytes, bytes], ...]], Known] = {}
        """Requests resolved before, by (path, query, headers): the same bytes always resolve alike,
        until a key changes (``on_change``), so a poller's key is hashed and its route matched once."""
        # by mount and first segment after it ("*": a parameter), so a GET tries the two or three that may match
        self._by_head: dict[tuple[str, str], list[FastRoute]] = {}
        for fr in self.routes:
            head = _first(fr.route.path)
            self._by_head.setdefault((fr.prefix, "*" if head.startswith("{") else head), []).append(fr)
        self._prefixes = sorted({fr.prefix for fr in self.routes}, key=len, reverse=True)

    def route_of(self, path: str) -> tuple[FastRoute, dict[str, str]] | None:
        for prefix in self._prefixes:
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):]
            for fr in (*self._by_head.get((prefix, _first(rest)), ()), *self._by_head.get((prefix, "*"), ())):
                match = fr.route.path_regex.match(rest)
                if match is not None:
                    return fr, match.groupdict()
        return None

    async def answer(self, scope: Scope) -> Answer | None:
        """The answer to a GET ``scope`` if the lane can give it, else None (the full stack answers)."""
        if b"wait=" in scope["query_string"]:  # a long-poll: the full stack holds it
            return None
        asked = (scope["path"], scope["query_string"], tuple(scope["headers"]))
        try:
            known = self._known.get(asked)
            if known is None:
                known = await self._resolve(scope)
                if known is None:
                    return None
                if len(self._known) >= MAX_KNOWN:
                    self._known.clear()
                self._known[asked] = known
            account_id, topics, view = known
            version = await self.hub.version(account_id, topics)
            hit = self.renders.peek(view, version)
        except SessionhubError:  # a bad id, a lost database: the full stack meets it again and renders it
            return None
        except Exception as exc:
            self.notes.note("fast", "fast lane fell through on GET %s: %r", scope["path"], exc)
            return None
        if hit is None:
            return None
        self.answered += 1
        tag = etag(version).encode()
        inm = header(scope, b"if-none-match")
        if inm is not None and matches(inm, tag.decode()):
            return 304, [(b"etag", tag)], b""
        return 200, [(b"content-type", hit.media_type), (b"content-length", b"%d" % len(hit.body)),
                     (b"etag", tag)], hit.body

    async def _resolve(self, scope: Scope) -> Known | None:
        """Who asks for what: the route, the key (authenticated, allowed to read), the topics, the view."""
        found = self.route_of(scope["path"])
        if found is None:
            return None
        fr, params = found
        key = await fr.spec.key_of(scope)
        if key is None or not may_read(key):
            return None
        view = view_of(scope, key.account_id)
        if view is None:
            return None
        return key.account_id, tuple(fr.spec.topics_of(params)), view

    def on_change(self, change: Change) -> None:
        """Change-feed hook: any change of a key (an issue, a revocation) forgets every resolved request."""
        if change.topic == keys_topic():
            self._known.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            got = await self.answer(scope)
            if got is not None:
                status, headers, body = got
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _first(path: str) -> str:
    """The first segment of ``path``: ``sessions`` of ``/sessions/{token}``."""
    return path.split("/", 2)[1] if path.count("/") else path


def run_now(coro: Coroutine[Any, Any, Answer | None]) -> tuple[bool, Answer | None]:
    """Run ``coro`` to its end if it never has to wait: (True, its result); else (False, None) and
    ``coro`` is closed (the lane's work is a few dict lookups when it can answer at all; a GET that
    must wait, e.g. for the database, goes the usual way and is done there, GETs being safe)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return True, done.value
    coro.close()
    return False, None
