"""Stores: where sessions live. ``open_store(url)`` picks one by the URL's scheme.

- ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` — the embedded default;
- ``postgresql://user@host:port/db`` (or ``postgres://``) — the scale-out store (needs the
  ``postgres`` extra: asyncpg).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sessionhub.core.errors import InvalidInput
from sessionhub.store.sqlite import SchemaError, SqliteStore

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
