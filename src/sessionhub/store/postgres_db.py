"""PostgreSQL's driver of the database seam (db.py), the one place asyncpg is called through: a pool
or a connection whose failures of the database (connection lost, server shutting down, too many
connections, a deadlock or serialization failure) surface as ``StoreUnavailable`` — a 503 that the
client may retry — never as a 500.

Integrity errors (a unique or check constraint) are not translated: they are bugs or races the
caller decides about, and the unit of work rolls back on them like on any exception.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import asyncpg

from sessionhub.core.errors import StoreUnavailable
from sessionhub.store.db import Row, refuse_nul, refuse_nul_rows, without_row_locks

T = TypeVar("T")

LOST: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, pg_terminate_backend, crash
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.exceptions.TransactionRollbackError,  # deadlock, serialization failure: retryable
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.InterfaceError,  # "connection is closed" and friends, on our side of the socket
    asyncpg.exceptions.InternalClientError,  # a protocol state the server's hang-up left behind
    OSError,
    TimeoutError,
)
"""What ``StoreUnavailable`` stands for."""


def unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"database unavailable: {type(exc).__name__}: {exc}")


async def guard(work: Awaitable[T]) -> T:
    """Await ``work``, turning a lost or unavailable database into StoreUnavailable."""
    try:
        return await work
    except LOST as exc:
        raise unavailable(exc) from exc


_unlocked: dict[str, str] = {}
"""Each repository statement without its row locks, as the read side runs it (rewritten once)."""


def _read_sql(sql: str) -> str:
    found = _unlocked.get(sql)
    if found is None:
        found = _unlocked[sql] = without_row_locks(sql)
    return found


class PgDb:
    """PostgreSQL's driver of the seam (db.Db): one connection inside a transaction (``locking``:
    a unit of work) or, as ``PoolDb``, the pool. Every query is guarded (see the module docstring);
    a pooled connection that died is detached from its proxy, which then fails on the call itself,
    so the call is made inside the ``try`` too."""

    __slots__ = ("_x",)
    locking = True

    def __init__(self, target: Any) -> None:
        self._x = target

    def _sql(self, sql: str) -> str:
        return sql

    async def one(self, sql: str, *args: object) -> Row | None:
        refuse_nul(args)
        try:
            return await self._x.fetchrow(self._sql(sql), *args)  # type: ignore[no-any-return]
        except LOST as exc:
            raise unavailable(exc) from exc

    async def all(self, sql: str, *args: object) -> list[Row]:
        refuse_nul(args)
        try:
            return await self._x.fetch(self._sql(sql), *args)  # type: ignore[no-any-return]
        except LOST as exc:
            raise unavailable(exc) from exc

    async def value(self, sql: str, *args: object) -> Any:
        refuse_nul(args)
        try:
            return await self._x.fetchval(self._sql(sql), *args)
        except LOST as exc:
            raise unavailable(exc) from exc

    async def run(self, sql: str, *args: object) -> int:
        refuse_nul(args)
        try:
            return rowcount(await self._x.execute(self._sql(sql), *args))
        except LOST as exc:
            raise unavailable(exc) from exc

    async def run_many(self, sql: str, rows: Sequence[Sequence[object]]) -> int:
        """One statement per row (asyncpg's ``executemany`` does not count rows); the bulk write of
        this store, ``add_passings``, COPYs instead (postgres_repos.py)."""
        refuse_nul_rows(rows)
        changed = 0
        for row in rows:
            try:
                changed += rowcount(await self._x.execute(self._sql(sql), *row))
            except LOST as exc:
                raise unavailable(exc) from exc
        return changed

    async def advisory_lock(self, key: int, sub: int | str) -> None:
        if isinstance(sub, str):
            await self.run("SELECT pg_advisory_xact_lock($1, hashtext($2))", key, sub)
        else:
            await self.run("SELECT pg_advisory_xact_lock($1, $2::int)", key, sub)

    async def copy_in(self, table: str, records: Sequence[Sequence[object]]) -> None:
        """COPY ``records`` (tuples in the table's column order) into ``table``."""
        refuse_nul_rows(records)
        try:
            await self._x.copy_records_to_table(table, records=records)
        except LOST as exc:
            raise unavailable(exc) from exc

    async def copy_unless_duplicate(
        self, table: str, columns: Sequence[str], records: Sequence[Sequence[object]]
    ) -> bool:
        """COPY ``records`` into ``table`` inside a savepoint. False, with nothing written, when a unique
        constraint refused a row (the caller then takes a slower path that skips duplicates).

        Only on a connection inside a transaction (a unit of work)."""
        refuse_nul_rows(records)
        try:
            async with self._x.transaction():  # nested: a savepoint, so a refusal keeps the transaction
                await self._x.copy_records_to_table(table, records=records, columns=columns)
        except asyncpg.UniqueViolationError:
            return False
        except LOST as exc:
            raise unavailable(exc) from exc
        return True


RETRY_PAUSES = (0.02, 0.1)
"""Pauses before the retries of a read, and of opening a transaction, that hit a dropped connection."""


class PoolDb(PgDb):
    """The read side: each query on a pooled connection of its own, without row locks. Reads are
    idempotent, so a query that hit a connection the server had just dropped (the pool cannot know
    before it has read the hang-up) is retried on a fresh one; failing every time is the database
    being down."""

    __slots__ = ()
    locking = False

    def _sql(self, sql: str) -> str:
        return _unlocked.get(sql) or _read_sql(sql)

    async def one(self, sql: str, *args: object) -> Row | None:
        for pause in RETRY_PAUSES:
            with contextlib.suppress(StoreUnavailable):
                return await super().one(sql, *args)
            await asyncio.sleep(pause)
        return await super().one(sql, *args)

    async def all(self, sql: str, *args: object) -> list[Row]:
        for pause in RETRY_PAUSES:
            with contextlib.suppress(StoreUnavailable):
                return await super().all(sql, *args)
            await asyncio.sleep(pause)
        return await super().all(sql, *args)

    async def value(self, sql: str, *args: object) -> Any:
        for pause in RETRY_PAUSES:
            with contextlib.suppress(StoreUnavailable):
                return await super().value(sql, *args)
            await asyncio.sleep(pause)
        return await super().value(sql, *args)


def rowcount(status: str) -> int:
    """The row count of a command status such as ``INSERT 0 17`` or ``UPDATE 3``."""
    return int(status.rsplit(" ", 1)[-1])
