"""Accounts, keys and the change log: tables ``accounts``, ``api_keys``, ``changes``.

Written once for every engine (see db.py). Only how seqs are handed out differs per engine (SQLite:
``AUTOINCREMENT`` under its one writer; PostgreSQL: the locked ``change_counter`` row), so
``append_change``, ``next_seq`` and ``last_seq`` are each driver's (sqlite.py, postgres_repos.py).
"""

from __future__ import annotations

from sessionhub.core.access import Access, Key
from sessionhub.core.changes import Change
from sessionhub.store.db import Db, Row

_ACCOUNT_ID = "SELECT id FROM accounts WHERE name = $1"
_ENSURE_ACCOUNT = (
    "INSERT INTO accounts (name, is_test, created_ms) VALUES ($1, $2, $3)"
    " ON CONFLICT (name) DO UPDATE SET is_test = accounts.is_test OR excluded.is_test RETURNING id"
)
_KEY = (
    "SELECT k.id, k.account_id, k.access, k.unbind, k.alias, a.is_test, k.admin FROM api_keys k"
    " JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = $1 AND k.revoked_ms IS NULL"
)
_ADD_KEY = (
    "INSERT INTO api_keys (account_id, key_hash, access, unbind, alias, created_ms, admin)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
)
_KEY_INFO = (
    "SELECT k.id, a.name, k.access, k.unbind, k.alias, k.created_ms, k.revoked_ms, k.admin"
    " FROM api_keys k JOIN accounts a ON a.id = k.account_id"
)
_KEYS = f"{_KEY_INFO} ORDER BY k.id"
_KEYS_OF = f"{_KEY_INFO} WHERE k.account_id = $1 ORDER BY k.id LIMIT $2"
_REVOKE_KEY_ID = "UPDATE api_keys SET revoked_ms = $1 WHERE id = $2 AND account_id = $3 AND revoked_ms IS NULL"
_KEY_ISSUED = "SELECT 1 FROM api_keys WHERE key_hash = $1"
_REVOKE_KEY = "UPDATE api_keys SET revoked_ms = $1 WHERE key_hash = $2 AND revoked_ms IS NULL"
_REVOKE_ALIAS = "UPDATE api_keys SET revoked_ms = $1 WHERE account_id = $2 AND alias = $3 AND revoked_ms IS NULL"
_CHANGE_COLS = "SELECT seq, account_id, topic, data FROM changes"
_CHANGES_AFTER = f"{_CHANGE_COLS} WHERE seq > $1 ORDER BY seq LIMIT $2"
# A topic's history (live/: ETags and resumed streams). A prefix ``a/b/`` is the range [``a/b/``,
# ``a/b0``) ("0" is the character after "/"); COLLATE "C" matches PostgreSQL's changes_by_topic index.
_LAST_OF_PREFIX = (
    'SELECT max(seq) FROM changes WHERE account_id = $1 AND topic COLLATE "C" >= $2 AND topic COLLATE "C" < $3'
)
_LAST_OF_TOPIC = (
    'SELECT seq FROM changes WHERE account_id = $1 AND topic COLLATE "C" = $2 ORDER BY seq DESC LIMIT 1'
)
_CHANGES_OF_PREFIX = (
    f'{_CHANGE_COLS} WHERE account_id = $1 AND topic COLLATE "C" >= $2 AND topic COLLATE "C" < $3 AND seq > $4'
    " ORDER BY seq LIMIT $5"
)
_CHANGES_OF_TOPIC = (
    f'{_CHANGE_COLS} WHERE account_id = $1 AND topic COLLATE "C" = $2 AND seq > $3 ORDER BY seq LIMIT $4'
)
_PRUNE_DATA = "UPDATE changes SET data = NULL WHERE seq > $1 AND seq <= $2 AND data IS NOT NULL"
_CHANGE_AT = (
    f'{_CHANGE_COLS} WHERE account_id = $1 AND topic COLLATE "C" = $2 AND seq <= $3 ORDER BY seq DESC LIMIT 1'
)


KeyRow = tuple[int, str, str, bool, str, int, int | None, bool]


def _key_row(r: Row) -> KeyRow:
    return (r[0], r[1], r[2], bool(r[3]), r[4], r[5], r[6], bool(r[7]))


def _change(r: object) -> Change:
    return Change(r[0], r[1], r[2], r[3])  # type: ignore[index]


