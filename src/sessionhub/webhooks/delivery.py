"""The webhook delivery worker: one loop per enabled subscription, each a cursor on the change log.

- **Durable, at-least-once.** A loop reads its subscription's changes after the stored cursor
  (``WebhookService.pending``), POSTs each, and moves the cursor only past changes the receiver
  answered 2xx (with their log rows, one unit of work per group of up to FLUSH_EVERY deliveries).
  A crash before that commit delivers the group again after the restart, with the same
  ``webhook-id`` each.
- **In order.** One request in flight per subscription, changes in seq order; a change is retried
  until it is delivered (or the subscription is disabled) before the next one is sent. So every
  topic's changes arrive in order; a failing receiver holds back only its own subscription.
- **Bounded.** A global semaphore caps concurrent requests (``webhook_concurrency``) so slow
  receivers cannot take every slot, each attempt has a total deadline (``webhook_timeout``: connect,
  send, status, body), at most ``MAX_RESPONSE_BYTES`` of a response body are read (then the
  connection is dropped), redirects are not followed (a 3xx is a failure), and every connection
  goes through ``guard.GuardedBackend`` (no loopback or private address unless allowed).
- **Retries** wait ``RetryPolicy.delay`` (exponential, capped, jittered); ``max_failures`` consecutive
  failures disable the subscription (``sessionhub webhooks enable`` resumes it at its cursor).
- **Wake-ups.** The change hub's watcher (``on_change``) wakes the loops of the account's matching
  subscriptions at once; each loop also looks every ``poll_s`` seconds (changes committed by another
  process reach this one's hub through the change feed too). A change of topic ``webhooks`` (a
  subscription created, disabled, replayed, deleted, from any process) reloads the list.
- **One deliverer per subscription**, across processes and hosts sharing a database: a loop delivers
  only while it holds the subscription's lease (``lease_owner``/``lease_until_ms``, LEASE_S, renewed
  at half-life, released on stop). The others look again every ``poll_s`` and take over a lease
  that ran out (a process that died). Hosts' clocks must agree to well within LEASE_S. A process
  paused longer than its lease may overlap the next holder for one attempt; the cursor's
  compare-and-set (``Webhooks.advance``) then keeps the cursor right, and the receiver's
  idempotency key absorbs the duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from time import perf_counter

import httpcore

from sessionhub.core import webhooks as core
from sessionhub.core.changes import Change, webhooks_topic
from sessionhub.core.errors import InvalidInput
from sessionhub.core.webhooks import Attempt, DeliveryStats, Networks, RetryPolicy, Subscription
from sessionhub.service.ports import Clock
from sessionhub.service.webhooks import WebhookService
from sessionhub.webhooks.guard import GuardedBackend, Refused

log = logging.getLogger("sessionhub.webhooks")

MAX_RESPONSE_BYTES = 4096
"""Of a receiver's response body, at most this much is read (and thrown away): only the status counts."""
ERROR_MAX = 300
"""Characters of an error message kept in the log."""
BATCH = 100
"""Changes read from the log per look."""
LEASE_S = 30
"""A delivering process holds a subscription for this long, renewed while it delivers; a process
that died is taken over by another this long after its last renewal."""
FLUSH_EVERY = 32
FLUSH_S = 0.5
"""Delivered changes are committed (log rows, cursor) in groups of at most this many, or this old."""
SKIP_AFTER = 1000
"""Move an idle cursor over changes not of its kinds once it is this far behind the head (one write)."""


