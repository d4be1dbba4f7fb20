"""Server-Sent Events: one ASGI response that follows a feed of changes (see docs/live.md).

Wire format (https://html.spec.whatwg.org/multipage/server-sent-events.html):

- every event that reflects a change carries ``id: <seq>`` of that change; a client that reconnects
  with ``Last-Event-ID: <seq>`` (browsers send it by themselves) gets every later change exactly
  once, read back from the store's change log, then follows live;
- a comment line (``: hb``) at most every ``HEARTBEAT_S`` and at least every twice that of silence
  keeps proxies and NATs open and lets either side notice a dead peer (one process-wide timer, ``live.hub.Heartbeat``);
- ``retry: 1000`` at the start asks browsers to reconnect after one second.

Plain mode sends each change's document as it is. Patch mode (``?patch=1``) sends ``event: data``
with the full document first, then ``event: patch`` with an RFC 6902 JSON Patch (made by the
``jsonpatch`` library) that turns the previous document into the new one. When the object is
deleted the stream sends ``event: deleted`` and ends.

A stream holds one hub subscription and one small task that waits for the client's disconnect;
both end with the response, whichever side ends it. Stream steps of one change are computed once
and shared by every subscriber of that change (``Memo``, which also shares a computation in flight).

Fan-out without wake-ups. A plain-mode stream that is parked (caught up, waiting) and has a
``Wire`` (a direct writer to its connection, given by the stream lane, http/streamlane.py) sets
its subscription's ``direct`` hook: the hub's publishing pass then writes the change's shared frame
straight to the connection, for every parked subscriber in one synchronous loop, with no task
woken. A change whose step is not computed yet is computed once (``Memo.soon``) and written to
every subscriber waiting for it in one pass. Anything else (patch mode, a deleted object, a
connection whose writes are paused by flow control because the client stopped reading, a failed
computation) declines, and the stream's task takes over exactly as without the hook: flow control
blocks it, its inbox overflows after ``max_behind`` changes, and it is coalesced to a ``reset``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import jsonpatch
import msgspec
from starlette.types import Receive, Scope, Send

from sessionhub.core.changes import Change
from sessionhub.core.errors import SessionhubError
from sessionhub.http.conditional import watching_disconnect
from sessionhub.live.hub import ChangeHub, Heartbeat, Subscription
from sessionhub.service.replay import Gap, ReplayService

log = logging.getLogger("sessionhub.http")

HEARTBEAT_S = 15.0
BACKLOG_PAGE = 100
_encode = msgspec.json.Encoder().encode
_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # tell a reverse proxy not to buffer the stream
]


@dataclass(frozen=True, slots=True)
class Step:
    """What one change means to a feed."""

    data: bytes
    """The plain-mode event's data (one line of JSON)."""
    merge: Callable[[Any], Any]
    """Patch mode: the previous document -> the new one (must not mutate its argument)."""
    event: str | None = None
    """The plain-mode event name (None: a default ``message`` event)."""
    gone: bool = False
    """The object was deleted: send ``event: deleted`` and end."""
    wire: bytes = b""
    """The plain-mode frame, ``id`` included: encoded once per change, written to every subscriber."""


GONE = Step(b"{}", lambda doc: doc, "deleted", gone=True)
MISS = Step(b"", lambda doc: doc)
"""``Memo.cached``'s answer for a change not computed yet."""


class Feed(Protocol):
    """One stream's view of the change log: a topic, a first document, and a step per change."""

    kind: str
    account_id: int
    topic: str

    async def snapshot(self) -> list[tuple[str | None, Any]]:
        """The current state as events (name, document); usually one. Read without any change of the
        topic slipping in (see ``stable_snapshot``)."""

    async def step(self, change: Change) -> Step | None:
        """What ``change`` of the topic sends; None for nothing (the change still counts as seen)."""

    async def base(self, seq: int) -> Any | None:
        """Patch mode, resuming after ``seq``: the document the client holds, or None when it cannot
        be rebuilt (a list): the stream then starts over with a full document."""


def heartbeat_interval() -> float:
    return HEARTBEAT_S  # read at each tick, so a test may shorten it


class Wire(Protocol):
    """A direct writer of a stream's body (http/streamlane.py): the bytes as one more body chunk of
    the response, written now; False (nothing written) when they cannot be written now (the
    connection's writes are paused by flow control, or it is gone)."""

    def write_now(self, body: bytes) -> bool: ...


StepKey = tuple[str, str, int]


