"""Conditional GETs and long-polls, once for every GET of every HTTP dialect.

A resource's version is the seq of the latest change of the topics it is built from
(``ChangeHub.version``); its ETag is that seq in quotes, a strong validator (the same seq always
means the same bytes). ``conditional(handler, key, topics)`` wraps a GET handler:

1. ``?wait=`` is checked first (1-60 whole seconds, else the dialect's 400).
2. The version is read *before* the handler reads the body, so a body is never older than its ETag
   (a change that slips in between makes the ETag too old, which only costs one more 200).
3. The handler runs in full: it authenticates, authorizes and looks the object up exactly as a plain
   GET does, so a missing object or a key of another account gets the same 401/403/404 and never a
   304, and learns nothing from the ETag.
4. ``If-None-Match`` naming the version (or ``*``) turns the answer into a 304 without a body. With
   ``?wait=N`` too, the request is held until one of the resource's topics changes (then 200 with
   the new body and ETag) or N seconds pass (304). The hold ends early if the client goes away.

Renders are shared (http/renders.py): a 200 is kept with the version it was rendered at and
answers the same view until the version moves, and requests that miss together share one render,
so the long-polls woken by one change render the page once. Only keys that may read share.

Every GET made here (unless ``cached=False``) is also answered from those kept renders by the fast
lane (http/fastpath.py), before this stack; ``fast`` maps each endpoint to its key rule and topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope

from sessionhub.core.access import Key, Operation, authorize
from sessionhub.core.errors import InvalidInput, SessionhubError
from sessionhub.http.renders import Renders, View
from sessionhub.live.hub import ChangeHub, Subscription

WAIT_MIN, WAIT_MAX = 1, 60
CONDITIONAL = "__sessionhub_conditional__"
"""Marks the GETs Conditional wraps (http/openapi.py documents their If-None-Match, ?wait= and 304)."""

Handler = Callable[[Request], Awaitable[Response]]
CheckingHandler = Callable[[Request, bool], Awaitable[Response]]
"""A handler that, called with ``check_only=True``, makes every check of the GET (key, access,
parameters, the object's existence) but reads and renders nothing heavy: a 304 then costs only
those checks (the heavy lists: passings pages, a location's sessions)."""
ScopeKeyOf = Callable[[Scope], Awaitable[Key | None]]
"""A dialect's key rule: the key a request names (headers, query), authenticated; None: none or unknown."""
TopicsOf = Callable[[Mapping[str, str]], Sequence[str]]
"""The topics a resource is built from, from its path parameters (ids checked as the handler checks
them: a bad one raises the core's InvalidInput)."""


def etag(seq: int) -> str:
    return f'"{seq}"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an If-None-Match header names ``tag`` (weak comparison, as RFC 9110 asks for GET)."""
    if if_none_match is None:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == tag:
            return True
    return False


def wait_seconds(raw: str | None) -> int | None:
    """The ``wait`` query parameter: None when absent, else 1-60 whole seconds.

    Raises:
        InvalidInput: anything else (the dialect renders its own 400).
    """
    if raw is None:
        return None
    # the length first: int() of 4,301+ digits raises (CPython's conversion limit), which was a 500
    if not (len(raw) <= 2 and raw.isascii() and raw.isdigit()) or not WAIT_MIN <= int(raw) <= WAIT_MAX:
        raise InvalidInput(f"wait must be a whole number of seconds from {WAIT_MIN} to {WAIT_MAX}", "wait")
    return int(raw)


def not_modified(tag: str) -> Response:
    return Response(status_code=304, headers={"etag": tag})


async def close_on_disconnect(receive: Receive, sub: Subscription) -> None:
    """Close ``sub`` when the client goes away (run as a task beside a held request or a stream)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            sub.close()
            return


@contextlib.asynccontextmanager
async def watching_disconnect(receive: Receive, sub: Subscription) -> AsyncIterator[Subscription]:
    """Within the block, ``sub`` closes as soon as the client disconnects; the watcher task and the
    subscription end with the block."""
    watcher = asyncio.ensure_future(close_on_disconnect(receive, sub))
    try:
        yield sub
    finally:
        sub.close()
        watcher.cancel()


def view_of(scope: Scope, account_id: int) -> View | None:
    """What a GET's answer depends on besides the version: the account, the path and the query (but
    ``wait``, which says how long to hold, not what to answer). None for a request with an
    ``Authorization`` header: a parking user's JWT is checked on every call and expires with time,
    so such an answer is never kept or shared."""
    for name, _ in scope["headers"]:
        if name == b"authorization":
            return None
    query: bytes = scope["query_string"]
    if b"wait=" in query:
        query = b"&".join(part for part in query.split(b"&") if not part.startswith(b"wait="))
    return account_id, scope["path"], query


def may_read(key: Key) -> bool:
    try:
        authorize(key, Operation.READ)
    except SessionhubError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class FastGet:
    """A GET the fast lane may answer from kept renders: its key rule and topics, as declared."""

    key_of: ScopeKeyOf
    topics_of: TopicsOf


class Conditional:
    """Makes conditional, long-pollable versions of a dialect's GET handlers, their renders shared."""

    def __init__(self, hub: ChangeHub, renders: Renders) -> None:
        self.hub, self.renders = hub, renders
        self.fast: dict[Handler, FastGet] = {}
        """The cached GETs, by the endpoint returned (the fast lane finds them in the route table)."""

    def __call__(self, handler: Handler | CheckingHandler, key_of: ScopeKeyOf, topics_of: TopicsOf,
                 checking: bool = False, cached: bool = True) -> Handler:
        """``key_of``: the dialect's key rule, on the raw scope (the fast lane uses it too);
        ``checking``: ``handler`` is a CheckingHandler, so a matching ETag costs only the checks
        (otherwise the handler runs in full and its body is dropped); ``cached``: the answer is a
        function of the view and the version alone, so renders are kept and shared and the fast lane
        may answer it (False for a GET that also depends on the time, e.g. through a JWT's expiry)."""
        hub, renders = self.hub, self.renders
        full = cast(Handler, handler)
        cheap = cast(CheckingHandler, handler) if checking else None

        async def conditional_get(request: Request) -> Response:
            wait = wait_seconds(request.query_params.get("wait"))
            key = await key_of(request.scope)
            if key is None:  # the handler answers 401 in the dialect's words
                return await full(request)
            topics = topics_of(request.path_params)
            inm = request.headers.get("if-none-match")
            view = view_of(request.scope, key.account_id) if cached else None

            async def render_at(version: int) -> Response:
                if view is None or not may_read(key):  # the handler answers (a 403 in the dialect's words)
                    return await full(request)
                return await renders.get(view, version, lambda: full(request))

            if wait is None or inm is None:
                version = await hub.version(key.account_id, topics)
                tag = etag(version)
                if cheap is not None and matches(inm, tag):
                    await cheap(request, True)  # every check of the GET, nothing read
                    return not_modified(tag)
                response = await render_at(version)
                if matches(inm, tag):
                    return not_modified(tag)
                response.headers["etag"] = tag
                return response
            return await _long_poll(hub, request, render_at, full, key, topics, inm, wait)

        functools.update_wrapper(conditional_get, handler)  # keeps the handler's @docs.op
        setattr(conditional_get, CONDITIONAL, True)
        if cached:
            self.fast[conditional_get] = FastGet(key_of, topics_of)
        return conditional_get


async def _long_poll(
    hub: ChangeHub, request: Request, render_at: Callable[[int], Awaitable[Response]], full: Handler, key: Key,
    topics: Sequence[str], inm: str, wait: int,
) -> Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    account_id = key.account_id
    async with watching_disconnect(request.receive, hub.subscribe(account_id, topics, key.id)) as sub:
        version = await hub.version(account_id, topics)  # subscribed first: no change can slip by
        tag = etag(version)
        response = await render_at(version)
        while matches(inm, tag):
            remaining = deadline - loop.time()
            if sub.revoked:  # the key was revoked while held: answer as it now answers (401)
                return await full(request)
            if remaining <= 0 or sub.closed:
                return not_modified(tag)
            await sub.wait(remaining)
            sub.take()
            version = await hub.version(account_id, topics)
            tag = etag(version)
            if not matches(inm, tag):
                response = await render_at(version)
    response.headers["etag"] = tag
    return response
