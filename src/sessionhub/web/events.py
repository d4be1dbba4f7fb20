"""``GET /console/events?t=TOPIC...``: the console's own change stream (Server-Sent Events).

A console page is rendered on the server; what makes it live is this stream of the hub's
changes of the topics the page shows (topics as in ``core.changes``, prefixes ending with ``/``),
of the signed-in key's account only. Each event names the change (``id: <seq>``, ``event: change``,
``data: {"topic", "seq"}``, plus ``"session"`` for a parking location's change); the page's script
then fetches the changed region (or that session's row) again, rendered by the same template as the
page (one rendering, never a second one in JavaScript). The dialect
streams (``/v0/.../stream``, ``?patch=1``) take the key in the query string, which a console
must not put in a URL, hence this stream: the cookie is its credential.

Resume: a page passes the seq it was rendered at (``since``) and a reconnecting browser sends
``Last-Event-ID``; a change after that seq is announced at once, so nothing between the render
and the subscription is missed. The stream re-checks the key every heartbeat and ends when it is
revoked. Bounded: at most ``MAX_TOPICS`` topics of ``MAX_TOPIC`` characters.

A share link's live view (web/share.py) uses the same stream for its one object's topic, the share
token its credential and its revocation the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import msgspec
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sessionhub.core.changes import Change, parking_locations_prefix
from sessionhub.core.errors import InvalidInput
from sessionhub.live.hub import ChangeHub, Subscription
from sessionhub.service import snapshots

log = logging.getLogger("sessionhub.web")

MAX_TOPICS = 8
MAX_TOPIC = 200
HEARTBEAT_S = 15.0
TOPIC_ROOTS = ("timing/", "parking/", "paging/")
_LOCATION = parking_locations_prefix()
_encode = msgspec.json.Encoder().encode
_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def parse_topics(values: list[str]) -> tuple[str, ...]:
    """The topics a page asks for. Raises InvalidInput for none, too many, or one outside the domains."""
    if not values or len(values) > MAX_TOPICS:
        raise InvalidInput(f"give 1 to {MAX_TOPICS} topics (t=...)", "t")
    for topic in values:
        if len(topic) > MAX_TOPIC or not topic.startswith(TOPIC_ROOTS) or not topic.isprintable():
            raise InvalidInput(f"not a topic of a console page: {topic[:40]!r}", "t")
    return tuple(dict.fromkeys(values))


def parse_since(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    raw = text.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise InvalidInput("since / Last-Event-ID must be a seq", "since")
    return int(raw)


def _frame(seq: int, topic: str, session: int | None = None) -> bytes:
    doc: dict[str, object] = {"topic": topic, "seq": seq}
    if session is not None:
        doc["session"] = session
    return b"id: %d\nevent: change\ndata: %s\n\n" % (seq, _encode(doc))


def _change_frame(change: Change) -> bytes:
    """A change's event; a parking location's change names its session, so a board can fetch that
    one row instead of the whole board (a garage's board may hold thousands)."""
    session = None
    if change.topic.startswith(_LOCATION) and change.data is not None:
        session = snapshots.read_parking(change.data).id
    return _frame(change.seq, change.topic, session)


class ChangeStream(Response):
    """The response of one console page's change stream."""

    def __init__(self, hub: ChangeHub, account_id: int, topics: tuple[str, ...], since: int | None,
                 still_valid: Callable[[], Awaitable[bool]]) -> None:
        """Changes of ``topics`` of account ``account_id``; ``still_valid()`` is asked on every
        heartbeat (the signed-in key, or a share link, not revoked): False ends the stream."""
        super().__init__(media_type="text/event-stream")
        self.hub, self.account_id, self.still_valid = hub, account_id, still_valid
        self.topics, self.since = topics, since

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sub = self.hub.subscribe(self.account_id, self.topics)
        watcher = asyncio.create_task(_watch_disconnect(receive, sub))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
            await self._run(sub, send)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError as exc:  # the browser went away mid-write
            log.info("console stream ended: %r", exc)
        finally:
            sub.close()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _write(self, send: Send, chunk: bytes) -> None:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def _run(self, sub: Subscription, send: Send) -> None:
        await self._write(send, b"retry: 1000\n\n")
        if self.since is not None:  # announce a change the page has not seen yet
            seq = await self.hub.version(self.account_id, self.topics)
            if seq > self.since:
                await self._write(send, _frame(seq, self.topics[0]))
        while not sub.closed:
            if sub.overflowed:  # far behind: one announcement makes the page fetch everything again
                sub.take()
                await self._write(send, _frame(self.hub.last_seq, self.topics[0]))
            for change in sub.take():
                await self._write(send, _change_frame(change))
            if not sub.ready and not await sub.wait(HEARTBEAT_S):
                if not await self.still_valid():
                    return  # the key (or the share link) was revoked: the page's next request says so
                await self._write(send, b": hb\n\n")


async def _watch_disconnect(receive: Receive, sub: Subscription) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            sub.close()
            return