class Delivery:
    def __init__(self, service: WebhookService, clock: Clock, policy: RetryPolicy, *, timeout_s: float,
                 concurrency: int, allowed: Networks, owner: str, poll_s: float = 5.0,
                 jitter: Callable[[], float] = random.random) -> None:
        """``owner``: this process's name on the leases it takes (random, unique per process)."""
        if timeout_s <= 0 or concurrency < 1:
            raise ValueError("webhook timeout must be positive and concurrency at least 1")
        self._service, self._clock, self.policy = service, clock, policy
        self.timeout_s, self.concurrency, self.poll_s = timeout_s, concurrency, poll_s
        self._allowed, self._jitter, self.owner = allowed, jitter, owner
        self._held: dict[int, int] = {}
        """Subscription id -> until when (ms) this process holds its delivery lease."""
        self.stats = DeliveryStats()
        self._pool: httpcore.AsyncConnectionPool | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._loops: dict[int, asyncio.Task[None]] = {}
        self._wake: dict[int, asyncio.Event] = {}
        """Per loop: a change of its kinds was published (or a reload)."""
        self._kick: dict[int, asyncio.Event] = {}
        """Per loop: its subscription may have changed (a reload): a back-off re-reads it."""
        self._subs: dict[int, Subscription] = {}
        self._by_account: dict[int, list[Subscription]] = {}
        self._reload = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None

    # lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            max_connections=self.concurrency, keepalive_expiry=30.0, retries=0,
            network_backend=GuardedBackend(self._allowed))
        self._reload.set()
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise(), name="webhooks")

    async def stop(self) -> None:
        tasks = [t for t in (self._supervisor, *self._loops.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops.clear()
        self._supervisor = None
        for sid in list(self._held):  # another process may take over at once, not after the lease runs out
            with contextlib.suppress(Exception):
                await self._service.release(sid, self.owner)
        self._held.clear()
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    def on_change(self, change: Change) -> None:
        """Change-hub watcher: wake the loops this change is for; reload on a subscription change."""
        if change.topic == webhooks_topic():
            self._reload.set()
            return
        for sub in self._by_account.get(change.account_id, ()):
            if sub.matches(change.account_id, change.topic):
                wake = self._wake.get(sub.id)
                if wake is not None:
                    wake.set()

    async def _supervise(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s * 4):
                    await self._reload.wait()
            self._reload.clear()
            try:
                await self._sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook subscriptions could not be loaded; retrying")
                await asyncio.sleep(self.poll_s)
                self._reload.set()

    async def _sync(self) -> None:
        """Run one loop per enabled subscription; end the loops of disabled and deleted ones."""
        subs = await self._service.all_subscriptions()
        self._subs = {s.id: s for s in subs if s.enabled}
        self._by_account = {}
        for s in self._subs.values():
            self._by_account.setdefault(s.account_id, []).append(s)
        self.stats.disabled = sum(not s.enabled for s in subs)
        self.stats.active = len(self._subs)
        for sid in list(self._loops):
            if self._loops[sid].done():
                self._loops.pop(sid)
                self._wake.pop(sid, None)
                self._kick.pop(sid, None)
            elif sid not in self._subs:
                self._kick[sid].set()  # it ends by itself (after an attempt in flight), its stats counted
                self._wake[sid].set()
        for sid in self._subs:
            if sid not in self._loops:
                self._wake[sid], self._kick[sid] = asyncio.Event(), asyncio.Event()
                self._loops[sid] = asyncio.get_running_loop().create_task(self._run(sid), name=f"webhook-{sid}")
            else:
                self._kick[sid].set()  # a replay may have moved its cursor
                self._wake[sid].set()

    async def _pause(self, sub: Subscription, seconds: float) -> bool:
        """Sleep a back-off, renewing the lease; False (stop now) if the subscription is disabled,
        deleted or replayed meanwhile (a reload kicks the loop; an unchanged subscription sleeps on),
        or its lease was lost."""
        kick = self._kick[sub.id]
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return True
            kick.clear()
            try:
                async with asyncio.timeout(min(left, LEASE_S / 2)):
                    await kick.wait()
            except TimeoutError:
                if not await self._hold(sub.id):  # a long back-off keeps its lease
                    return False
                continue
            now = await self._service.current(sub.id)
            if now is None or not now.enabled or now.cursor != sub.cursor or sub.id not in self._subs:
                return False

    # one subscription ------------------------------------------------------------------------

    async def _run(self, sid: int) -> None:
        wake = self._wake[sid]
        while True:
            try:
                wake.clear()  # before reading: a change committed after this wakes the wait below
                sub = await self._service.current(sid)
                if sub is None or not sub.enabled:
                    self._reload.set()
                    return
                if not await self._hold(sid):  # another process delivers it: look again later
                    await asyncio.sleep(self.poll_s)
                    continue
                changes, upto, full = await self._service.pending(sub, BATCH)
                if not changes:
                    if full or upto - sub.cursor >= SKIP_AFTER:  # a page of other changes: step over it
                        await self._service.skip(sub, upto)
                        continue
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.poll_s):
                            await wake.wait()
                    continue
                await self._deliver_all(sub, changes, upto)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook subscription %d: delivery loop failed; retrying", sid)
                await asyncio.sleep(self.poll_s)

    async def _deliver_all(self, sub: Subscription, changes: list[Change], head: int) -> None:
        """Deliver ``changes`` in order. Successes are committed in groups (log rows and the cursor in
        one unit of work per FLUSH_EVERY deliveries, or FLUSH_S seconds, or the end of the batch, or
        before a failure is recorded): a crash re-sends at most that group (at-least-once), and the
        cursor does not cost one commit (an fsync on SQLite) per delivery."""
        done: list[Attempt] = []
        current = [sub]
        try:
            await self._deliver_group(current, changes, head, done)
        except asyncio.CancelledError:  # stopping: commit what was delivered, so a restart does not resend it
            if done:
                with contextlib.suppress(Exception):
                    await self._flush(current[0], done, done[-1].seq)
            raise

    async def _deliver_group(self, current: list[Subscription], changes: list[Change], head: int,
                             done: list[Attempt]) -> None:
        """``_deliver_all``'s loop; ``current[0]`` is the subscription as of its last commit."""
        sub = current[0]
        since = 0.0
        for i, change in enumerate(changes):
            # the last may carry the cursor to where the log was read: nothing of its kinds is between
            upto = head if i == len(changes) - 1 else change.seq
            got = await self._deliver(sub, change, done)
            if got is None:
                return  # disabled, deleted or replayed meanwhile: the caller reads it again
            attempt, sub = got  # (a failure on the way committed the group before it: a newer cursor)
            current[0] = sub
            if not done:
                since = perf_counter()
            done.append(attempt)
            if len(done) >= FLUSH_EVERY or perf_counter() - since >= FLUSH_S or i == len(changes) - 1:
                after = await self._flush(sub, done, upto)
                if after is None:
                    return
                sub = current[0] = after

    async def _flush(self, sub: Subscription, done: list[Attempt], upto: int) -> Subscription | None:
        """Commit the delivered ``done`` (emptied) and move the cursor to ``upto``; the subscription
        after it, None when its cursor was moved meanwhile (a replay) or it is gone."""
        if not done:
            return sub
        recorded = await self._service.delivered(sub, list(done), upto)
        done.clear()
        return recorded.subscription if recorded.moved else None

    async def _deliver(self, sub: Subscription, change: Change,
                       done: list[Attempt]) -> tuple[Attempt, Subscription] | None:
        """POST one change until the receiver answers 2xx; returns that attempt (for the caller to
        commit with its group) and the subscription as it is now, or None: stop (disabled, deleted, or
        replayed meanwhile). Failures are recorded at once, after the group delivered before them."""
        body = await self._service.body(change)
        number, not_before_ms = await self._service.next_attempt(sub, change.seq)
        if not_before_ms is not None and sub.failures:  # a back-off a previous run began (not: re-enabled)
            if not await self._pause(sub, max(0.0, (not_before_ms - self._clock.now_ms()) / 1000)):
                return None
        while True:
            if sub.id not in self._subs:
                return None  # disabled or deleted (the last reload says so): send nothing more
            if not await self._hold(sub.id):
                return None  # the lease ran out (a long back-off) and another process took it over
            status, error, outcome, seconds = await self._post(sub, change.seq, body)
            now = self._clock.now_ms()
            self.stats.attempt(outcome, seconds, number > 1)
            ok = status is not None and 200 <= status < 300
            if ok:
                return Attempt(sub.id, change.seq, change.topic, number, status, None, round(seconds * 1000), now,
                               None), sub
            if done:
                flushed = await self._flush(sub, done, done[-1].seq)
                if flushed is None:
                    return None
                sub = flushed
            delay = self.policy.delay(number, self._jitter())
            attempt = Attempt(sub.id, change.seq, change.topic, number, status, error, round(seconds * 1000), now,
                              now + round(delay * 1000))
            after = (await self._service.record(sub, attempt, self.policy)).subscription
            if after is None or not after.enabled:
                if after is not None:
                    self.stats.disabled_total += 1
                    log.warning("webhook subscription %d disabled: %s", sub.id, after.disabled_reason)
                self._reload.set()
                return None
            if after.cursor != sub.cursor or not await self._pause(after, delay):
                return None  # replayed, disabled or deleted meanwhile
            sub, number = after, number + 1

    async def _hold(self, sid: int) -> bool:
        """Whether this process holds the subscription's lease, renewing it when less than half of
        it is left (one write per LEASE_S / 2 per subscription)."""
        if self._clock.now_ms() < self._held.get(sid, 0) - LEASE_S * 500:
            return True
        until = await self._service.claim(sid, self.owner, LEASE_S * 1000)
        if until is None:
            self._held.pop(sid, None)
            return False
        self._held[sid] = until
        return True

    async def _post(self, sub: Subscription, seq: int, body: bytes) -> tuple[int | None, str | None, str, float]:
        """One attempt: (status, error, outcome, seconds). Never raises for the receiver's failures."""
        assert self._pool is not None, "Delivery.start() first"
        async with self._slots:
            start = perf_counter()
            try:
                url = core.check_url(sub.url, self._allowed)  # the operator's allowed networks may have shrunk
                headers = core.headers(sub.secret, seq, self._clock.now_ms() // 1000, body)
                status = await self._send(url, headers, body)
            except InvalidInput as exc:
                return None, _short(exc.message), "refused", perf_counter() - start
            except Refused as exc:
                return None, _short(str(exc)), "refused", perf_counter() - start
            except (TimeoutError, httpcore.TimeoutException):
                return None, f"timed out after {self.timeout_s:g} s", "timeout", perf_counter() - start
            except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError) as exc:
                return None, _short(f"{type(exc).__name__}: {exc}"), "network_error", perf_counter() - start
            seconds = perf_counter() - start
        if 200 <= status < 300:
            return status, None, "delivered", seconds
        return status, None, "http_error", seconds

    async def _send(self, url: str, headers: list[tuple[str, str]], body: bytes) -> int:
        assert self._pool is not None
        connect = min(self.timeout_s, 5.0)
        timeouts = {"connect": connect, "read": self.timeout_s, "write": self.timeout_s, "pool": self.timeout_s}
        async with asyncio.timeout(self.timeout_s):  # the whole attempt, a trickling receiver included
            async with self._pool.stream("POST", url, headers=headers, content=body,
                                         extensions={"timeout": timeouts}) as response:
                read = 0
                async for chunk in response.aiter_stream():
                    read += len(chunk)
                    if read >= MAX_RESPONSE_BYTES:
                        break  # the rest is not read: the connection is closed, not reused
                return int(response.status)


def _short(text: str) -> str:
    return text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…"
