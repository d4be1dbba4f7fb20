"""The change hub.

Every committed write appended its changes to the store's change log. The hub reads that log
forward from the last seq it published (``catch_up``) and hands each change, once and in seq
order, to its watchers (body caches that drop stale entries, key caches) and to its subscribers
(SSE streams, long-polls, later CoAP Observe). It is fed from two sides: the services call
``catch_up`` right after each commit (low latency for this process's writes), and the store's
``follow`` calls it for commits of other processes. Because it only ever reads committed rows, no
watcher or subscriber can see a state the store did not keep.

Versions. ``version(account_id, topics)`` is the seq of the latest change of any of ``topics`` (a
topic ending with ``/`` stands for every topic under it, e.g. all devices of an account): the ETag
of a resource built from those topics. The hub keeps a topic -> seq map in memory, filled lazily
from the store (one indexed lookup per topic and process) and moved forward by every change it
publishes, so the hot path is a dict lookup. Forgetting entries is always safe (they reload), so
the map is simply cleared when it grows past ``MAX_VERSIONS``.

Subscriptions. ``subscribe(account_id, topics)`` returns an inbox that collects the changes of
those topics published from then on; the subscriber waits on it (``Subscription.wait``). An inbox
that falls more than its ``limit`` of changes behind (``MAX_PENDING`` unless the subscriber asks for
another) is marked ``overflowed`` and emptied, so a slow subscriber costs bounded memory: a stream
then coalesces (sends the latest state as a ``reset``), a long-poll simply re-reads its version.

Delivery in the publisher's pass. A subscriber that is parked (waiting, nothing to do) may set
``Subscription.direct``: ``push`` then calls it right after appending the change, and when it
answers True (it delivered the pending changes itself, or took charge of them) no waiter is woken.
That is how a change reaches 10,000 idle streams without 10,000 task wake-ups (http/sse.py). When
it answers False the hook is dropped and the subscriber's task is woken as usual, so the inbox,
its overflow and its ordering are the same either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from sessionhub.core.changes import Change, prefixes
from sessionhub.service.ports import Repos

log = logging.getLogger(__name__)

Watcher = Callable[[Change], None]

MAX_VERSIONS = 200_000
MAX_PENDING = 64


class ChangeLog(Protocol):
    async def changes_after(self, seq: int, limit: int = 1000) -> list[Change]: ...

    async def last_seq(self) -> int: ...

    @property
    def reads(self) -> Repos: ...


def _key(account_id: int, topic: str) -> str:
    return f"{account_id} {topic}"


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class Subscription:
    """One subscriber's inbox. Not thread-safe: used on the event loop only."""

    __slots__ = ("_hub", "keys", "key_id", "limit", "pending", "overflowed", "closed", "revoked", "quiet", "beat",
                 "direct", "_waiter")

    def __init__(self, hub: ChangeHub, keys: tuple[str, ...], key_id: int | None = None,
                 limit: int = MAX_PENDING) -> None:
        self._hub = hub
        self.keys = keys
        self.limit = limit
        """Changes the inbox holds before it overflows (drops them all and says so)."""
        self.key_id = key_id
        """The API key the subscriber authenticated with: revoking it closes the subscription."""
        self.pending: list[Change] = []
        self.overflowed = False
        """Changes were dropped: read the log from the last seq delivered."""
        self.closed = False
        self.revoked = False
        """Closed because its key was revoked (a long-poll then answers as the key now does: 401)."""
        self.quiet = False
        """Nothing arrived since the last ``Heartbeat`` tick."""
        self.beat = False
        """A heartbeat is due (set by ``Heartbeat``, cleared by the subscriber)."""
        self.direct: Callable[[], bool] | None = None
        """Set by a parked subscriber: delivers ``pending`` in the publisher's pass (True) or declines
        (False: the hook is dropped and the waiter woken). See the module's docstring."""
        self._waiter: asyncio.Future[None] | None = None

    def push(self, change: Change) -> None:
        if self.overflowed:
            return
        if len(self.pending) >= self.limit:
            self.overflowed = True
            self.pending.clear()
        elif not self.pending or self.pending[-1].seq != change.seq:  # one change may match two keys
            self.pending.append(change)
        self.quiet = False
        direct = self.direct
        if direct is not None and not self.overflowed and direct():
            return
        self.direct = None
        _wake(self._waiter)

    def kick(self) -> None:
        """Wake the waiter: a direct deliverer hands what it could not deliver back to the task."""
        self.direct = None
        _wake(self._waiter)

    def take(self) -> list[Change]:
        """The changes collected since the last ``take`` (in seq order); resets ``overflowed``."""
        out, self.pending, self.overflowed = self.pending, [], False
        return out

    @property
    def ready(self) -> bool:
        return bool(self.pending) or self.overflowed or self.closed

    async def wait(self, timeout: float | None) -> bool:
        """Wait until a change arrives, the subscription closes, a heartbeat is due, or ``timeout``
        seconds pass (None: no timeout, and no timer: thousands of waiting streams then cost no timer
        heap); True unless the time ran out."""
        if self.ready or self.beat:
            return True
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        timer = None if timeout is None else asyncio.get_running_loop().call_later(timeout, _wake, waiter)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None
        return self.ready or self.beat

    def poke(self) -> None:
        """Mark a heartbeat due and wake the waiter."""
        self.beat = True
        _wake(self._waiter)

    def close(self) -> None:
        """Stop collecting (idempotent); a pending ``wait`` returns at once."""
        if not self.closed:
            self.closed = True
            self._hub._unsubscribe(self)
            _wake(self._waiter)