class Accounts:
    """Accounts, keys and the change log, on a driver's read side or inside a unit of work."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def account_id(self, name: str) -> int | None:
        found = await self._db.value(_ACCOUNT_ID, name)
        return None if found is None else int(found)

    async def ensure_account(self, name: str, is_test: bool, now_ms: int) -> int:
        """The id of account ``name``, created if new; ``is_test`` marks it (never unmarks)."""
        return int(await self._db.value(_ENSURE_ACCOUNT, name, is_test, now_ms))

    async def key_issued(self, key_hash: str) -> bool:
        """Whether a key with this hash was ever issued (live or revoked): a revoked value stays revoked."""
        return await self._db.value(_KEY_ISSUED, key_hash) is not None

    async def key(self, key_hash: str) -> Key | None:
        """The live (unrevoked) key with this hash."""
        row = await self._db.one(_KEY, key_hash)
        if row is None:
            return None
        return Key(row[0], row[1], Access(row[2]), bool(row[3]), row[4], bool(row[5]), bool(row[6]))

    async def add_key(
        self, account_id: int, key_hash: str, access: Access, unbind: bool, alias: str, now_ms: int,
        admin: bool = False,
    ) -> int:
        return int(await self._db.value(_ADD_KEY, account_id, key_hash, access.value, unbind, alias, now_ms, admin))

    async def keys(self) -> list[KeyRow]:
        """(id, account name, access, unbind, alias, created_ms, revoked_ms, admin) of every key ever
        issued, by id."""
        return [_key_row(r) for r in await self._db.all(_KEYS)]

    async def keys_of(self, account_id: int, limit: int) -> list[KeyRow]:
        """The account's keys ever issued (as ``keys``), by id, at most ``limit``."""
        return [_key_row(r) for r in await self._db.all(_KEYS_OF, account_id, limit)]

    async def revoke_key(self, key_hash: str, now_ms: int) -> bool:
        """Revoke a live key; False when none matches."""
        return await self._db.run(_REVOKE_KEY, now_ms, key_hash) > 0

    async def revoke_key_id(self, account_id: int, key_id: int, now_ms: int) -> bool:
        """Revoke the account's live key ``key_id``; False when the account has no such live key."""
        return await self._db.run(_REVOKE_KEY_ID, now_ms, key_id, account_id) > 0

    async def revoke_alias(self, account_id: int, alias: str, now_ms: int) -> int:
        """Revoke the account's live keys of ``alias``; return how many."""
        return await self._db.run(_REVOKE_ALIAS, now_ms, account_id, alias)

    # the change log: seqs are the engine's (see the module docstring) ------------------------------

    async def append_change(self, account_id: int, topic: str, now_ms: int, data: bytes | None = None) -> int:
        """Append a change and return its seq: strictly above every committed seq, and no seq is
        skipped by a reader (a change becomes readable only after every lower seq is). ``data`` is
        the changed object's snapshot (service.snapshots) that resumed streams replay."""
        raise NotImplementedError

    async def next_seq(self) -> int:
        """Inside a unit of work: the seq its next ``append_change`` will return (for rows that must
        carry the seq of a change appended after them, like passings)."""
        raise NotImplementedError

    async def last_seq(self) -> int:
        """The highest committed seq (0 for an empty log)."""
        raise NotImplementedError

    async def changes_after(self, seq: int, limit: int = 1000) -> list[Change]:
        """Committed changes after ``seq``, in seq order, at most ``limit``."""
        return [_change(r) for r in await self._db.all(_CHANGES_AFTER, seq, limit)]

    async def last_change_seq(self, account_id: int, topic: str) -> int:
        """The seq of the account's latest committed change of ``topic``, or of any topic under it when
        ``topic`` ends with ``/``; 0 for none (an object's or a list's version: its ETag)."""
        if topic.endswith("/"):
            found = await self._db.value(_LAST_OF_PREFIX, account_id, topic, topic[:-1] + "0")
        else:
            found = await self._db.value(_LAST_OF_TOPIC, account_id, topic)
        return int(found or 0)

    async def changes_of(self, account_id: int, topic: str, after: int, limit: int = 100) -> list[Change]:
        """The account's committed changes of ``topic`` (or under it, ending with ``/``) after seq
        ``after``, in seq order, with their data: what a resumed stream replays."""
        if topic.endswith("/"):
            rows = await self._db.all(_CHANGES_OF_PREFIX, account_id, topic, topic[:-1] + "0", after, limit)
        else:
            rows = await self._db.all(_CHANGES_OF_TOPIC, account_id, topic, after, limit)
        return [_change(r) for r in rows]

    async def prune_data(self, after: int, upto: int) -> int:
        """Drop the snapshots (``data``) of the changes with ``after < seq <= upto``: a primary-key range.
        The rows stay (topic versions and ETags are theirs). Returns how many snapshots were dropped."""
        return await self._db.run(_PRUNE_DATA, after, upto)

    async def change_at(self, account_id: int, topic: str, seq: int) -> Change | None:
        """The account's latest committed change of the exact ``topic`` at or before ``seq``."""
        row = await self._db.one(_CHANGE_AT, account_id, topic, seq)
        return None if row is None else _change(row)
