"""The scale-out store: PostgreSQL through asyncpg, shared by any number of ``sessionhub serve``
processes on any number of machines.

- Reads go through a connection pool, one statement each (read committed), like SQLite's read
  connection. Writes run in *units of work*: one pooled connection, one transaction, committed
  when the block exits normally and rolled back on any exception.
- The change log (postgres_repos.py) hands out seqs in commit order. A unit of work that appended
  changes sends exactly one ``NOTIFY sessionhub_changes`` (payload: its highest seq) right after it
  commits (a wake-up only: see ``_wake``); a rollback sends none.
- ``follow`` runs in every process: a dedicated connection LISTENs, and each notification makes the
  change hub read the log forward (``catch_up``). After a reconnect it catches up first, so nothing
  committed while it was away is missed.
- A lost database surfaces as ``StoreUnavailable`` (503) on the requests in flight; the pool opens
  fresh connections for the next ones, and ``follow`` reconnects with a bounded backoff.
- Schema: plain SQL files ``schema/postgres/NNNN_*.sql``, recorded in ``schema_version``. Only
  ``sessionhub migrate`` applies them; a server refuses to open a database whose schema is behind or
  ahead of its build (several processes must never race to migrate one shared database).

Connection URL: ``postgresql://USER[:PASSWORD]@HOST:PORT/DB``; query parameters other than
libpq's are session settings (``?search_path=tenant1`` puts the tables in schema ``tenant1``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from sessionhub.core.changes import Change
from sessionhub.core.errors import SchemaError, StoreUnavailable
from sessionhub.store import migrations
from sessionhub.store.events import Events
from sessionhub.store.paging import Paging
from sessionhub.store.parking import Parking
from sessionhub.store.postgres_db import LOST, RETRY_PAUSES, PgDb, PoolDb, guard, unavailable
from sessionhub.store.postgres_repos import PASSINGS_IN, PgAccounts, PgTiming
from sessionhub.store.repos import Repos
from sessionhub.store.shares import Shares
from sessionhub.store.webhooks import Webhooks

log = logging.getLogger("sessionhub.store")

CHANNEL = "sessionhub_changes"
"""The notification channel's prefix. NOTIFY channels are per database, not per schema, so the
store listens on ``sessionhub_changes:<schema>`` (``channel``): two deployments sharing a database
in different schemas never wake each other."""
POOL_MAX = 10
"""Connections per process: enough to overlap a few writers with the readers on a 2-core box."""
SAFETY_POLL_S = 5.0
"""``follow`` also catches up this often without a notification, and checks its connection."""
MIGRATE_LOCK = 0x5E55_104B
"""Advisory lock key held while migrating, so two ``migrate`` runs cannot interleave."""


_RETRY: tuple[type[BaseException], ...] = (StoreUnavailable, *LOST)


class PgRepos(Repos):
    """The repositories of one transaction (or of the pool, for the read side)."""

    __slots__ = ()
    accounts: PgAccounts

    def __init__(self, db: PgDb) -> None:
        super().__init__(PgAccounts(db), PgTiming(db), Parking(db), Paging(db), Events(db), Webhooks(db),
                         Shares(db))


async def _init_connection(conn: Any) -> None:
    """Each pooled connection gets its own staging table for passings (see postgres_repos)."""
    await conn.execute(PASSINGS_IN)


async def _no_reset(conn: Any) -> None:
    """Pool release hook: asyncpg already rolled back any open transaction; skip its reset query
    (a round trip per release), since no code here changes session state."""


class PostgresStore:
    """See the module docstring. ``await start()`` before use, ``await stop()`` after."""

    engine = "postgres"
    embedded = False

    def __init__(self, url: str) -> None:
        self.url = url
        self.channel = CHANNEL  # made schema-specific by start()
        self._pool: Any = None
        self._reads: PgRepos | None = None

    @property
    def reads(self) -> PgRepos:
        assert self._reads is not None, "store not open"
        return self._reads

    # lifecycle ----------------------------------------------------------------------------------

    async def start(self, *, migrate: bool = False) -> None:
        """Open the pool and check the schema. ``migrate`` is ignored: only ``sessionhub migrate``
        migrates a shared database.

        Raises:
            SchemaError: the schema is behind or ahead of this build (the message says what to run).
            StoreUnavailable: the server cannot be reached.
        """
        pool = await guard(asyncpg.create_pool(
            self.url, min_size=1, max_size=POOL_MAX, reset=_no_reset, init=_init_connection))
        try:
            async with pool.acquire() as conn:
                await self._check_schema(conn)
        except BaseException:
            await pool.close()
            raise
        async with pool.acquire() as conn:
            self.channel = f"{CHANNEL}:{await conn.fetchval('SELECT current_schema()')}"[:63]
        self._pool = pool
        self._reads = PgRepos(PoolDb(pool))

    async def stop(self) -> None:
        pool, self._pool, self._reads = self._pool, None, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10)
            except LOST:
                pool.terminate()

    async def preflight(self) -> None:
        """Check, on a connection of its own, that the schema is this build's (``serve`` calls it first)."""
        conn = await guard(asyncpg.connect(self.url))
        try:
            await self._check_schema(conn)
        finally:
            await conn.close()

    async def _version(self, conn: Any) -> int:
        if await conn.fetchval("SELECT to_regclass('schema_version')") is None:
            return 0
        return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))

    async def _check_schema(self, conn: Any) -> None:
        have, want = await guard(self._version(conn)), migrations.latest("postgres")
        if have < want:
            raise SchemaError(f"database schema is at version {have}, this build needs {want}: "
                              f"run `sessionhub migrate --db {self.url}`")
        if have > want:
            raise SchemaError(f"database schema version {have} is newer than this build's {want}: "
                              "upgrade sessionhub")

    async def _ensure_version_table(self, conn: Any) -> None:
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
        except LOST as exc:
            raise unavailable(exc) from exc
        except asyncpg.PostgresError as exc:  # e.g. the search_path names no existing schema
            raise SchemaError(f"cannot create the schema_version table: {exc}") from exc

    async def apply_migrations(self) -> list[int]:
        """Apply pending migrations, each in its own transaction; return the versions applied."""
        conn = await guard(asyncpg.connect(self.url))
        applied = []
        try:
            await self._ensure_version_table(conn)
            for m in migrations.migrations("postgres"):
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATE_LOCK)
                    if m.version <= await self._version(conn):
                        continue
                    try:
                        await conn.execute(m.sql)
                    except asyncpg.PostgresError as exc:
                        if isinstance(exc, LOST):
                            raise
                        raise SchemaError(f"migration {m.version:04d}_{m.name} failed: {exc}") from exc
                    await conn.execute("INSERT INTO schema_version (version, name) VALUES ($1, $2)", m.version, m.name)
                applied.append(m.version)
        finally:
            await conn.close()
        return applied

    # writes -------------------------------------------------------------------------------------

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[PgRepos]:
        """One transaction: commits on normal exit (with one notification if it appended changes),
        rolls back on an exception. A lost connection raises StoreUnavailable."""
        pool = self._pool
        assert pool is not None, "store not open"
        conn, tx = await self._begin(pool)
        try:
            db = PgDb(conn)
            uow = PgRepos(db)
            try:
                yield uow
                try:
                    await tx.commit()
                except LOST as exc:  # the outcome is unknown to us: the client must check or retry
                    raise unavailable(exc) from exc
            except BaseException:
                with contextlib.suppress(*LOST):  # a dead connection has rolled back by itself
                    await tx.rollback()
                raise
            if uow.accounts.max_seq:
                await self._wake(conn, uow.accounts.max_seq)
        finally:
            with contextlib.suppress(*LOST):
                await pool.release(conn)

    async def _wake(self, conn: Any, seq: int) -> None:
        """Tell the other processes a commit appended changes (up to ``seq``): a NOTIFY of its own,
        after the commit. Inside the writer's transaction it would take PostgreSQL's global notify
        lock while the change counter row is still locked, serialising writers longer (bench/pg_bench.py
        --writers: commits/s of 8 writers, docs/postgres.md). Listeners read the log by seq, so the
        notification is only a wake-up: if it is lost (the connection drops between the commit and
        here), ``follow``'s safety poll reads the change within SAFETY_POLL_S; nothing is lost."""
        try:
            await conn.execute("SELECT pg_notify($1, $2)", self.channel, str(seq))
        except (*LOST, asyncpg.PostgresError) as exc:
            log.warning("change notification after commit failed (%r): listeners catch up by polling", exc)

    async def _begin(self, pool: Any) -> tuple[Any, Any]:
        """A pooled connection in a new transaction. Nothing is done yet, so a connection the server
        had just dropped is swapped for a fresh one (see postgres_db.RETRY_PAUSES)."""
        for pause in (*RETRY_PAUSES, None):
            conn = await guard(pool.acquire())
            try:
                tx = conn.transaction()
                await tx.start()
                return conn, tx
            except LOST as exc:
                with contextlib.suppress(*LOST):
                    await pool.release(conn)
                if pause is None:
                    raise unavailable(exc) from exc
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    # the change feed ----------------------------------------------------------------------------

    async def changes_after(self, seq: int, limit: int = 1000) -> list[Change]:
        return await self.reads.accounts.changes_after(seq, limit)

    async def last_seq(self) -> int:
        return await self.reads.accounts.last_seq()

    async def follow(self, catch_up: Callable[[], Awaitable[None]]) -> None:
        """Call ``catch_up`` on every notification of a commit (any process's) until cancelled.

        (Re)connecting LISTENs first and catches up second, so a commit made while disconnected is
        read from the log and one made during the reconnect is announced: neither is missed.
        """
        backoff = 0.1
        while True:
            try:
                await self._listen(catch_up)
                log.warning("change listener lost its connection; reconnecting")
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except _RETRY as exc:
                log.warning("change listener: %s; retrying in %.1f s", exc, backoff)
            except Exception:
                log.exception("change listener failed; retrying in %.1f s", backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _listen(self, catch_up: Callable[[], Awaitable[None]]) -> None:
        """One connection's worth of ``follow``: returns when the connection is lost."""
        conn = await asyncpg.connect(self.url, timeout=10)
        try:
            wake, lost = asyncio.Event(), asyncio.Event()
            await conn.add_listener(self.channel, lambda *_: wake.set())
            conn.add_termination_listener(lambda _: lost.set())
            await catch_up()
            while not lost.is_set():
                await _any_set((wake, lost), SAFETY_POLL_S)
                if lost.is_set():
                    return
                if not wake.is_set():  # quiet for a while: is the connection still there?
                    await conn.execute("SELECT 1")
                wake.clear()
                await catch_up()
        finally:
            if not conn.is_closed():
                conn.terminate()


async def _any_set(events: tuple[asyncio.Event, ...], timeout: float) -> None:
    """Return when any of ``events`` is set or ``timeout`` passed. (Not ``asyncio.wait_for``: on
    Python 3.11 it can swallow a cancellation that races with completion, and ``follow`` must stop.)"""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
