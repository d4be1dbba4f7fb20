"""The embedded default store: one SQLite file in WAL mode, stdlib ``sqlite3``; and SQLite's driver
of the database seam (db.py).

Two connections. Reads run synchronously on the event loop through the *read* connection: a
point query costs microseconds, far less than a hop to a thread. Writes run in *units of work*
on the *write* connection, one at a time (an asyncio lock): the statements run on the loop, and
the two calls that may wait, ``BEGIN IMMEDIATE`` (another process may hold the lock) and
``COMMIT`` (an fsync, ``synchronous=FULL``), run on a dedicated thread so the loop keeps serving.
A unit of work that returns has committed durably; one that raises has rolled back entirely.

Other processes (the CLI) may write the same file: ``PRAGMA data_version`` on the read connection
tells the change feed when to look for their changes.

Kept page boundaries (boundaries.py) live here, one map per store: this process's units of work tell
it what they committed (and nothing when they roll back). A commit it was not told of, another
process's, clears it: the map records the read connection's ``data_version`` it describes, and each
commit of ours checks the *write* connection's, which moves only when another connection committed
(the read connection never does). See ``_told``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sessionhub.core.changes import Change
from sessionhub.core.errors import SchemaError, StoreUnavailable
from sessionhub.store import migrations
from sessionhub.store.accounts import Accounts
from sessionhub.store.boundaries import PageBoundaries, Written
from sessionhub.store.db import Row, refuse_nul, refuse_nul_rows, sqlite_dialect
from sessionhub.store.events import Events
from sessionhub.store.paging import Paging
from sessionhub.store.parking import Parking
from sessionhub.store.repos import Repos
from sessionhub.store.shares import Shares
from sessionhub.store.timing import Timing
from sessionhub.store.webhooks import Webhooks

log = logging.getLogger("sessionhub.store")

CACHED_STATEMENTS = 256
"""Prepared statements kept per connection (sqlite3's default, 128, is close to what the
repositories hold)."""

_dialect: dict[str, str] = {}
"""Each repository statement as SQLite runs it (``db.sqlite_dialect``), rewritten once."""


def _sql(sql: str) -> str:
    found = _dialect.get(sql)
    if found is None:
        found = _dialect[sql] = sqlite_dialect(sql)
    return found


class SqliteDb:
    """SQLite's driver of the seam (db.Db) on one connection: calls ``sqlite3`` directly, on the
    loop (the coroutines never suspend). No locks: the one writer holds the database."""

    __slots__ = ("_c",)
    locking = False

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    async def one(self, sql: str, *args: object) -> Row | None:
        refuse_nul(args)
        return self._c.execute(_dialect.get(sql) or _sql(sql), args).fetchone()  # type: ignore[no-any-return]

    async def all(self, sql: str, *args: object) -> list[Row]:
        refuse_nul(args)
        return self._c.execute(_dialect.get(sql) or _sql(sql), args).fetchall()

    async def value(self, sql: str, *args: object) -> Any:
        refuse_nul(args)
        row = self._c.execute(_dialect.get(sql) or _sql(sql), args).fetchone()
        return None if row is None else row[0]

    async def run(self, sql: str, *args: object) -> int:
        refuse_nul(args)
        return self._c.execute(_dialect.get(sql) or _sql(sql), args).rowcount

    async def run_many(self, sql: str, rows: Sequence[Sequence[object]]) -> int:
        refuse_nul_rows(rows)
        before = self._c.total_changes
        self._c.executemany(_dialect.get(sql) or _sql(sql), rows)
        return self._c.total_changes - before

    async def advisory_lock(self, key: int, sub: int | str) -> None:
        """Nothing to do: the one writer already serialises every unit of work."""


_APPEND_CHANGE = "INSERT INTO changes (account_id, topic, at_ms, data) VALUES ($1, $2, $3, $4) RETURNING seq"
_NEXT_SEQ = "SELECT seq FROM sqlite_sequence WHERE name = 'changes'"
_LAST_SEQ = "SELECT max(seq) FROM changes"


class SqliteAccounts(Accounts):
    """The change counter on SQLite: ``changes.seq`` is an ``AUTOINCREMENT`` key, and the one writer
    makes "the next seq" knowable before the insert (PostgreSQL needs its counter row locked)."""

    async def append_change(self, account_id: int, topic: str, now_ms: int, data: bytes | None = None) -> int:
        return int(await self._db.value(_APPEND_CHANGE, account_id, topic, now_ms, data))

    async def next_seq(self) -> int:
        return int(await self._db.value(_NEXT_SEQ) or 0) + 1

    async def last_seq(self) -> int:
        return int(await self._db.value(_LAST_SEQ) or 0)


def _repos(conn: sqlite3.Connection, boundaries: Callable[[], PageBoundaries] | None = None,
           written: Written | None = None) -> Repos:
    db = SqliteDb(conn)
    return Repos(SqliteAccounts(db), Timing(db, boundaries, written), Parking(db), Paging(db), Events(db),
                 Webhooks(db), Shares(db))


def _data_version(conn: sqlite3.Connection) -> int:
    """Moves when another connection (of any process) has committed since this one last looked."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


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
        self._reads: Repos | None = None
        self._pages = PageBoundaries()
        self._writer_version = 0

    @property
    def reads(self) -> Repos:
        """The repositories of the read connection."""
        assert self._reads is not None, "store not open"
        return self._reads

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               cached_statements=CACHED_STATEMENTS)
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
        self._pages = PageBoundaries(_data_version(self._reader))
        self._writer_version = _data_version(writer)
        self._reads = _repos(self._reader, self._boundaries)

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
    async def unit_of_work(self) -> AsyncIterator[Repos]:
        """One write transaction: commits durably on normal exit, rolls back on an exception."""
        conn = self._writer
        assert conn is not None, "store not open"
        loop = asyncio.get_running_loop()
        async with self._lock:
            try:
                await loop.run_in_executor(self._thread, conn.execute, "BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"database is busy: {exc}") from exc
            written, committing = Written(), False
            try:
                yield _repos(conn, written=written)
                committing = True
                await loop.run_in_executor(self._thread, conn.execute, "COMMIT")
            except BaseException as exc:
                if committing:  # a COMMIT that raised (or was cancelled) may still have committed
                    self._pages.clear()
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise StoreUnavailable(f"database error: {exc}") from exc
                raise
            self._told(written)

    def _boundaries(self) -> PageBoundaries:
        """The kept page boundaries, cleared first if the read connection sees a database state they do
        not describe (a commit not yet told, or another process's)."""
        assert self._reader is not None
        self._pages.at(_data_version(self._reader))
        return self._pages

    def _told(self, written: Written) -> None:
        """After our commit (the write lock released, still on the loop): the read connection's state
        first, then whether anyone else committed since our previous look, which covers that state too.
        Nobody else: the map describes the state before our commit plus what ``written`` says. Someone:
        the map cannot know what they changed, so it starts empty."""
        assert self._reader is not None and self._writer is not None
        reader, writer = _data_version(self._reader), _data_version(self._writer)
        if writer != self._writer_version:
            self._pages.clear()
        else:
            written.tell(self._pages)
        self._writer_version = writer
        self._pages.version = reader

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