class Memo:
    """Steps by (feed kind, topic, seq), shared by every stream of one process (bounded, FIFO); a
    step being computed is computed once, whoever else asks meanwhile waits for it."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._steps: dict[StepKey, Step | None] = {}
        self._running: dict[StepKey, asyncio.Future[None]] = {}
        self._then: dict[StepKey, list[Callable[[], None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def cached(self, feed: Feed, change: Change) -> Step | None:
        """The step if already computed (None included), else ``MISS`` (no coroutine on the hot path)."""
        return self._steps.get((feed.kind, feed.topic, change.seq), MISS)

    async def step(self, feed: Feed, change: Change) -> Step | None:
        key = (feed.kind, feed.topic, change.seq)
        while key not in self._steps:
            running = self._running.get(key)
            if running is None:
                break
            await asyncio.wait((running,))  # computed by another stream (if it failed: computed here)
        else:
            return self._steps[key]
        done = self._running[key] = asyncio.get_running_loop().create_future()
        try:
            step = await feed.step(change)
            if step is not None and not step.gone:
                step = replace(step, wire=frame(step.data, change.seq, step.event))
            if len(self._steps) >= self._size:
                del self._steps[next(iter(self._steps))]
            self._steps[key] = step
            return step
        finally:
            del self._running[key]
            done.set_result(None)

    def soon(self, feed: Feed, change: Change, then: Callable[[], None]) -> None:
        """Compute the step in a task of its own (once per change and feed), then call ``then`` (and
        every other callback registered for it meanwhile) in one pass; ``then`` is called even when
        the computation failed (``cached`` still answers ``MISS``: the caller's task takes over)."""
        key = (feed.kind, feed.topic, change.seq)
        waiting = self._then.get(key)
        if waiting is not None:
            waiting.append(then)
            return
        self._then[key] = [then]
        task = asyncio.get_running_loop().create_task(self._fill(key, feed, change))
        self._tasks.add(task)  # held until done (the loop keeps only weak references)
        task.add_done_callback(self._tasks.discard)

    async def _fill(self, key: StepKey, feed: Feed, change: Change) -> None:
        try:
            await self.step(feed, change)
        except Exception as exc:  # each waiting stream's own task retries and ends as it would
            log.info("stream step %s failed: %r", key, exc)
        finally:
            for then in self._then.pop(key, ()):
                try:
                    then()
                except Exception:  # one broken stream must not starve the others
                    log.exception("stream delivery failed on %s", key)


def frame(data: bytes, seq: int | None = None, event: str | None = None) -> bytes:
    head = b"" if seq is None else b"id: %d\n" % seq
    if event is not None:
        head += b"event: " + event.encode() + b"\n"
    return head + b"data: " + data + b"\n\n"


async def stable_snapshot(replay: ReplayService, feed: Feed) -> tuple[int, list[tuple[str | None, Any]]]:
    """``feed.snapshot()`` and the seq it reflects: the topic's latest change, read before and after
    (a change committed in between would be both in the document and replayed)."""
    for _ in range(5):
        seq = await replay.version(feed.account_id, feed.topic)
        events = await feed.snapshot()
        if await replay.version(feed.account_id, feed.topic) == seq:
            return seq, events
    return seq, events  # a very busy topic: an event may repeat, none is lost


class EventStream:
    """The ASGI response of one stream. ``last_id``: resume after that seq; ``patch``: JSON Patch mode;
    ``key_id``: the key it was authorized with (revoking it ends the stream); ``max_behind``: changes
    the subscriber may fall behind before it is coalesced (a ``reset`` to the latest state)."""

    wire: Wire | None = None
    """Set by the stream lane when the connection can be written directly (see the module's docstring)."""

    def __init__(self, hub: ChangeHub, replay: ReplayService, memo: Memo, heartbeat: Heartbeat, feed: Feed,
                 last_id: int | None, patch: bool, key_id: int | None = None, max_behind: int = 64) -> None:
        self.hub, self.replay, self.memo, self.heartbeat, self.feed = hub, replay, memo, heartbeat, feed
        self.last_id, self.patch, self.key_id, self.max_behind = last_id, patch, key_id, max_behind
        self._sub: Subscription | None = None
        self._cursor = 0
        """While parked: the seq of the last change delivered (the direct path moves it)."""
        self._awaiting = -1
        """While parked: the seq whose step ``Memo.soon`` is computing for this stream (-1: none)."""
        self._tried = -1
        """The last seq ``Memo.soon`` computed for this stream (a miss after that: it failed)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        feed = self.feed
        sub = self.hub.subscribe(feed.account_id, (feed.topic,), self.key_id, self.max_behind)
        self.heartbeat.add(sub)
        async with watching_disconnect(receive, sub):
            await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
            try:
                await self._run(sub, send)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except (OSError, SessionhubError) as exc:  # the client left mid-write, or the store went away
                log.info("stream %s ended: %r", feed.topic, exc)
            finally:
                self.heartbeat.discard(sub)

    async def _write(self, send: Send, chunk: bytes) -> None:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def _document(self, send: Send, gap: Gap | None) -> tuple[int, Any]:
        """Send the current document (the first events, or a ``reset`` when ``gap`` says why the
        changes in between cannot be replayed); returns its seq and, in patch mode, the document."""
        cursor, events = await stable_snapshot(self.replay, self.feed)
        if gap is not None:
            self.replay.count_reset(gap)
            await self._write(send, b": reset " + gap.value.encode() + b"\n")
        doc: Any = None
        for n, (name, body) in enumerate(events):
            seq = cursor if n == len(events) - 1 else None  # only a complete snapshot is resumable
            if gap is not None and n == 0:
                name = "reset"  # the client drops what it holds and starts from this document
            elif self.patch:
                name = "data" if doc is None else "patch"
            data = self._diff(doc, body) if name == "patch" else _encode(body)
            await self._write(send, frame(data, seq, name))
            doc = body
        return cursor, doc

    async def _run(self, sub: Subscription, send: Send) -> None:
        feed, patch, replay, memo = self.feed, self.patch, self.replay, self.memo
        await self._write(send, b"retry: 1000\n\n")
        doc: Any = None
        backlog, gap = False, None
        if self.last_id is not None:
            gap = await replay.gap(self.last_id)
            backlog = gap is None
            if backlog and patch:
                doc = await feed.base(self.last_id)
                backlog = doc is not None  # a list's old state is not kept: start over (not a gap)
        if backlog:
            assert self.last_id is not None
            cursor = self.last_id
        else:
            cursor, doc = await self._document(send, gap)
        while not sub.closed:
            if backlog:
                sub.take()  # the log holds them too
                changes = await replay.changes_after(feed.account_id, feed.topic, cursor, BACKLOG_PAGE)
                backlog = len(changes) == BACKLOG_PAGE
            elif sub.overflowed:  # fell too far behind: coalesce to the latest state
                sub.take()
                cursor, doc = await self._document(send, Gap.BEHIND)
                continue
            else:
                changes = [c for c in sub.take() if c.seq > cursor]
            out: list[bytes] = []  # the frames of this wake-up, sent at once: one write per wake-up
            for change in changes:
                step = memo.cached(feed, change)
                if step is MISS:
                    step = await memo.step(feed, change)
                cursor = change.seq
                if step is None:
                    continue
                if step.gone:
                    out.append(frame(step.data, cursor, step.event))
                    await self._write(send, b"".join(out))
                    return
                if not patch:  # the hot path of a fan-out: the frame encoded once, shared by every stream
                    out.append(step.wire)
                    continue
                new = step.merge(doc)
                ops = self._diff(doc, new)
                doc = new
                if ops != b"[]":
                    out.append(frame(ops, cursor, "patch"))
            if out:  # under a burst a slower stream wakes for several changes: still one write
                await send({"type": "http.response.body", "body": out[0] if len(out) == 1 else b"".join(out),
                            "more_body": True})
            if not backlog and not sub.ready:
                if self.wire is not None and not patch:  # changes are written in the publisher's pass
                    self._sub, self._cursor, self._awaiting, self._tried = sub, cursor, -1, -1
                    sub.direct = self._deliver
                try:
                    await sub.wait(None)
                finally:
                    sub.direct = None
                    if self._sub is not None:
                        cursor, self._sub = self._cursor, None
            if sub.beat:
                sub.beat = False
                await self._write(send, b": hb\n\n")

    def _deliver(self) -> bool:
        """``Subscription.direct`` of a parked plain-mode stream: write its pending changes' shared
        frames to the connection now, in one write; True when they are written (or wait for a step
        ``Memo.soon`` computes), False to hand them to the stream's task (nothing taken)."""
        sub = self._sub
        if sub is None or sub.closed:
            return False
        memo, feed, cursor = self.memo, self.feed, self._cursor
        out: list[bytes] = []
        done = 0
        for change in sub.pending:
            if change.seq > cursor:
                step = memo.cached(feed, change)
                if step is MISS:
                    if change.seq == self._tried:
                        return False  # its computation failed: the task retries, and ends as it would
                    if self._awaiting != change.seq:
                        self._awaiting = change.seq
                        memo.soon(feed, change, self._computed)
                    break
                if step is not None:
                    if step.gone:
                        break  # the task sends ``deleted`` and ends the stream
                    out.append(step.wire)
                cursor = change.seq
            done += 1
        if out:
            assert self.wire is not None
            if not self.wire.write_now(out[0] if len(out) == 1 else b"".join(out)):
                return False  # paused (a slow reader) or gone: the task's path blocks, overflows, coalesces
        self._cursor = cursor
        del sub.pending[:done]
        if not sub.pending:
            return True
        return self._awaiting == sub.pending[0].seq  # else a deleted object: the task ends the stream

    def _computed(self) -> None:
        """``Memo.soon`` finished the step this parked stream waits for: deliver, or wake the task."""
        sub = self._sub
        if sub is None or sub.direct is None:
            return  # the task took over meanwhile
        self._tried, self._awaiting = self._awaiting, -1
        if not self._deliver():
            sub.kick()

    @staticmethod
    def _diff(old: Any, new: Any) -> bytes:
        return _encode(jsonpatch.make_patch(old, new).patch)
