"""Webhooks: tables ``webhook_subscriptions`` (each with its durable cursor on the change log) and
``webhook_deliveries`` (the attempt log, pruned per subscription). Written once (see db.py).

A subscription's cursor moves only forward from where the worker read it (``advance`` names the
cursor it expects, so a replay or another process moving it meanwhile makes the advance a no-op
instead of skipping the replayed changes).
"""

from __future__ import annotations

from sessionhub.core.changes import Change
from sessionhub.core.webhooks import Attempt, Subscription
from sessionhub.store.db import Db, Row

_COLS = "id, account_id, url, kinds, secret, enabled, failures, cursor_seq, created_ms, disabled_reason"
_ADD = (
    "INSERT INTO webhook_subscriptions (account_id, url, kinds, secret, enabled, failures, cursor_seq, created_ms)"
    " VALUES ($1, $2, $3, $4, $5, 0, $6, $7) RETURNING id"
)
_ONE = f"SELECT {_COLS} FROM webhook_subscriptions WHERE id = $1"
_ALL = f"SELECT {_COLS} FROM webhook_subscriptions ORDER BY id"
_OF_ACCOUNT = f"SELECT {_COLS} FROM webhook_subscriptions WHERE account_id = $1 ORDER BY id"
_LISTING = (
    "SELECT a.name, " + ", ".join(f"s.{c}" for c in _COLS.split(", "))
    + " FROM webhook_subscriptions s JOIN accounts a ON a.id = s.account_id ORDER BY s.id"
)
_COUNT_OF_ACCOUNT = "SELECT count(*) FROM webhook_subscriptions WHERE account_id = $1"
_ENABLE = "UPDATE webhook_subscriptions SET enabled = $2, failures = 0, disabled_reason = NULL WHERE id = $1"
_DISABLE = "UPDATE webhook_subscriptions SET enabled = $2, disabled_reason = $3 WHERE id = $1"
_DELETE = "DELETE FROM webhook_subscriptions WHERE id = $1"
_SET_CURSOR = "UPDATE webhook_subscriptions SET cursor_seq = $2 WHERE id = $1"
_ADVANCE = (
    "UPDATE webhook_subscriptions SET cursor_seq = $3, failures = 0 WHERE id = $1 AND cursor_seq = $2"
)
_CLAIM = (
    "UPDATE webhook_subscriptions SET lease_owner = $2, lease_until_ms = $3"
    " WHERE id = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until_ms < $4)"
)
_RELEASE = (
    "UPDATE webhook_subscriptions SET lease_owner = NULL, lease_until_ms = NULL WHERE id = $1 AND lease_owner = $2"
)
_FAILED = "UPDATE webhook_subscriptions SET failures = failures + 1 WHERE id = $1 RETURNING failures"
_LOG = (
    "INSERT INTO webhook_deliveries (subscription_id, seq, topic, attempt, status, error, duration_ms, at_ms,"
    " next_retry_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
_DELIVERIES = (
    "SELECT subscription_id, seq, topic, attempt, status, error, duration_ms, at_ms, next_retry_ms"
    " FROM webhook_deliveries WHERE subscription_id = $1 ORDER BY id DESC LIMIT $2"
)
_LAST_ATTEMPT = (
    "SELECT attempt, next_retry_ms FROM webhook_deliveries WHERE subscription_id = $1 AND seq = $2"
    " ORDER BY id DESC LIMIT 1"
)
_PRUNE = (
    "DELETE FROM webhook_deliveries WHERE subscription_id = $1 AND id <= ("
    " SELECT id FROM webhook_deliveries WHERE subscription_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)"
)
# The log read forward from a cursor by seq (the primary key: what it costs is the changes since the
# cursor, never the account's whole history), up to ``upto`` (the head when the worker looked), for
# up to three topic prefixes (a shorter list repeats its first). "0" is the character after "/".
_TOPIC_RANGE = 'topic COLLATE "C" >= ${} AND topic COLLATE "C" < ${}'
_CHANGES_FOR = (
    "SELECT seq, account_id, topic, data FROM changes WHERE seq > $1 AND seq <= $2 AND account_id = $3 AND ("
    + " OR ".join(_TOPIC_RANGE.format(a, a + 1) for a in (5, 7, 9)) + ") ORDER BY seq LIMIT $4"
)
MAX_PREFIXES = 3


def _subscription(r: Row) -> Subscription:
    return Subscription(r[0], r[1], r[2], tuple(k for k in r[3].split(",") if k), r[4], bool(r[5]), r[6], r[7],
                        r[8], r[9])


class Webhooks:
    """Subscriptions, their cursors, and the delivery log."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def add(self, account_id: int, url: str, kinds: tuple[str, ...], secret: str, cursor: int,
                  now_ms: int) -> int:
        return int(await self._db.value(_ADD, account_id, url, ",".join(kinds), secret, True, cursor, now_ms))

    async def subscription(self, subscription_id: int) -> Subscription | None:
        row = await self._db.one(_ONE, subscription_id)
        return None if row is None else _subscription(row)

    async def all(self) -> list[Subscription]:
        """Every subscription, enabled or not, by id."""
        return [_subscription(r) for r in await self._db.all(_ALL)]

    async def of_account(self, account_id: int) -> list[Subscription]:
        return [_subscription(r) for r in await self._db.all(_OF_ACCOUNT, account_id)]

    async def listing(self) -> list[tuple[str, Subscription]]:
        """(account name, subscription) of every subscription, by id."""
        return [(r[0], _subscription(r[1:])) for r in await self._db.all(_LISTING)]

    async def count_of_account(self, account_id: int) -> int:
        return int(await self._db.value(_COUNT_OF_ACCOUNT, account_id))

    async def enable(self, subscription_id: int) -> bool:
        """Enable (again): the failure count starts over; delivery resumes at the cursor."""
        return await self._db.run(_ENABLE, subscription_id, True) > 0

    async def disable(self, subscription_id: int, reason: str) -> bool:
        return await self._db.run(_DISABLE, subscription_id, False, reason) > 0

    async def delete(self, subscription_id: int) -> bool:
        """Delete a subscription and its log."""
        return await self._db.run(_DELETE, subscription_id) > 0

    async def set_cursor(self, subscription_id: int, seq: int) -> bool:
        """Move the cursor anywhere (replay: back; the changes after ``seq`` are delivered again)."""
        return await self._db.run(_SET_CURSOR, subscription_id, seq) > 0

    async def advance(self, subscription_id: int, expected: int, seq: int) -> bool:
        """Move the cursor from ``expected`` to ``seq`` and zero the failure count; False (nothing
        done) when the cursor is no longer ``expected`` (replayed or deleted meanwhile)."""
        return await self._db.run(_ADVANCE, subscription_id, expected, seq) > 0

    async def claim(self, subscription_id: int, owner: str, until_ms: int, now_ms: int) -> bool:
        """Hold the subscription's delivery lease for ``owner`` until ``until_ms`` (renewing it), unless
        another owner holds a lease that has not expired at ``now_ms``."""
        return await self._db.run(_CLAIM, subscription_id, owner, until_ms, now_ms) > 0

    async def release(self, subscription_id: int, owner: str) -> bool:
        """Give the lease up (only ``owner``'s)."""
        return await self._db.run(_RELEASE, subscription_id, owner) > 0

    async def failed(self, subscription_id: int) -> int:
        """Count one more consecutive failure; returns the count (0: no such subscription)."""
        return int(await self._db.value(_FAILED, subscription_id) or 0)

    async def log(self, a: Attempt) -> None:
        await self._db.run(_LOG, a.subscription_id, a.seq, a.topic, a.attempt, a.status, a.error, a.duration_ms,
                           a.at_ms, a.next_retry_ms)

    async def deliveries(self, subscription_id: int, limit: int) -> list[Attempt]:
        """The latest ``limit`` attempts, newest first."""
        return [Attempt(*r) for r in await self._db.all(_DELIVERIES, subscription_id, limit)]

    async def last_attempt(self, subscription_id: int, seq: int) -> tuple[int, int | None]:
        """The number of the latest logged attempt at ``seq`` (0: none) and when it was to be retried,
        so a restarted worker counts on and keeps the back-off."""
        row = await self._db.one(_LAST_ATTEMPT, subscription_id, seq)
        return (0, None) if row is None else (int(row[0]), row[1])

    async def prune(self, subscription_id: int, keep: int) -> int:
        """Drop all but the latest ``keep`` attempts of a subscription; returns how many went."""
        return await self._db.run(_PRUNE, subscription_id, keep)

    async def changes_for(self, account_id: int, prefixes: tuple[str, ...], after: int, upto: int,
                          limit: int) -> list[Change]:
        """The account's committed changes under any of ``prefixes`` (at most MAX_PREFIXES, each
        ending with ``/``) with ``after < seq <= upto``, in seq order, at most ``limit``."""
        if not 1 <= len(prefixes) <= MAX_PREFIXES:
            raise ValueError(f"1 to {MAX_PREFIXES} topic prefixes")
        padded = (*prefixes, *(prefixes[0],) * (MAX_PREFIXES - len(prefixes)))
        bounds = [b for p in padded for b in (p, p[:-1] + "0")]
        rows = await self._db.all(_CHANGES_FOR, after, upto, account_id, limit, *bounds)
        return [Change(r[0], r[1], r[2], r[3]) for r in rows]
