"""What the services need from outside: a clock, a source of random ids, a store, a change hub.

The store is described by what the services call on it; ``store.sqlite`` implements it and the
store contract suite (tests/store) pins the behaviour every implementation must share.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from sessionhub.store.sqlite import SqliteAccounts
from sessionhub.store.sqlite_timing import SqliteTiming


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the epoch, UTC."""


class Ids(Protocol):
    def hex_token(self, nbytes: int) -> str:
        """``2 * nbytes`` random uppercase hex characters, from a cryptographic source."""


class Repos(Protocol):
    """The repositories of a connection: the read side, or one unit of work."""

    @property
    def accounts(self) -> SqliteAccounts: ...

    @property
    def timing(self) -> SqliteTiming: ...


class Store(Protocol):
    @property
    def reads(self) -> Repos:
        """The repositories of the read side (outside any unit of work)."""

    def unit_of_work(self) -> AbstractAsyncContextManager[Repos]:
        """A write transaction: committed durably when the block exits normally, else rolled back."""


class Publisher(Protocol):
    last_seq: int
    """The seq of the last change published."""

    async def catch_up(self) -> None:
        """Publish every committed change not yet published. Called after each commit."""
