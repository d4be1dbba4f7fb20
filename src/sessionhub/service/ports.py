"""What the services need from outside: a clock, a source of random ids, a store, a change hub.

The store is described by what the services call on it: one Protocol per repository. Every store
(``store.sqlite``, ``store.postgres``) implements them (mypy checks it structurally), and the store
contract suite (tests/store) pins the behaviour every implementation must share.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from sessionhub.core.access import Access, Key
from sessionhub.core.changes import Change
from sessionhub.core.paging import GuestSession, Page, Station, StationEvent
from sessionhub.core.parking import Barcode, Location, ParkingSession
from sessionhub.core.timing import Device, DeviceStats, Passing, StoredPassing, TimingSession


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the epoch, UTC."""


class Ids(Protocol):
    def hex_token(self, nbytes: int) -> str:
        """``2 * nbytes`` random uppercase hex characters, from a cryptographic source."""


class AccountsRepo(Protocol):
    """Accounts, keys and the change log."""

    async def account_id(self, name: str) -> int | None: ...

    async def ensure_account(self, name: str, is_test: bool, now_ms: int) -> int:
        """The id of account ``name``, created if new; ``is_test`` marks it (never unmarks)."""

    async def key(self, key_hash: str) -> Key | None:
        """The live (unrevoked) key with this hash."""

    async def add_key(
        self, account_id: int, key_hash: str, access: Access, unbind: bool, alias: str, now_ms: int
    ) -> int: ...

    async def keys(self) -> list[tuple[int, str, str, bool, str, int, int | None]]:
        """(id, account name, access, unbind, alias, created_ms, revoked_ms) of every key ever issued, by id."""

    async def revoke_key(self, key_hash: str, now_ms: int) -> bool:
        """Revoke a live key; False when none matches."""

    async def revoke_alias(self, account_id: int, alias: str, now_ms: int) -> int:
        """Revoke the account's live keys of ``alias``; return how many."""

    async def append_change(self, account_id: int, topic: str, now_ms: int, data: bytes | None = None) -> int:
        """Append a change and return its seq: strictly above every committed seq, and no seq is
        skipped by a reader (a change becomes readable only after every lower seq is). ``data`` is
        the changed object's snapshot (service.snapshots) that resumed streams replay."""

    async def next_seq(self) -> int:
        """Inside a unit of work: the seq its next ``append_change`` will return (for rows that must
        carry the seq of a change appended after them, like passings)."""

    async def changes_after(self, seq: int, limit: int = 1000) -> list[Change]:
        """Committed changes after ``seq``, in seq order, at most ``limit``."""

    async def last_seq(self) -> int:
        """The highest committed seq (0 for an empty log)."""

    async def last_change_seq(self, account_id: int, topic: str) -> int:
        """The seq of the account's latest committed change of ``topic``, or of any topic under it when
        ``topic`` ends with ``/``; 0 for none (an object's or a list's version: its ETag)."""

    async def changes_of(self, account_id: int, topic: str, after: int, limit: int = 100) -> list[Change]:
        """The account's committed changes of ``topic`` (or under it, ending with ``/``) after seq
        ``after``, in seq order, with their data: what a resumed stream replays."""

    async def change_at(self, account_id: int, topic: str, seq: int) -> Change | None:
        """The account's latest committed change of the exact ``topic`` at or before ``seq``."""


