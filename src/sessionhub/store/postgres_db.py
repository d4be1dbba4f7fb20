"""The one place asyncpg is called through: a pool or a connection whose failures of the database
(connection lost, server shutting down, too many connections, a deadlock or serialization
failure) surface as ``StoreUnavailable`` — a 503 that the client may retry — never as a 500.

Integrity errors (a unique or check constraint) are not translated: they are bugs or races the
caller decides about, and the unit of work rolls back on them like on any exception.
"""

from __future__ import annotations

from collections.abc import Awaitable
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
    OSError,
    TimeoutError,
)
"""What ``StoreUnavailable`` stands for."""


async def guard(work: Awaitable[T]) -> T:
    """Await ``work``, turning a lost or unavailable database into StoreUnavailable."""
    try:
        return await work
    except LOST as exc:
        raise StoreUnavailable(f"database unavailable: {type(exc).__name__}: {exc}") from exc


class Db:
    """A pool or one connection; every query guarded (see the module docstring)."""

    __slots__ = ("_x",)

    def __init__(self, target: Any) -> None:
        self._x = target

    async def fetch(self, query: str, *args: object) -> list[Any]:
        return await guard(self._x.fetch(query, *args))

    async def fetchrow(self, query: str, *args: object) -> Any:
        return await guard(self._x.fetchrow(query, *args))

    async def fetchval(self, query: str, *args: object) -> Any:
        return await guard(self._x.fetchval(query, *args))

    async def execute(self, query: str, *args: object) -> str:
        return await guard(self._x.execute(query, *args))


def rowcount(status: str) -> int:
    """The row count of a command status such as ``INSERT 0 17`` or ``UPDATE 3``."""
    return int(status.rsplit(" ", 1)[-1])
