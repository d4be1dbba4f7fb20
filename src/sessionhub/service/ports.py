"""What the services need from outside: a clock, a source of random ids, a store, a change hub.

The repositories are not described twice: there is one of each (store/accounts.py, timing.py,
parking.py, paging.py, written once over the database seam), so their classes, bundled as
``Repos``, are the types the services call. What varies is only the engine; a ``Store`` is what
hands out repositories (its read side, or a unit of work), and ``ManagedStore`` its lifecycle.
The store contract suite (tests/store) pins what every engine must do the same way. The services
import nothing else from the store: no driver, no engine (tests/test_architecture.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from sessionhub.core.changes import Change
from sessionhub.store.repos import Repos

__all__ = ["Clock", "Ids", "ManagedStore", "Publisher", "Repos", "Store"]


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the epoch, UTC."""


class Ids(Protocol):
    def hex_token(self, nbytes: int) -> str:
        """``2 * nbytes`` random uppercase hex characters, from a cryptographic source."""


class Store(Protocol):
    @property
    def reads(self) -> Repos:
        """The repositories of the read side (outside any unit of work)."""

    def unit_of_work(self) -> AbstractAsyncContextManager[Repos]:
        """A write transaction: committed durably when the block exits normally, else rolled back."""


class ManagedStore(Store, Protocol):
    """What the runtime and the CLI do with a store, besides handing it to the services."""

    engine: str
    embedded: bool
    """True for a store this process owns (SQLite: ``serve`` migrates it in place); False for a
    shared server (PostgreSQL: only ``sessionhub migrate`` migrates it)."""

    async def start(self, *, migrate: bool = False) -> None:
        """Open. ``migrate`` brings an embedded store's schema up to date first.

        Raises:
            SchemaError: the schema is not this build's (the message says which command to run).
        """

    async def stop(self) -> None: ...

    async def apply_migrations(self) -> list[int]:
        """Apply pending migrations (the store need not be started); return the versions applied."""

    async def preflight(self) -> None:
        """Raise SchemaError now if ``start`` would refuse to serve (called before binding sockets)."""

    async def changes_after(self, seq: int, limit: int = 1000) -> list[Change]: ...

    async def last_seq(self) -> int: ...

    async def follow(self, catch_up: Callable[[], Awaitable[None]]) -> None:
        """Call ``catch_up`` whenever another process may have committed, until cancelled."""


class Publisher(Protocol):
    last_seq: int
    """The seq of the last change published."""

    async def catch_up(self) -> None:
        """Publish every committed change not yet published. Called after each commit."""
