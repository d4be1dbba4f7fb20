"""The one place asyncpg is called through: a pool or a connection whose failures of the database
(connection lost, server shutting down, too many connections, a deadlock or serialization
failure) surface as ``StoreUnavailable`` — a 503 that the client may retry — never as a 500.

Integrity errors (a unique or check constraint) are not translated: they are bugs or races the
caller decides about, and the unit of work rolls back on them like on any exception.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, TypeVar

import asyncpg

from sessionhub.core.errors import StoreUnavailable

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


class Db:
    """A pool or one connection; every query guarded (see the module docstring). A pooled
    connection that died is detached from its proxy, which then fails on the call itself, so the
    call is made inside the ``try`` too."""

    __slots__ = ("_x",)

    def __init__(self, target: Any) -> None:
        self._x = target

    async def fetch(self, query: str, *args: object) -> list[Any]:
        try:
            return await self._x.fetch(query, *args)  # type: ignore[no-any-return]
        except LOST as exc:
            raise unavailable(exc) from exc

    async def fetchrow(self, query: str, *args: object) -> Any:
        try:
            return await self._x.fetchrow(query, *args)
        except LOST as exc:
            raise unavailable(exc) from exc

    async def fetchval(self, query: str, *args: object) -> Any:
        try:
            return await self._x.fetchval(query, *args)
        except LOST as exc:
            raise unavailable(exc) from exc

    async def execute(self, query: str, *args: object) -> str:
        try:
            return await self._x.execute(query, *args)  # type: ignore[no-any-return]
        except LOST as exc:
            raise unavailable(exc) from exc

    async def copy_in(self, table: str, records: Iterable[Sequence[object]]) -> None:
        """COPY ``records`` (tuples in the table's column order) into ``table``."""
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


class PoolDb(Db):
    """The read side: each query on a pooled connection of its own. Reads are idempotent, so a
    query that hit a connection the server had just dropped (the pool cannot know before it has
    read the hang-up) is retried on a fresh one; failing every time is the database being down."""

    __slots__ = ()

    async def fetch(self, query: str, *args: object) -> list[Any]:
        for pause in RETRY_PAUSES:
            with contextlib.suppress(StoreUnavailable):
                return await super().fetch(query, *args)
            await asyncio.sleep(pause)
        return await super().fetch(query, *args)

    async def fetchrow(self, query: str, *args: object) -> Any:
        for pause in RETRY_PAUSES:
            with contextlib.suppress(StoreUnavailable):
                return await super().fetchrow(query, *args)
            await asyncio.sleep(pause)
        return await super().fetchrow(query, *args)

    async def fetchval(self, query: str, *args: object) -> Any:
        for pause in RETRY_PAUSES:
            with contextlib.suppress(StoreUnavailable):
                return await super().fetchval(query, *args)
            await asyncio.sleep(pause)
        return await super().fetchval(query, *args)


def rowcount(status: str) -> int:
    """The row count of a command status such as ``INSERT 0 17`` or ``UPDATE 3``."""
    return int(status.rsplit(" ", 1)[-1])