class TimingRepo(Protocol):
    """Devices, timing sessions and passings. Sessions and passings of other accounts are reached
    only through ids the caller got from an account-checked lookup."""

    async def device(self, account_id: int, deviceid: str) -> Device | None: ...

    async def device_by_serial(self, account_id: int, serial_number: str) -> Device | None: ...

    async def device_stats(self, device: Device) -> DeviceStats: ...

    async def devices(self, account_id: int, offset: int, limit: int) -> tuple[list[DeviceStats], int]:
        """A page of the account's devices by id, and how many it has."""

    async def insert_device(self, d: Device) -> Device:
        """Insert ``d`` (its id is ignored); return it with its new id. Serial numbers are unique per account."""

    async def delete_device(self, device_id: int) -> list[str]:
        """Delete a device with its sessions and passings; return the deleted session tokens."""

    async def touch_device(self, device_id: int, now_ms: int, seq: int) -> None: ...

    async def session(self, account_id: int, token: str) -> TimingSession | None: ...

    async def sessions_of_device(self, device_id: int) -> list[TimingSession]:
        """Newest first."""

    async def active_session(self, device_id: int) -> TimingSession | None: ...

    async def next_session(self, device_id: int, after_id: int) -> TimingSession | None: ...

    async def latest_session(self, device_id: int) -> TimingSession | None: ...

    async def insert_session(self, s: TimingSession) -> TimingSession:
        """Insert ``s``; return it with its new id. The schema refuses a second active session of a device."""

    async def close_session(self, session_id: int, now_ms: int, seq: int) -> None:
        """Close an active session; a closed one is left as it is."""

    async def add_passings(self, session: TimingSession, passings: Sequence[Passing], seq: int = 0) -> int:
        """Store the passings whose number the session lacks, each stamped with change ``seq`` (the
        change that records the batch); return how many were stored."""

    async def passings_of_change(self, session_id: int, first: int, last: int, seq: int) -> list[StoredPassing]:
        """The passings that change ``seq`` stored in a session, numbered ``first``..``last``, by number."""

    async def session_span(self, session_id: int) -> tuple[int | None, int | None]: ...

    async def set_session_counts(
        self, session_id: int, passings: int, first_ms: int | None, last_ms: int | None, seq: int
    ) -> None: ...

    async def passings_of_session(
        self, session_id: int, first: int | None, last: int | None, offset: int, limit: int
    ) -> list[StoredPassing]:
        """Numbered ``first``..``last`` (inclusive), by number."""

    async def passings_of_device(
        self, device_id: int, from_ms: int | None, to_ms: int | None, offset: int, limit: int
    ) -> list[StoredPassing]:
        """Timed ``from``..``to`` (inclusive), by time, then session, then number."""

    async def passings_after(
        self, session_id: int, after: int, from_ms: int | None, to_ms: int | None, offset: int, limit: int
    ) -> list[StoredPassing]:
        """Numbered above ``after`` within an optional time window, by number."""


class ParkingRepo(Protocol):
    """Parking locations, sessions, barcodes, and server secrets."""

    async def location(self, account_id: int, location_id: int) -> Location | None: ...

    async def location_by_name(self, account_id: int, name: str) -> Location | None:
        """The account's first location of this name (the demo reuses its location by name)."""

    async def locations(self, account_id: int) -> list[Location]: ...

    async def insert_location(self, loc: Location) -> Location: ...

    async def set_location_seq(self, location_id: int, seq: int) -> None: ...

    async def session(self, account_id: int, session_id: int) -> ParkingSession | None: ...

    async def sessions_of_location(self, location_id: int, after_id: int, limit: int) -> list[ParkingSession]: ...

    async def sessions_of_user(
        self, account_id: int, user_id: str, after_id: int, limit: int
    ) -> list[ParkingSession]: ...

    async def active_of_user(self, account_id: int, user_id: str) -> ParkingSession | None: ...

    async def open_of_barcode(self, account_id: int, code: str) -> ParkingSession | None:
        """The session carrying ``code`` that has not ended (a user pass has at most one)."""

    async def insert_session(self, s: ParkingSession) -> ParkingSession: ...

    async def update_session(self, s: ParkingSession) -> None:
        """Write a session's times, bill and seq (what ``core.parking.fire`` changes)."""

    async def barcode(self, account_id: int, code: str) -> Barcode | None: ...

    async def barcode_exists(self, code: str) -> bool:
        """Whether any account holds ``code`` (codes are unique across accounts)."""

    async def insert_barcode(self, b: Barcode) -> None: ...

    async def secret(self, name: str) -> str | None: ...

    async def ensure_secret(self, name: str, candidate: str) -> str:
        """The stored secret ``name``; ``candidate`` becomes it when none is stored yet (first writer wins)."""


class PagingRepo(Protocol):
    """Paging stations, their guest sessions (active and history), pages, and event snapshots."""

    async def station(self, account_id: int) -> Station | None: ...

    async def save_station(self, s: Station, seq: int) -> None: ...

    async def active(self, account_id: int, number: int) -> GuestSession | None: ...

    async def active_all(self, account_id: int) -> list[GuestSession]: ...

    async def history(self, account_id: int) -> list[GuestSession]: ...

    async def save_session(self, account_id: int, s: GuestSession) -> None:
        """Insert or overwrite the session ``(account_id, s.id)``; finishing one trims the history."""

    async def delete_history(self, account_id: int) -> int: ...

    async def add_page(self, account_id: int, p: Page) -> None: ...

    async def pages(self, account_id: int, limit: int = 100) -> list[Page]:
        """The latest pages, newest first."""

    async def add_event(self, seq: int, event: StationEvent) -> None: ...

    async def event(self, seq: int) -> StationEvent | None: ...


class Repos(Protocol):
    """The repositories of a connection: the read side, or one unit of work."""

    @property
    def accounts(self) -> AccountsRepo: ...

    @property
    def timing(self) -> TimingRepo: ...

    @property
    def parking(self) -> ParkingRepo: ...

    @property
    def paging(self) -> PagingRepo: ...


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
