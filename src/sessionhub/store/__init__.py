"""Stores: where sessions live. ``open_store(url)`` picks one by the URL's scheme.

- ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` — the embedded default;
- ``postgresql://user@host:port/db`` (or ``postgres://``) — the scale-out store (needs the
  ``postgres`` extra: asyncpg).

Layout: one repository per domain, written once in PostgreSQL's SQL dialect over the database
seam (``db.Db``): ``accounts.py``, ``timing.py``, ``parking.py``, ``paging.py``, bundled by
``repos.Repos``. Each engine has a driver of that seam and its store lifecycle: ``sqlite.py``
(stdlib ``sqlite3``; also the change counter), ``postgres_db.py`` + ``postgres.py`` (asyncpg);
``postgres_repos.py`` holds the only methods PostgreSQL does its own way (the change counter, COPY).

Adding a table or a column: write its SQL once, as a method of the domain's repository (``$1``
placeholders; the SQLite driver rewrites them), and add one migration per engine,
``schema/sqlite/NNNN_name.sql`` and ``schema/postgres/NNNN_name.sql`` with the same next free
number; the contract suite (tests/store/test_contract.py) then runs the new method on both engines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sessionhub.core.errors import InvalidInput, SchemaError
from sessionhub.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from sessionhub.service.ports import ManagedStore

__all__ = ["SchemaError", "SqliteStore", "open_store", "sqlite_path"]


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///`` URL (three slashes, then a relative or absolute path)."""
    path = url.removeprefix("sqlite:///")
    if not path:
        raise InvalidInput(f"no file path in database URL {url!r}", "db")
    return path


def open_store(url: str) -> ManagedStore:
    """A store for ``url``, not yet opened. Raises InvalidInput for a URL no store takes."""
    if url.startswith("sqlite:///"):
        return SqliteStore(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from sessionhub.store.postgres import PostgresStore
        except ImportError as exc:  # asyncpg is the optional `postgres` extra
            raise InvalidInput(f"{url!r} needs asyncpg: pip install 'sessionhub[postgres]' ({exc})", "db") from exc
        return PostgresStore(url)
    raise InvalidInput(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://USER@HOST:PORT/DB", "db")
