"""Webhooks: managing subscriptions, and what the delivery worker (webhooks/delivery.py) asks.

Management (the CLI, later the console): ``create`` (the secret is returned this once), ``list``,
``enable``/``disable``, ``delete``, ``replay`` (move the cursor back), ``deliveries`` (the attempt
log). Each change of a subscription appends a change of topic ``webhooks``, so every process's
worker reloads its list through the change feed, as key caches do on ``keys``.

For the worker: ``pending`` reads a subscription's next changes from the log by seq (its cursor
is durable, so a restarted worker resumes where the last one stopped; at-least-once), ``body``
renders a change as the JSON a receiver gets, and ``record`` writes an attempt to the log and
moves the cursor (success) or counts the failure and, at the limit, disables the subscription,
in one unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from sessionhub.core import webhooks as core
from sessionhub.core.changes import Change, webhooks_topic
from sessionhub.core.errors import InvalidInput, NotFound
from sessionhub.core.webhooks import Attempt, Networks, RetryPolicy, Subscription
from sessionhub.service import snapshots
from sessionhub.service.ports import Clock, Ids, Publisher, Store
from sessionhub.store.webhooks import Webhooks

MAX_PASSINGS = 1000
"""Passings a timing webhook carries; a bigger batch says so (``passings_complete: false``) and the
receiver reads the rest from ``GET /v0/passings/session/{token}``. Bounds a body to ~200 KB."""
PRUNE_EVERY = 64
"""A subscription's log is pruned to ``log_keep`` rows once per this many attempts (so it holds at
most ``log_keep + PRUNE_EVERY`` rows)."""
MAX_LIMIT = 1000
"""Most log rows one ``deliveries`` call returns."""

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class Created:
    subscription: Subscription
    secret: str = field(repr=False)
    """The signing secret: shown once (``list`` never shows it)."""


@dataclass(frozen=True, slots=True)
class Recorded:
    subscription: Subscription | None
    """The subscription after the attempt (None: deleted meanwhile)."""
    moved: bool
    """The cursor moved past the change (False after a success too when a replay moved it first)."""


class WebhookService:
    def __init__(self, store: Store, live: Publisher, clock: Clock, ids: Ids, allowed: Networks,
                 log_keep: int = 1000) -> None:
        self._store, self._live, self._clock, self._ids = store, live, clock, ids
        self.allowed = allowed
        """Networks receivers may be in besides public addresses (Settings.webhook_allow_networks)."""
        self.log_keep = log_keep
        self._logged: dict[int, int] = {}
        """Attempts logged per subscription since its log was last pruned."""

    # management ------------------------------------------------------------------------------

    async def create(self, account: str, url: str, kinds: str) -> Created:
        """Subscribe ``url`` to the account's changes of ``kinds`` (comma-separated names of
        core.webhooks.KINDS) from now on. Raises InvalidInput (URL, kinds, too many subscriptions)."""
        parsed = core.parse_kinds(kinds)
        url = core.check_url(url, self.allowed)
        if not account.strip():
            raise InvalidInput("account name must not be empty", "account")
        secret = core.new_secret(self._ids.hex_token(core.SECRET_BYTES))
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            account_id = await uow.accounts.ensure_account(account, False, now)
            if await uow.webhooks.count_of_account(account_id) >= core.MAX_SUBSCRIPTIONS_PER_ACCOUNT:
                raise InvalidInput(f"an account holds at most {core.MAX_SUBSCRIPTIONS_PER_ACCOUNT} webhook "
                                   "subscriptions", "url")
            head = await uow.accounts.last_seq()
            sid = await uow.webhooks.add(account_id, url, parsed, secret, head, now)
            await uow.accounts.append_change(account_id, webhooks_topic(), now)
            created = await uow.webhooks.subscription(sid)
        await self._live.catch_up()
        assert created is not None
        return Created(created, secret)

    async def subscriptions(self, account: str | None = None) -> list[tuple[str, Subscription]]:
        """(account name, subscription) of one account, or of all; by id."""
        listing = await self._store.reads.webhooks.listing()
        return [(name, s) for name, s in listing if account is None or name == account]

    async def subscription(self, subscription_id: int) -> Subscription:
        """Raises NotFound."""
        found = await self._store.reads.webhooks.subscription(subscription_id)
        if found is None:
            raise NotFound(f"no webhook subscription {subscription_id}", str(subscription_id))
        return found

    async def set_enabled(self, subscription_id: int, enabled: bool, reason: str = "disabled by an operator") -> None:
        """Enable (the failure count starts over, delivery resumes at the cursor: nothing is lost
        while disabled) or disable. Raises NotFound."""
        await self._change(subscription_id, lambda uow: uow.webhooks.enable(subscription_id) if enabled
                           else uow.webhooks.disable(subscription_id, reason))

    async def delete(self, subscription_id: int) -> None:
        """Delete a subscription and its delivery log. Raises NotFound."""
        await self._change(subscription_id, lambda uow: uow.webhooks.delete(subscription_id))

    async def replay(self, subscription_id: int, from_seq: int) -> None:
        """Deliver again every change of the subscription's kinds from seq ``from_seq`` on (the cursor
        moves to ``from_seq - 1``; an attempt in flight finishes, then delivery continues from there).
        Raises NotFound, InvalidInput (a seq below 1 or beyond the log)."""
        if from_seq < 1:
            raise InvalidInput("--from must be a seq of at least 1", "from")
        if from_seq > await self._store.reads.accounts.last_seq() + 1:
            raise InvalidInput(f"seq {from_seq} is beyond the change log's head", "from")
        await self._change(subscription_id, lambda uow: uow.webhooks.set_cursor(subscription_id, from_seq - 1))

    async def _change(self, subscription_id: int, step: Any) -> None:
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            sub = await uow.webhooks.subscription(subscription_id)
            if sub is None or not await step(uow):
                raise NotFound(f"no webhook subscription {subscription_id}", str(subscription_id))
            await uow.accounts.append_change(sub.account_id, webhooks_topic(), now)
        await self._live.catch_up()

    async def deliveries(self, subscription_id: int, limit: int = 50) -> list[Attempt]:
        """The latest ``limit`` (1..MAX_LIMIT) attempts, newest first. Raises NotFound, InvalidInput."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"--limit must be 1 to {MAX_LIMIT}", "limit")
        await self.subscription(subscription_id)
        return await self._store.reads.webhooks.deliveries(subscription_id, limit)

    # the worker's side -------------------------------------------------------------------------

    async def all_subscriptions(self) -> list[Subscription]:
        return await self._store.reads.webhooks.all()

    async def current(self, subscription_id: int) -> Subscription | None:
        return await self._store.reads.webhooks.subscription(subscription_id)

    async def pending(self, sub: Subscription, limit: int) -> tuple[list[Change], int, bool]:
        """The subscription's next changes after its cursor (of at most ``limit`` read), the seq up
        to which the log was looked at (the head, unless the read was ``full``: then its last row),
        and whether it was full. Nothing of its kinds lies between the last change returned and that
        seq, so the cursor may move there (``skip``) once they are delivered."""
        reads = self._store.reads
        head = max(self._live.last_seq, await reads.accounts.last_seq())
        if head <= sub.cursor:
            return [], head, False
        rows = await reads.webhooks.changes_for(sub.account_id, sub.prefixes, sub.cursor, head, limit)
        full = len(rows) >= limit
        upto = rows[-1].seq if full else head
        return [c for c in rows if sub.matches(c.account_id, c.topic)], upto, full

    async def claim(self, subscription_id: int, owner: str, lease_ms: int) -> int | None:
        """Take or renew the subscription's delivery lease for ``owner`` (one deliverer at a time,
        across processes); returns until when (ms) it is held, None when another owner holds it."""
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            held = await uow.webhooks.claim(subscription_id, owner, now + lease_ms, now)
        return now + lease_ms if held else None

    async def release(self, subscription_id: int, owner: str) -> None:
        async with self._store.unit_of_work() as uow:
            await uow.webhooks.release(subscription_id, owner)

    async def skip(self, sub: Subscription, head: int) -> bool:
        """Move the cursor over changes not of its kinds (no log row, no change appended)."""
        async with self._store.unit_of_work() as uow:
            return await uow.webhooks.advance(sub.id, sub.cursor, head)

    async def next_attempt(self, sub: Subscription, seq: int) -> tuple[int, int | None]:
        """The number the next attempt at ``seq`` carries (1 unless earlier attempts are logged) and
        the time (ms) before which it must not be made (None: now)."""
        number, retry_ms = await self._store.reads.webhooks.last_attempt(sub.id, seq)
        return number + 1, retry_ms

    async def record(self, sub: Subscription, attempt: Attempt, policy: RetryPolicy,
                     upto: int | None = None) -> Recorded:
        """Log ``attempt``; on success move the cursor to ``upto`` (default: the attempt's seq), else
        count the failure and disable the subscription once ``policy`` gives up. One unit of work;
        the log is pruned to ``log_keep`` rows every PRUNE_EVERY attempts."""
        moved = False
        async with self._store.unit_of_work() as uow:
            repo = uow.webhooks
            if await repo.subscription(sub.id) is None:
                return Recorded(None, False)  # deleted while the attempt was in flight: nothing to log
            if attempt.ok:
                moved = await repo.advance(sub.id, sub.cursor, upto if upto is not None else attempt.seq)
            else:
                failures = await repo.failed(sub.id)
                if policy.gives_up(failures):
                    attempt = _final(attempt)
                    await repo.disable(sub.id, f"{failures} consecutive failed attempts; last: "
                                       f"{attempt.error or attempt.status}")
                    await uow.accounts.append_change(sub.account_id, webhooks_topic(), attempt.at_ms)
            await repo.log(attempt)
            await self._maybe_prune(repo, sub.id, 1)
            after = await repo.subscription(sub.id)
        if after is not None and not after.enabled:
            await self._live.catch_up()
        return Recorded(after, moved)

    async def delivered(self, sub: Subscription, attempts: list[Attempt], upto: int) -> Recorded:
        """Log a group of successful ``attempts`` (in order) and move the cursor from ``sub.cursor``
        to ``upto``, in one unit of work (the failure count starts over)."""
        async with self._store.unit_of_work() as uow:
            repo = uow.webhooks
            if await repo.subscription(sub.id) is None:
                return Recorded(None, False)
            moved = await repo.advance(sub.id, sub.cursor, upto)
            for attempt in attempts:
                await repo.log(attempt)
            await self._maybe_prune(repo, sub.id, len(attempts))
            after = await repo.subscription(sub.id)
        return Recorded(after, moved)

    async def _maybe_prune(self, repo: Webhooks, subscription_id: int, logged: int) -> None:
        count = self._logged[subscription_id] = self._logged.get(subscription_id, 0) + logged
        if count >= PRUNE_EVERY:
            self._logged[subscription_id] = 0
            await repo.prune(subscription_id, self.log_keep)

    async def body(self, change: Change) -> bytes:
        """The JSON a receiver gets for ``change``: ``type`` (the kind), ``seq``, ``topic``, ``data``."""
        kind = core.kind_of(change.topic)
        data: Any
        if kind == "parking.session":
            data = None if change.data is None else _parking(snapshots.read_parking(change.data))
        elif kind == "timing.session":
            data = None if change.data is None else await self._timing(change.data)
        elif kind == "paging.session":
            event = None if change.data is None else snapshots.read_paging(change.data)
            data = None if event is None or event.session is None else {
                "station": event.station.name, "session": msgspec.to_builtins(event.session),
                "station_time": event.at_ms}
        else:
            data = None
        return _encode({"type": kind, "seq": change.seq, "topic": change.topic, "data": data})

    async def _timing(self, raw: bytes) -> dict[str, Any]:
        got = snapshots.read_timing(raw)
        s = got.session
        out: dict[str, Any] = {"session": {
            "token": s.token, "deviceid": s.deviceid, "alias": s.alias, "created_ms": s.created_ms,
            "closed_ms": s.closed_ms, "passings": s.passings, "first_ms": s.first_ms, "last_ms": s.last_ms}}
        if got.first is None or got.last is None:
            out["event"] = "closed" if s.closed_ms is not None else "opened"
            return out
        last = min(got.last, got.first + MAX_PASSINGS - 1)
        rows = await self._store.reads.timing.passings_of_change(s.id, got.first, last, got.batch)
        out["event"] = "passings"
        out["first"], out["last"] = got.first, got.last
        out["passings_complete"] = last == got.last
        out["passings"] = [r.passing._asdict() for r in rows]
        return out


def _parking(session: Any) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(session)
    out.pop("account_id", None)
    out.pop("seq", None)  # the row's version before this change: the delivery's own seq is the one that counts
    out["state"] = session.state.value
    return out


def _final(a: Attempt) -> Attempt:
    return Attempt(a.subscription_id, a.seq, a.topic, a.attempt, a.status, a.error, a.duration_ms, a.at_ms, None)
