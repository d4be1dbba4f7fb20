"""The database seam: the few calls a repository makes, and what every driver must do the same way.

Repositories (accounts.py, timing.py, parking.py, paging.py) are written once, against ``Db``.
Their SQL is PostgreSQL's dialect: ``$1``-style placeholders (a number may repeat), ``RETURNING``,
``ON CONFLICT``, row locks (``FOR NO KEY UPDATE``) and ``COLLATE "C"`` where an index needs it.
Each driver (sqlite.py: stdlib ``sqlite3``; postgres_db.py: asyncpg) runs that text as its engine
needs it; the SQLite driver rewrites it once per statement (``sqlite_dialect``) and caches it.

Every parameter a driver binds passes ``refuse_nul`` first: PostgreSQL cannot store U+0000 in text
(it fails the statement), SQLite would store it, so both refuse it the same way, as InvalidInput,
before the statement runs. This is the one place every read and write goes through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import msgspec

from sessionhub.core.errors import InvalidInput

Row = Sequence[Any]
"""A result row: a tuple (sqlite3) or an ``asyncpg.Record``; both index and unpack like a tuple."""


class Db(Protocol):
    """What a repository calls. ``locking`` is true where row and advisory locks mean something
    (inside a PostgreSQL transaction); a repository takes the locks its writers need only then."""

    locking: bool

    async def one(self, sql: str, *args: object) -> Row | None:
        """The first row, or None."""

    async def all(self, sql: str, *args: object) -> list[Row]:
        """Every row."""

    async def value(self, sql: str, *args: object) -> Any:
        """The first column of the first row, or None for no row."""

    async def run(self, sql: str, *args: object) -> int:
        """Run a statement; return how many rows it changed."""

    async def run_many(self, sql: str, rows: Sequence[Sequence[object]]) -> int:
        """Run a statement once per row of parameters; return how many rows it changed in all."""

    async def advisory_lock(self, key: int, sub: int | str) -> None:
        """Hold the lock ``(key, sub)`` until the transaction ends (only when ``locking``; a string
        ``sub`` is hashed). Serialises writers that would otherwise all find "none yet"."""


NUL = "\x00"


def refuse_nul(args: Iterable[object]) -> None:
    """Raise InvalidInput if a string among ``args`` holds U+0000 (see the module docstring)."""
    for arg in args:
        if arg.__class__ is str and NUL in arg:
            raise InvalidInput("text must not contain U+0000 (NUL)")


_encode = msgspec.json.Encoder().encode


def refuse_nul_rows(rows: Sequence[Sequence[object]]) -> None:
    """``refuse_nul`` for a batch of rows, at C speed: JSON escapes U+0000 as ``\\u0000``, so a batch
    whose encoding lacks that text has none (a hit is checked exactly: a literal backslash-u0000
    text also encodes with it)."""
    if b"\\u0000" in _encode(rows):
        for row in rows:
            refuse_nul(row)


_PLACEHOLDER = re.compile(r"\$(\d+)")
_ROW_LOCK = re.compile(r" FOR NO KEY UPDATE\b")


def sqlite_dialect(sql: str) -> str:
    """``sql`` as SQLite runs it: ``$n`` becomes ``?n`` (SQLite's numbered placeholder, which may
    repeat too); row locks are dropped (SQLite has none: its one writer holds the database);
    ``COLLATE "C"`` is dropped (SQLite's default BINARY collation is already byte order)."""
    return _PLACEHOLDER.sub(r"?\1", _ROW_LOCK.sub("", sql)).replace(' COLLATE "C"', "")


def without_row_locks(sql: str) -> str:
    """``sql`` without ``FOR NO KEY UPDATE``: reads outside a transaction take no locks."""
    return _ROW_LOCK.sub("", sql)