class Heartbeat:
    """One timer for many subscriptions: every ``interval`` seconds, each registered subscription
    that got nothing since the previous tick (or since it was registered) is poked (``beat``), so a
    silent stream sends a heartbeat at least once every two intervals and at most once per interval.
    (A timer per wait cost every change a timer-heap push and pop per subscriber: most of a fan-out's
    CPU at thousands of subscribers.) The ticking task runs only while subscriptions are registered."""

    def __init__(self, interval: Callable[[], float]) -> None:
        self._interval = interval
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, sub: Subscription) -> None:
        sub.quiet = True  # its first event was not a push: the next tick may beat
        self._subs.add(sub)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._tick(), name="stream-heartbeat")

    def discard(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        if not self._subs and self._task is not None:
            self._task.cancel()  # nothing to beat for: no task outlives the last stream
            self._task = None

    async def _tick(self) -> None:
        while self._subs:
            await asyncio.sleep(self._interval())
            for sub in list(self._subs):
                if sub.quiet:
                    sub.poke()
                else:
                    sub.quiet = True


class ChangeHub:
    def __init__(self, changes: ChangeLog) -> None:
        self._log = changes
        self.last_seq = 0
        self._watchers: list[Watcher] = []
        self._versions: dict[str, int] = {}
        self._epoch = 0
        self._subscribers: dict[str, set[Subscription]] = {}
        self._by_key: dict[int, set[Subscription]] = {}
        self.closing = False

    async def start(self) -> None:
        """Begin at the log's end: what was committed before is already in the store's rows."""
        self.last_seq = await self._log.last_seq()

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        """Call ``watcher`` with every change published from now on; returns the undo."""
        self._watchers.append(watcher)
        return lambda: self._watchers.remove(watcher)

    # versions -----------------------------------------------------------------------------------

    async def version(self, account_id: int, topics: Iterable[str]) -> int:
        """The seq of the account's latest committed change of any of ``topics`` (0: none yet)."""
        best = 0
        for topic in topics:
            key = _key(account_id, topic)
            seq = self._versions.get(key)
            if seq is None:
                seq = await self._load(account_id, topic, key)
            if seq > best:
                best = seq
        return best

    async def _load(self, account_id: int, topic: str, key: str) -> int:
        epoch = self._epoch
        seq = await self._log.reads.accounts.last_change_seq(account_id, topic)
        known = self._versions.get(key, 0)  # a change published while we read is newer
        seq = max(seq, known)
        if epoch == self._epoch:
            if len(self._versions) >= MAX_VERSIONS:
                self._versions.clear()
                self._epoch += 1
            self._versions[key] = seq
        return seq

    # subscriptions ------------------------------------------------------------------------------

    def subscribe(self, account_id: int, topics: Iterable[str], key_id: int | None = None,
                  limit: int = MAX_PENDING) -> Subscription:
        """An inbox for the account's changes of ``topics`` (prefixes end with ``/``) from now on;
        ``key_id``: the key it was authorized with (``close_keys`` ends it when that key is revoked);
        ``limit``: how many changes it holds before it overflows."""
        sub = Subscription(self, tuple(_key(account_id, t) for t in topics), key_id, limit)
        if self.closing:
            sub.closed = True
            return sub
        for key in sub.keys:
            self._subscribers.setdefault(key, set()).add(sub)
        if key_id is not None:
            self._by_key.setdefault(key_id, set()).add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        for key in sub.keys:
            subs = self._subscribers.get(key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[key]
        if sub.key_id is not None:
            held = self._by_key.get(sub.key_id)
            if held is not None:
                held.discard(sub)
                if not held:
                    del self._by_key[sub.key_id]

    @property
    def key_ids(self) -> set[int]:
        """The keys that hold at least one open subscription."""
        return set(self._by_key)

    def close_keys(self, key_ids: Iterable[int]) -> int:
        """Close every subscription held by one of ``key_ids`` (revoked keys), marked ``revoked``;
        returns how many were closed."""
        closed = 0
        for key_id in key_ids:
            for sub in list(self._by_key.get(key_id, ())):
                sub.revoked = True
                sub.close()
                closed += 1
        return closed

    def close_all(self) -> None:
        """Close every subscription, now and from now on: streams and long-polls end, so a server
        that is stopping is not held open by its subscribers."""
        self.closing = True
        for subs in list(self._subscribers.values()):
            for sub in list(subs):
                sub.close()

    def subscribers_of(self, account_id: int, topic: str) -> list[Subscription]:
        """The open subscriptions of exactly ``topic`` (for tests and a server's status)."""
        return list(self._subscribers.get(_key(account_id, topic), ()))

    @property
    def subscriber_count(self) -> int:
        """Distinct open subscriptions (for tests and the status of a server)."""
        return len({id(s) for subs in self._subscribers.values() for s in subs})

    # publishing ---------------------------------------------------------------------------------

    def _publish(self, change: Change) -> None:
        versions, subscribers, account = self._versions, self._subscribers, change.account_id
        for topic in (change.topic, *prefixes(change.topic)):
            key = _key(account, topic)
            versions[key] = change.seq
            subs = subscribers.get(key)
            if subs:
                for sub in subs:
                    sub.push(change)
        if len(versions) >= MAX_VERSIONS:
            versions.clear()
            self._epoch += 1
        for watcher in list(self._watchers):
            try:
                watcher(change)
            except Exception:  # one broken watcher must not starve the others
                log.exception("change watcher failed on %s", change)

    async def catch_up(self) -> None:
        """Publish every change committed after ``last_seq``. Safe to call concurrently."""
        while True:
            batch = await self._log.changes_after(self.last_seq)
            for change in batch:
                if change.seq <= self.last_seq:  # a concurrent catch_up published it already
                    continue
                self.last_seq = change.seq
                self._publish(change)
            if len(batch) < 1000:
                return
