"""Accounts, keys and the change log on PostgreSQL.

The change log's seqs come from the one row of ``change_counter``. The first change a transaction
appends locks that row (``UPDATE ... RETURNING``) until the transaction commits or rolls back, so:

- seqs are handed out in commit order: a reader that sees seq N committed also sees every seq
  below N (whoever held N-1 committed before N could be allocated), and never skips one that
  commits later — the hazard of a plain SEQUENCE, whose values are taken before commit;
- a rollback returns its seqs with the counter (no gaps);
- writers of different objects still run in parallel up to their first change; only the tail of
  each transaction (its last writes and the commit) is serialised. See docs/postgres.md.
"""

from __future__ import annotations

from sessionhub.core.access import Access, Key
from sessionhub.core.changes import Change
from sessionhub.store.postgres_db import Db, rowcount


class PgAccounts:
    """Accounts, keys and the change log, on the pool (reads) or on a unit of work's connection."""

    def __init__(self, db: Db) -> None:
        self._db = db
        self.max_seq = 0
        """The highest seq this unit of work appended (0: none), for its one notification."""

    async def account_id(self, name: str) -> int | None:
        found = await self._db.fetchval("SELECT id FROM accounts WHERE name = $1", name)
        return None if found is None else int(found)

    async def ensure_account(self, name: str, is_test: bool, now_ms: int) -> int:
        found = await self._db.fetchval(
            "INSERT INTO accounts (name, is_test, created_ms) VALUES ($1, $2, $3)"
            " ON CONFLICT (name) DO UPDATE SET is_test = accounts.is_test OR excluded.is_test RETURNING id",
            name, is_test, now_ms,
        )
        return int(found)

    async def key(self, key_hash: str) -> Key | None:
        row = await self._db.fetchrow(
            "SELECT k.id, k.account_id, k.access, k.unbind, k.alias, a.is_test FROM api_keys k"
            " JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = $1 AND k.revoked_ms IS NULL",
            key_hash,
        )
        if row is None:
            return None
        return Key(row[0], row[1], Access(row[2]), row[3], row[4], row[5])

    async def add_key(
        self, account_id: int, key_hash: str, access: Access, unbind: bool, alias: str, now_ms: int
    ) -> int:
        found = await self._db.fetchval(
            "INSERT INTO api_keys (account_id, key_hash, access, unbind, alias, created_ms)"
            " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            account_id, key_hash, access.value, unbind, alias, now_ms,
        )
        return int(found)

    async def keys(self) -> list[tuple[int, str, str, bool, str, int, int | None]]:
        rows = await self._db.fetch(
            "SELECT k.id, a.name, k.access, k.unbind, k.alias, k.created_ms, k.revoked_ms"
            " FROM api_keys k JOIN accounts a ON a.id = k.account_id ORDER BY k.id"
        )
        return [(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]

    async def revoke_key(self, key_hash: str, now_ms: int) -> bool:
        status = await self._db.execute(
            "UPDATE api_keys SET revoked_ms = $1 WHERE key_hash = $2 AND revoked_ms IS NULL", now_ms, key_hash
        )
        return rowcount(status) > 0

    async def revoke_alias(self, account_id: int, alias: str, now_ms: int) -> int:
        status = await self._db.execute(
            "UPDATE api_keys SET revoked_ms = $1 WHERE account_id = $2 AND alias = $3 AND revoked_ms IS NULL",
            now_ms, account_id, alias,
        )
        return rowcount(status)

    async def append_change(self, account_id: int, topic: str, now_ms: int, data: bytes | None = None) -> int:
        """Append a change and return its seq (see the module docstring for why it cannot be skipped)."""
        seq = int(await self._db.fetchval(
            "WITH next AS (UPDATE change_counter SET last_seq = last_seq + 1 RETURNING last_seq)"
            " INSERT INTO changes (seq, account_id, topic, at_ms, data) SELECT last_seq, $1, $2, $3, $4 FROM next"
            " RETURNING seq",
            account_id, topic, now_ms, data,
        ))
        self.max_seq = max(self.max_seq, seq)
        return seq

    async def next_seq(self) -> int:
        """The seq the next ``append_change`` of this unit of work returns: locks the counter row now
        (as that append would) so no other transaction can take it first."""
        return int(await self._db.fetchval("SELECT last_seq + 1 FROM change_counter FOR UPDATE"))

    async def changes_after(self, seq: int, limit: int = 1000) -> list[Change]:
        rows = await self._db.fetch(
            "SELECT seq, account_id, topic, data FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2", seq, limit
        )
        return [Change(r[0], r[1], r[2], r[3]) for r in rows]

    async def last_seq(self) -> int:
        return int(await self._db.fetchval("SELECT last_seq FROM change_counter"))

    # a topic's history (live/: ETags and resumed streams); COLLATE "C" matches changes_by_topic --

    async def last_change_seq(self, account_id: int, topic: str) -> int:
        """The seq of the account's latest change of ``topic`` (of any topic under it when it ends
        with ``/``); 0 for none."""
        if topic.endswith("/"):
            found = await self._db.fetchval(
                'SELECT max(seq) FROM changes WHERE account_id = $1 AND topic COLLATE "C" >= $2'
                ' AND topic COLLATE "C" < $3', account_id, topic, topic[:-1] + "0",
            )
        else:
            found = await self._db.fetchval(
                'SELECT seq FROM changes WHERE account_id = $1 AND topic COLLATE "C" = $2 ORDER BY seq DESC LIMIT 1',
                account_id, topic,
            )
        return int(found or 0)

    async def changes_of(self, account_id: int, topic: str, after: int, limit: int = 100) -> list[Change]:
        """The account's changes of ``topic`` (or under it, ending with ``/``) after ``after``, by seq."""
        if topic.endswith("/"):
            rows = await self._db.fetch(
                'SELECT seq, account_id, topic, data FROM changes WHERE account_id = $1 AND topic COLLATE "C" >= $2'
                ' AND topic COLLATE "C" < $3 AND seq > $4 ORDER BY seq LIMIT $5',
                account_id, topic, topic[:-1] + "0", after, limit,
            )
        else:
            rows = await self._db.fetch(
                'SELECT seq, account_id, topic, data FROM changes WHERE account_id = $1 AND topic COLLATE "C" = $2'
                " AND seq > $3 ORDER BY seq LIMIT $4", account_id, topic, after, limit,
            )
        return [Change(r[0], r[1], r[2], r[3]) for r in rows]

    async def change_at(self, account_id: int, topic: str, seq: int) -> Change | None:
        """The account's latest change of the exact ``topic`` at or before ``seq``."""
        r = await self._db.fetchrow(
            'SELECT seq, account_id, topic, data FROM changes WHERE account_id = $1 AND topic COLLATE "C" = $2'
            " AND seq <= $3 ORDER BY seq DESC LIMIT 1", account_id, topic, seq,
        )
        return None if r is None else Change(r[0], r[1], r[2], r[3])
