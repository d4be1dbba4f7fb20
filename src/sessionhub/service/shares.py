"""Share links: make, list and revoke an object's links (a signed-in key), and read the one object a
link opens (anyone holding it).

Making a link checks that the object is the key's account's (else the object's own NotFound, as
the APIs answer); a link then reads its object by what the stored share names, under the share's
account, so it can never reach another object or account (core/shares.py). Reads are read-only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionhub.core import parking, shares
from sessionhub.core.access import Key, Operation, authorize
from sessionhub.core.errors import NotFound, SessionNotFound
from sessionhub.core.paging import DEFAULT_STATION, GuestSession, State, Station
from sessionhub.core.parking import Location, ParkingSession
from sessionhub.core.shares import Kind, Share
from sessionhub.core.timing import Passing, TimingSession
from sessionhub.service.ports import Clock, Ids, Publisher, Repos, Store

MAX_BIB_PASSINGS = 1000
"""A bib's passings "your race" shows (a lap race of a day stays far below)."""


@dataclass(frozen=True, slots=True)
class Stay:
    """"Your parking stay": the session, where, and what it costs so far (None while pending)."""

    share: Share
    session: ParkingSession
    location: Location
    cost: int | None


@dataclass(frozen=True, slots=True)
class Race:
    """"Your race": a bib's passings in one timing session, by number."""

    share: Share
    session: TimingSession
    bib: str
    passings: list[Passing]


@dataclass(frozen=True, slots=True)
class Table:
    """"Your table": the guest's session, its station (for the clock), and the parties ahead of it
    (waiting, arrived earlier)."""

    share: Share
    guest: GuestSession
    station: Station | None
    ahead: int


class ShareService:
    def __init__(self, store: Store, live: Publisher, clock: Clock, ids: Ids) -> None:
        self._store, self._live, self._clock, self._ids = store, live, clock, ids

    def now_ms(self) -> int:
        return self._clock.now_ms()

    # making, listing, revoking (a signed-in key) -------------------------------------------------

    async def share_parking(self, key: Key | None, session_id: int) -> tuple[str, Share]:
        """A link to "your parking stay" of the key's account's session. Raises SessionNotFound."""
        key = authorize(key, Operation.WRITE)
        if await self._store.reads.parking.session(key.account_id, session_id) is None:
            raise SessionNotFound(f"session {session_id} not found", str(session_id))
        return await self._create(key, Kind.PARKING, shares.parking_ref(session_id))

    async def share_bib(self, key: Key | None, token: str, bib: str) -> tuple[str, Share]:
        """A link to "your race": ``bib`` in the key's account's timing session ``token`` (the bib
        may have no passing yet). Raises SessionNotFound, InvalidInput (a bib)."""
        key = authorize(key, Operation.WRITE)
        ref = shares.timing_ref(token, bib)
        if "/" in token or await self._store.reads.timing.session(key.account_id, token) is None:
            raise SessionNotFound("Session not found", token)
        return await self._create(key, Kind.TIMING, ref)

    async def share_table(self, key: Key | None, number: int, station: str = DEFAULT_STATION) -> tuple[str, Share]:
        """A link to "your table": the party now on pager ``number`` of the key's account's station
        ``station``. Raises SessionNotFound (nobody on it)."""
        key = authorize(key, Operation.WRITE)
        guest = await self._store.reads.paging.active(key.account_id, number, station=station)
        if guest is None:
            raise SessionNotFound(f"no active session on pager {number}", str(number))
        return await self._create(key, Kind.PAGING, shares.paging_ref(guest.id, number, station))

    async def _create(self, key: Key, kind: Kind, ref: str) -> tuple[str, Share]:
        raw = self._ids.hex_token(shares.TOKEN_BYTES).lower()
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            shares.check_room(await uow.shares.live_of_object(key.account_id, kind, ref))
            share = await uow.shares.insert(key.account_id, shares.token_hash(raw), kind, ref, now)
        return raw, share

    async def shares_of(self, key: Key | None, kind: Kind, ref: str) -> list[Share]:
        """The links made of one of the key's account's objects, newest first (the latest 200)."""
        key = authorize(key, Operation.READ)
        return await self._store.reads.shares.of_object(key.account_id, kind, ref, shares.MAX_PER_OBJECT * 10)

    async def revoke(self, key: Key | None, share_id: int) -> None:
        """Revoke a link of the key's account. Raises NotFound (none live with that id there)."""
        key = authorize(key, Operation.WRITE)
        async with self._store.unit_of_work() as uow:
            if not await uow.shares.revoke(key.account_id, share_id, self._clock.now_ms()):
                raise NotFound(f"no live link {share_id}", str(share_id))

    # what a link opens (anyone holding it) ---------------------------------------------------------

    async def resolve(self, token: str) -> Share:
        """The live share of ``token``. Raises NotFound (malformed, unknown or revoked)."""
        share = await self._store.reads.shares.live(shares.token_hash(shares.check_token(token)))
        if share is None:
            raise NotFound("this link is not valid, or it was revoked", None)
        return share

    async def still_live(self, share_id: int) -> bool:
        """Whether the share is unrevoked (an open live view checks it on each heartbeat)."""
        return await self._store.reads.shares.live_by_id(share_id) is not None

    async def stay(self, token: str) -> Stay:
        share = await self._kind(token, Kind.PARKING)
        reads = self._store.reads
        session = await reads.parking.session(share.account_id, shares.parse_parking(share.ref))
        location = None if session is None else await reads.parking.location(share.account_id, session.location_id)
        if session is None or location is None:
            raise NotFound("this parking stay is gone", None)
        if session.end_ms is not None:
            cost = session.cost
        elif session.start_ms is not None:
            cost = parking.cost(location, session.start_ms, self._clock.now_ms())
        else:
            cost = None
        return Stay(share, session, location, cost)

    async def race(self, token: str) -> Race:
        share = await self._kind(token, Kind.TIMING)
        session_token, bib = shares.parse_timing(share.ref)
        reads = self._store.reads
        session = await reads.timing.session(share.account_id, session_token)
        if session is None:
            raise NotFound("this race's timing session is gone", None)
        rows = await reads.timing.passings_of_bib(session.id, bib, MAX_BIB_PASSINGS)
        return Race(share, session, bib, [r.passing for r in rows])

    async def table(self, token: str) -> Table:
        share = await self._kind(token, Kind.PAGING)
        guest_id, number, station = shares.parse_paging(share.ref)
        guest, ahead = await self._guest(self._store.reads, share.account_id, station, guest_id, number)
        if guest is None:
            raise NotFound("this visit is no longer on the waitlist", None)
        return Table(share, guest, await self._store.reads.paging.station(share.account_id, station=station), ahead)

    async def _kind(self, token: str, kind: Kind) -> Share:
        share = await self.resolve(token)
        if share.kind is not kind:  # only the view of its own kind: never another page of the object
            raise NotFound("this link is not valid, or it was revoked", None)
        return share

    @staticmethod
    async def _guest(reads: Repos, account_id: int, station: str, guest_id: int,
                     number: int) -> tuple[GuestSession | None, int]:
        """The guest session ``guest_id`` of the station (on its pager while active, else in the
        history) and the parties waiting ahead of it."""
        active = await reads.paging.active_all(account_id, station=station)
        mine = next((s for s in active if s.id == guest_id and s.number == number), None)
        if mine is not None:
            ahead = sum(1 for s in active if s.state is State.STARTED and s.created_ms < mine.created_ms)
            return mine, ahead
        return next((s for s in await reads.paging.history(account_id, station=station) if s.id == guest_id), None), 0
