"""The embedded default store: one SQLite file in WAL mode, stdlib ``sqlite3``.

Two connections. Reads run synchronously on the event loop through the *read* connection: a
point query costs microseconds, far less than a hop to a thread. Writes run in *units of work*
on the *write* connection, one at a time (an asyncio lock): the statements run on the loop, and
the two calls that may wait, ``BEGIN IMMEDIATE`` (another process may hold the lock) and
``COMMIT`` (an fsync, ``synchronous=FULL``), run on a dedicated thread so the loop keeps serving.
A unit of work that returns has committed durably; one that raises has rolled back entirely.

Other processes (the CLI) may write the same file: ``PRAGMA data_version`` on the read connection
tells the change feed when to look for their changes.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from sessionhub.core.access import Access, Key
from sessionhub.core.changes import Change
from sessionhub.core.errors import StoreUnavailable
from sessionhub.store import migrations
from sessionhub.store.sqlite_paging import SqlitePaging
from sessionhub.store.sqlite_parking import SqliteParking
from sessionhub.store.sqlite_timing import SqliteTiming

log = logging.getLogger("sessionhub.store")


class SchemaError(RuntimeError):
    """The database's schema is not the one this build expects."""


class SqliteAccounts:
    """Accounts, keys and the change log on one connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    async def account_id(self, name: str) -> int | None:
        row = self._c.execute("SELECT id FROM accounts WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    async def ensure_account(self, name: str, is_test: bool, now_ms: int) -> int:
        self._c.execute(
            "INSERT INTO accounts (name, is_test, created_ms) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
            (name, int(is_test), now_ms),
        )
        if is_test:
            self._c.execute("UPDATE accounts SET is_test = 1 WHERE name = ?", (name,))
        return int(self._c.execute("SELECT id FROM accounts WHERE name = ?", (name,)).fetchone()[0])

    async def key(self, key_hash: str) -> Key | None:
        row = self._c.execute(
            "SELECT k.id, k.account_id, k.access, k.unbind, k.alias, a.is_test FROM api_keys k"
            " JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = ? AND k.revoked_ms IS NULL",
            (key_hash,),
        ).fetchone()
        if row is None:
            return None
        return Key(row[0], row[1], Access(row[2]), bool(row[3]), row[4], bool(row[5]))

    async def add_key(
        self, account_id: int, key_hash: str, access: Access, unbind: bool, alias: str, now_ms: int
    ) -> int:
        cur = self._c.execute(
            "INSERT INTO api_keys (account_id, key_hash, access, unbind, alias, created_ms) VALUES (?,?,?,?,?,?)",
            (account_id, key_hash, access.value, int(unbind), alias, now_ms),
        )
        return cur.lastrowid or 0

    async def keys(self) -> list[tuple[int, str, str, bool, str, int, int | None]]:
        """(id, account name, access, unbind, alias, created_ms, revoked_ms) of every key ever issued."""
        return [
            (r[0], r[1], r[2], bool(r[3]), r[4], r[5], r[6])
            for r in self._c.execute(
                "SELECT k.id, a.name, k.access, k.unbind, k.alias, k.created_ms, k.revoked_ms"
                " FROM api_keys k JOIN accounts a ON a.id = k.account_id ORDER BY k.id"
            )
        ]

    async def revoke_key(self, key_hash: str, now_ms: int) -> bool:
        cur = self._c.execute(
            "UPDATE api_keys SET revoked_ms = ? WHERE key_hash = ? AND revoked_ms IS NULL", (now_ms, key_hash)
        )
        return cur.rowcount > 0

    async def revoke_alias(self, account_id: int, alias: str, now_ms: int) -> int:
        cur = self._c.execute(
            "UPDATE api_keys SET revoked_ms = ? WHERE account_id = ? AND alias = ? AND revoked_ms IS NULL",
            (now_ms, account_id, alias),
        )
        return cur.rowcount

    async def append_change(self, account_id: int, topic: str, now_ms: int, data: bytes | None = None) -> int:
        """Append a change and return its seq, the next value of the global sequence."""
        cur = self._c.execute(
            "INSERT INTO changes (account_id, topic, at_ms, data) VALUES (?, ?, ?, ?)",
            (account_id, topic, now_ms, data),
        )
        return cur.lastrowid or 0

    async def next_seq(self) -> int:
        """The seq the next ``append_change`` of this unit of work returns (the writer is alone)."""
        row = self._c.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        return int(row[0] if row is not None else 0) + 1

    async def changes_after(self, seq: int, limit: int = 1000) -> list[Change]:
        rows = self._c.execute(
            "SELECT seq, account_id, topic, data FROM changes WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [Change(*r) for r in rows]

    async def last_seq(self) -> int:
        row = self._c.execute("SELECT max(seq) FROM changes").fetchone()
        return int(row[0] or 0)

    # a topic's history (live/: ETags and resumed streams) ---------------------------------------

    async def last_change_seq(self, account_id: int, topic: str) -> int:
        """The seq of the account's latest change of ``topic`` (of any topic under it when it ends
        with ``/``); 0 for none."""
        if topic.endswith("/"):
            row = self._c.execute(
                "SELECT max(seq) FROM changes WHERE account_id = ? AND topic >= ? AND topic < ?",
                (account_id, topic, topic[:-1] + "0"),  # "0" is the character after "/"
            ).fetchone()
        else:
            row = self._c.execute(
                "SELECT seq FROM changes WHERE account_id = ? AND topic = ? ORDER BY seq DESC LIMIT 1",
                (account_id, topic),
            ).fetchone()
        return int(row[0] or 0) if row is not None else 0

    async def changes_of(self, account_id: int, topic: str, after: int, limit: int = 100) -> list[Change]:
        """The account's changes of ``topic`` (or under it, ending with ``/``) after ``after``, by seq."""
        if topic.endswith("/"):
            rows = self._c.execute(
                "SELECT seq, account_id, topic, data FROM changes WHERE account_id = ? AND topic >= ? AND topic < ?"
                " AND seq > ? ORDER BY seq LIMIT ?",
                (account_id, topic, topic[:-1] + "0", after, limit),
            ).fetchall()
        else:
            rows = self._c.execute(
                "SELECT seq, account_id, topic, data FROM changes WHERE account_id = ? AND topic = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (account_id, topic, after, limit),
            ).fetchall()
        return [Change(*r) for r in rows]

    async def change_at(self, account_id: int, topic: str, seq: int) -> Change | None:
        """The account's latest change of the exact ``topic`` at or before ``seq``."""
        row = self._c.execute(
            "SELECT seq, account_id, topic, data FROM changes WHERE account_id = ? AND topic = ? AND seq <= ?"
            " ORDER BY seq DESC LIMIT 1",
            (account_id, topic, seq),
        ).fetchone()
        return None if row is None else Change(*row)


