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

The hottest GETs answer the same way in the fast lane (http/fastpath.py) without this stack.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive

from sessionhub.core.access import Key
from sessionhub.core.errors import InvalidInput
from sessionhub.live.hub import ChangeHub, Subscription

WAIT_MIN, WAIT_MAX = 1, 60

Handler = Callable[[Request], Awaitable[Response]]
CheckingHandler = Callable[[Request, bool], Awaitable[Response]]
"""A handler that, called with ``check_only=True``, makes every check of the GET (key, access,
parameters, the object's existence) but reads and renders nothing heavy: a 304 then costs only
those checks (the heavy lists: passings pages, a location's sessions)."""
KeyOf = Callable[[Request], Awaitable[Key | None]]
TopicsOf = Callable[[Request], Sequence[str]]
"""The topics a resource is built from, from its path (ids checked as the handler checks them)."""


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


class Conditional:
    """Makes conditional, long-pollable versions of a dialect's GET handlers."""

    def __init__(self, hub: ChangeHub) -> None:
        self.hub = hub

    def __call__(self, handler: Handler | CheckingHandler, key_of: KeyOf, topics_of: TopicsOf,
                 checking: bool = False) -> Handler:
        """``checking``: ``handler`` is a CheckingHandler, so a matching ETag costs only the checks
        (otherwise the handler runs in full and its body is dropped)."""
        hub = self.hub
        full = cast(Handler, handler)
        cheap = cast(CheckingHandler, handler) if checking else None

        async def conditional_get(request: Request) -> Response:
            wait = wait_seconds(request.query_params.get("wait"))
            key = await key_of(request)
            if key is None:  # the handler answers 401 in the dialect's words
                return await full(request)
            topics = topics_of(request)
            inm = request.headers.get("if-none-match")
            if wait is None or inm is None:
                tag = etag(await hub.version(key.account_id, topics))
                if cheap is not None and matches(inm, tag):
                    await cheap(request, True)  # every check of the GET, nothing read
                    return not_modified(tag)
                response = await full(request)
                if matches(inm, tag):
                    return not_modified(tag)
                response.headers["etag"] = tag
                return response
            return await _long_poll(hub, request, full, key.account_id, topics, inm, wait)

        return conditional_get


async def _long_poll(
    hub: ChangeHub, request: Request, handler: Handler, account_id: int, topics: Sequence[str], inm: str,
    wait: int,
) -> Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    async with watching_disconnect(request.receive, hub.subscribe(account_id, topics)) as sub:
        tag = etag(await hub.version(account_id, topics))  # subscribed first: no change can slip by
        response = await handler(request)
        while matches(inm, tag):
            remaining = deadline - loop.time()
            if remaining <= 0 or sub.closed:
                return not_modified(tag)
            await sub.wait(remaining)
            sub.take()
            tag = etag(await hub.version(account_id, topics))
            if not matches(inm, tag):
                response = await handler(request)
    response.headers["etag"] = tag
    return response