class SqliteUnitOfWork:
    """The repositories of one write transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.accounts = SqliteAccounts(conn)
        self.timing = SqliteTiming(conn)
        self.parking = SqliteParking(conn)
        self.paging = SqlitePaging(conn)


class SqliteStore:
    """See the module docstring. ``open()`` before use, ``close()`` after."""

    engine = "sqlite"
    embedded = True

    def __init__(self, path: str) -> None:
        self.path = path
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-commit")
        self._data_version = 0
        self._reads: SqliteUnitOfWork | None = None

    @property
    def reads(self) -> SqliteUnitOfWork:
        """The repositories of the read connection."""
        assert self._reads is not None, "store not open"
        return self._reads

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def open(self, *, migrate: bool = False) -> None:
        """Open both connections. With ``migrate``, bring the schema up to date first.

        Raises:
            SchemaError: the schema is behind (and ``migrate`` is false) or ahead of this build.
        """
        if self.path != ":memory:" and not self.path.startswith("file:"):
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        writer = self._connect()
        writer.execute("PRAGMA journal_mode = WAL")
        writer.execute("PRAGMA synchronous = FULL")
        if migrate:
            self._migrate(writer)
        self._check_schema(writer)
        self._writer = writer
        self._reader = self._connect()
        self._reader.execute("PRAGMA query_only = 1")
        self._reads = SqliteUnitOfWork(self._reader)

    def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                conn.close()
        self._reader = self._writer = None
        self._thread.shutdown(wait=True)

    @staticmethod
    def schema_version(conn: sqlite3.Connection) -> int:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        have, want = self.schema_version(conn), migrations.latest("sqlite")
        if have < want:
            raise SchemaError(f"database schema is at version {have}, this build needs {want}: "
                              f"run `sessionhub migrate --db sqlite:///{self.path}`")
        if have > want:
            raise SchemaError(f"database schema version {have} is newer than this build's {want}: "
                              "upgrade sessionhub")

    def _migrate(self, conn: sqlite3.Connection) -> list[int]:
        applied = []
        for m in migrations.migrations("sqlite"):
            if m.version <= self.schema_version(conn):
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(m.sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {m.version}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            applied.append(m.version)
        return applied

    def migrate(self) -> list[int]:
        """Apply pending migrations; return the versions applied. Works on an unopened store."""
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return self._migrate(conn)
        finally:
            conn.close()

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[SqliteUnitOfWork]:
        """One write transaction: commits durably on normal exit, rolls back on an exception."""
        conn = self._writer
        assert conn is not None, "store not open"
        loop = asyncio.get_running_loop()
        async with self._lock:
            try:
                await loop.run_in_executor(self._thread, conn.execute, "BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"database is busy: {exc}") from exc
            try:
                yield SqliteUnitOfWork(conn)
                await loop.run_in_executor(self._thread, conn.execute, "COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise StoreUnavailable(f"database error: {exc}") from exc
                raise

    async def changes_after(self, seq: int, limit: int = 1000) -> list[Change]:
        """Committed changes after ``seq``, in order (the change hub's feed)."""
        return await self.reads.accounts.changes_after(seq, limit)

    async def last_seq(self) -> int:
        return await self.reads.accounts.last_seq()

    # the lifecycle every store shares (service.ports.ManagedStore) --------------------------------------

    async def start(self, *, migrate: bool = False) -> None:
        self.open(migrate=migrate)

    async def stop(self) -> None:
        self.close()

    async def apply_migrations(self) -> list[int]:
        return self.migrate()

    async def preflight(self) -> None:
        """Nothing to check before serving: ``start(migrate=True)`` brings the embedded file up to date."""

    async def follow(self, catch_up: Callable[[], Awaitable[None]], interval: float = 0.05) -> None:
        """Call ``catch_up`` after other processes (the CLI) commit, until cancelled (polls ``data_version``)."""
        while True:
            await asyncio.sleep(interval)
            try:
                if self.external_commits():
                    await catch_up()
            except Exception:
                log.exception("change feed poll failed; retrying")

    def external_commits(self) -> bool:
        """True when another connection committed since the last call (cheap: no I/O)."""
        assert self._reader is not None
        version = int(self._reader.execute("PRAGMA data_version").fetchone()[0])
        changed, self._data_version = version != self._data_version, version
        return changed


def _statements(script: str) -> list[str]:
    """Split a migration into statements (``sqlite3.complete_statement`` tells where one ends)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        if not buf and line.lstrip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
