"""Parking access use cases: one method per Coord Parking Access operation, plus the gate.

Each write is authorize -> load -> ``core.parking`` decides -> write inside one unit of work,
appending a change for the session and one for its location -> commit -> publish. Objects of
other accounts are answered exactly as missing ones. The hot read (a session polled by an app)
is served from an in-memory body cache dropped by ``on_change``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from sessionhub.core import parking
from sessionhub.core.access import Access, Key, Operation, authorize
from sessionhub.core.changes import Change, parking_location_topic, parking_session_topic
from sessionhub.core.errors import (
    BarcodeNotFound,
    Forbidden,
    InvalidInput,
    LocationNotFound,
    PlateNotFound,
    SessionNotFound,
    Unauthorized,
)
from sessionhub.core.parking import Barcode, Event, Location, ParkingSession, Vehicle
from sessionhub.service import snapshots
from sessionhub.service.parking_users import UserTokens
from sessionhub.service.ports import Clock, Ids, Publisher, Repos, Store

MAX_LIST = 10_000
"""Sessions in one list response; ``after_id`` pages on."""

_SESSION_TOPIC = parking_session_topic(0).removesuffix("0")
_MAX_CACHED = 100_000

Render = Callable[[ParkingSession], bytes]


async def _no_keys(raw: str) -> Key | None:
    return None


class ParkingService:
    def __init__(
        self, store: Store, live: Publisher, clock: Clock, ids: Ids, jwt_secret: str | None = None,
        keys: Callable[[str], Awaitable[Key | None]] | None = None,
    ) -> None:
        """``keys`` authenticates a raw key (AccessService.authenticate): Coord's server tokens are keys."""
        self._store, self._live, self._clock, self._ids = store, live, clock, ids
        self._keys = keys or _no_keys
        self.users = UserTokens(store, clock, ids, jwt_secret)
        self._bodies: dict[int, tuple[int, int, bytes]] = {}

    def on_change(self, change: Change) -> None:
        """Change-feed hook: drop the cached body of a session that changed."""
        if change.topic.startswith(_SESSION_TOPIC):
            self._bodies.pop(int(change.topic[len(_SESSION_TOPIC):]), None)

    # helpers ----------------------------------------------------------------------------------

    async def _location(self, repos: Repos, key: Key, location_id: int) -> Location:
        location = await repos.parking.location(key.account_id, location_id)
        if location is None:
            raise LocationNotFound(f"location {location_id} not found", str(location_id))
        return location

    async def _session(self, repos: Repos, key: Key, location_id: int, session_id: int) -> ParkingSession:
        session = await repos.parking.session(key.account_id, session_id)
        if session is None or session.location_id != location_id:
            raise SessionNotFound(f"session {session_id} not found at location {location_id}", str(session_id))
        return session

    async def _user(self, key: Key, bearer: str | None, user_id: str | None) -> str:
        user = await self.users.user(key, bearer, user_id)
        if user is None:
            raise InvalidInput("name the user: user_id, or an Authorization: Bearer <JWT> header", "user_id")
        return user

    async def _save(self, repos: Repos, session: ParkingSession, insert: bool = False) -> ParkingSession:
        """Append the session's and its location's changes, then write the session stamped with its seq."""
        now = self._clock.now_ms()
        account = session.account_id
        if insert:
            session = await repos.parking.insert_session(session)
        snapshot = snapshots.parking(session)  # what a resumed stream replays for both changes
        seq = await repos.accounts.append_change(account, parking_session_topic(session.id), now, snapshot)
        session = parking.replace_seq(session, seq)
        await repos.parking.update_session(session)
        loc_seq = await repos.accounts.append_change(
            account, parking_location_topic(session.location_id), now, snapshot)
        await repos.parking.set_location_seq(session.location_id, loc_seq)
        return session

    async def _new_barcode(self, repos: Repos) -> str:
        while True:  # 20 random digits: a collision is astronomically rare, but never a 500
            code = parking.barcode_from(self._ids.hex_token(10))
            if not await repos.parking.barcode_exists(code):
                return code

    # locations --------------------------------------------------------------------------------

    async def create_location(
        self, account: str, name: str, rate_per_hour: int, currency: str, increment_minutes: int = 15,
        daily_max: int | None = None, gated: bool = False, latitude: float | None = None,
        longitude: float | None = None,
    ) -> int:
        """Create a location for ``account`` (created if new); return its id. An operator's call (CLI).
        ``gated``: a gate scans barcodes there, so new sessions wait for it (core.parking.takes_barcode);
        ``latitude``/``longitude``: where it is, for a search around a point."""
        if not account.strip():
            raise InvalidInput("account name must not be empty", "account")
        return await self._add_location(account, name, rate_per_hour, currency, increment_minutes, daily_max, gated,
                                        latitude, longitude)

    async def add_location(
        self, key: Key | None, name: str, rate_per_hour: int, currency: str, increment_minutes: int = 15,
        daily_max: int | None = None, gated: bool = False, latitude: float | None = None,
        longitude: float | None = None,
    ) -> int:
        """An admin key creates a location of its own account (as ``create_location``); its id.
        Raises Unauthorized, Forbidden (not an admin key), InvalidInput (``core.parking.new_location``)."""
        key = authorize(key, Operation.ADMIN)
        return await self._add_location(key.account_id, name, rate_per_hour, currency, increment_minutes, daily_max,
                                        gated, latitude, longitude)

    async def _add_location(self, account: str | int, name: str, rate_per_hour: int, currency: str,
                            increment_minutes: int, daily_max: int | None, gated: bool, latitude: float | None,
                            longitude: float | None) -> int:
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            account_id = account if isinstance(account, int) else await uow.accounts.ensure_account(account, False, now)
            location = parking.new_location(account_id, name, rate_per_hour, currency, increment_minutes,
                                            daily_max, now, gated, latitude, longitude)
            location = await uow.parking.insert_location(location)
            seq = await uow.accounts.append_change(account_id, parking_location_topic(location.id), now)
            await uow.parking.set_location_seq(location.id, seq)
        await self._live.catch_up()
        return location.id

    async def set_rates(self, key: Key | None, location_id: int, rate_per_hour: int, increment_minutes: int,
                        daily_max: int | None) -> Location:
        """An admin key changes a location's rates (``core.parking.with_rates``); the location as stored.
        Raises Unauthorized, Forbidden, LocationNotFound (another account's too), InvalidInput."""
        key = authorize(key, Operation.ADMIN)
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            location = parking.with_rates(await self._location(uow, key, location_id), rate_per_hour,
                                          increment_minutes, daily_max)
            await uow.parking.set_rates(location)
            seq = await uow.accounts.append_change(key.account_id, parking_location_topic(location.id), now)
            await uow.parking.set_location_seq(location.id, seq)
        await self._live.catch_up()
        return replace(location, seq=seq)

    async def locations(self, account: str) -> list[Location]:
        account_id = await self._store.reads.accounts.account_id(account)
        return [] if account_id is None else await self._store.reads.parking.locations(account_id)

    async def locations_of(self, key: Key | None) -> list[Location]:
        """The key's account's locations, by id."""
        key = authorize(key, Operation.READ)
        return await self._store.reads.parking.locations(key.account_id)

    async def location(self, key: Key | None, location_id: int) -> Location:
        key = authorize(key, Operation.READ)
        return await self._location(self._store.reads, key, location_id)

    async def location_by_name(self, key: Key | None, name: str) -> Location | None:
        key = authorize(key, Operation.READ)
        return await self._store.reads.parking.location_by_name(key.account_id, name)

    async def search(
        self, key: Key | None, location_ids: list[int] | None, duration_m: int | None,
        where: parking.Area | None = None,
    ) -> list[tuple[Location, int | None, float | None]]:
        """Coord's Parking Search over the key's account: its locations (only ``location_ids`` when
        given), each with what a stay of ``duration_m`` minutes costs there (None without it) and its
        distance from ``where``'s centre. Without ``where``: every location, by id; with it: those
        inside it, nearest first (a location without coordinates is in no area)."""
        key = authorize(key, Operation.READ)
        stay = None if duration_m is None else parking.check_simulated_minutes(duration_m)
        found = await self._store.reads.parking.locations(key.account_id)
        if location_ids is not None:
            wanted = set(location_ids)
            found = [loc for loc in found if loc.id in wanted]
        placed = [(loc, None) for loc in found] if where is None else parking.within(found, where)
        return [(loc, None if stay is None else parking.cost(loc, 0, stay), km) for loc, km in placed[:MAX_LIST]]

    async def search_one(
        self, key: Key | None, location_id: int, duration_m: int | None
    ) -> tuple[Location, int | None]:
        """One location of the search (LocationNotFound for another account's, as for a missing one)."""
        key = authorize(key, Operation.READ)
        stay = None if duration_m is None else parking.check_simulated_minutes(duration_m)
        location = await self._location(self._store.reads, key, location_id)
        return location, None if stay is None else parking.cost(location, 0, stay)

    # sessions ---------------------------------------------------------------------------------

    async def create_session(
        self, key: Key | None, location_id: int, *, bearer: str | None, user_id: str | None,
        barcode: bool | None = None,
    ) -> ParkingSession:
        """A session for the named user: started now, or pending with a barcode to scan: as ``barcode``
        says, else as the location's kind says (gated: pending).

        Raises:
            IllegalTransition: the user already has an active session.
        """
        key = authorize(key, Operation.WRITE)
        user = await self._user(key, bearer, user_id)
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            location = await self._location(uow, key, location_id)
            parking.check_no_active(user, await uow.parking.active_of_user(key.account_id, user))
            code = await self._new_barcode(uow) if parking.takes_barcode(location, barcode) else None
            session = await self._save(uow, parking.new_session(location, user, now, code, started=False), True)
            if code is not None:
                await uow.parking.insert_barcode(Barcode(code, key.account_id, user, location_id, session.id, now))
        await self._live.catch_up()
        return session

    async def session(self, key: Key | None, location_id: int, session_id: int) -> ParkingSession:
        key = authorize(key, Operation.READ)
        return await self._session(self._store.reads, key, location_id, session_id)

    async def session_body(self, key: Key | None, location_id: int, session_id: int, render: Render) -> bytes:
        """``render(session)``, served from memory until the session changes (the polled path).

        ``render`` must be the same function on every call: the cache holds its output.
        """
        key = authorize(key, Operation.READ)
        hit = self._bodies.get(session_id)
        if hit is not None and hit[0] == key.account_id and hit[1] == location_id:
            return hit[2]
        published = self._live.last_seq
        body = render(await self._session(self._store.reads, key, location_id, session_id))
        if self._live.last_seq == published:  # no change slipped in while we read: safe to keep
            if len(self._bodies) >= _MAX_CACHED:
                self._bodies.clear()
            self._bodies[session_id] = (key.account_id, location_id, body)
        return body

    async def sessions_of_location(
        self, key: Key | None, location_id: int, after_id: int | None, limit: int | None, check_only: bool = False,
        bearer: str | None = None,
    ) -> list[ParkingSession]:
        """The location's sessions by id, after ``after_id``, at most ``limit`` (default MAX_LIST).

        With a user's ``bearer`` token, only that user's sessions there (Coord: "at most one active").
        ``check_only``: make every check (and raise what they raise) but read no sessions (a 304).
        """
        key = authorize(key, Operation.READ)
        reads = self._store.reads
        await self._location(reads, key, location_id)
        user = None if bearer is None else await self.users.user(key, bearer, None)
        if check_only:
            return []
        if user is None:
            return await reads.parking.sessions_of_location(location_id, after_id or 0, limit or MAX_LIST)
        wanted, after, out = limit or MAX_LIST, after_id or 0, list[ParkingSession]()
        while len(out) < wanted:  # a user's sessions, kept where they are at this location; ids only grow
            page = await reads.parking.sessions_of_user(key.account_id, user, after, MAX_LIST)
            out.extend(s for s in page if s.location_id == location_id)
            if len(page) < MAX_LIST:
                break
            after = page[-1].id
        return out[:wanted]

    async def sessions_of_user(
        self, key: Key | None, *, bearer: str | None, user_id: str | None, after_id: int | None, limit: int | None
    ) -> list[ParkingSession]:
        """The named user's sessions by id (at most one active)."""
        key = authorize(key, Operation.READ)
        user = await self._user(key, bearer, user_id)
        return await self._store.reads.parking.sessions_of_user(key.account_id, user, after_id or 0, limit or MAX_LIST)

    async def end_session(self, key: Key | None, location_id: int, session_id: int) -> ParkingSession:
        """End and bill a started session without a barcode (IllegalTransition otherwise)."""
        return await self._fire(key, location_id, session_id, Event.END)

    async def simulate_redemption(
        self, key: Key | None, location_id: int, session_id: int, duration_m: int
    ) -> ParkingSession:
        """Test accounts only: a pending barcode session enters now and leaves ``duration_m`` later, billed."""
        key = authorize(key, Operation.WRITE)
        if not key.is_test_account:
            raise Forbidden("simulate_redemption is only for test accounts")
        return await self._fire(key, location_id, session_id, Event.REDEEM, parking.check_simulated_minutes(duration_m))

    async def _fire(
        self, key: Key | None, location_id: int, session_id: int, event: Event, duration_ms: int = 0
    ) -> ParkingSession:
        key = authorize(key, Operation.WRITE)
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            location = await self._location(uow, key, location_id)
            session = await self._session(uow, key, location_id, session_id)
            session = await self._save(uow, parking.fire(session, event, location, now, duration_ms))
        await self._live.catch_up()
        return session

    # barcodes and the gate --------------------------------------------------------------------

    async def create_barcode(
        self, key: Key | None, *, bearer: str | None, user_id: str | None, location_id: int | None
    ) -> Barcode:
        """A pass for the named user, valid at every location of the account or only ``location_id``."""
        key = authorize(key, Operation.WRITE)
        user = await self._user(key, bearer, user_id)
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            if location_id is not None:
                await self._location(uow, key, location_id)
            barcode = Barcode(await self._new_barcode(uow), key.account_id, user, location_id, None, now)
            await uow.parking.insert_barcode(barcode)
        return barcode

    async def scan(
        self, key: Key | None, location_id: int, code: str | None, direction: Event, plate: str | None = None
    ) -> ParkingSession:
        """The gate of ``location_id`` scanned barcode ``code``, or its camera read licence ``plate``
        (exactly one of them): ENTRY starts a session, EXIT ends and bills it.

        A plate names the user who registered it (PUT /v1/users/user/current/vehicle): at the entry it
        scans in that user's pending session here, or opens a started one with a fresh barcode (so a
        barcode reader at the exit works too); at the exit it ends the user's session inside.

        Raises:
            BarcodeNotFound: no such barcode for this account, or not valid at this location.
            PlateNotFound: no user of the account has registered the plate.
            IllegalTransition: a second entry, or an exit before entry.
        """
        key = authorize(key, Operation.WRITE)
        if direction not in (Event.ENTRY, Event.EXIT):
            raise InvalidInput("direction must be entry or exit", "direction")
        if (code is None) == (plate is None):
            raise InvalidInput("a scan names exactly one of barcode and plate", "barcode")
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            location = await self._location(uow, key, location_id)
            if plate is not None:
                session = await self._scan_plate(uow, key, location, plate, direction, now)
            else:
                assert code is not None
                session = await self._scan_barcode(uow, key, location, code, direction, now)
        await self._live.catch_up()
        return session

    async def _scan_plate(
        self, uow: Repos, key: Key, location: Location, plate: str, direction: Event, now: int
    ) -> ParkingSession:
        vehicle = await uow.parking.vehicle_by_plate(key.account_id, parking.plate_key(plate))
        if vehicle is None:
            raise PlateNotFound(f"no user has registered plate {parking.plate_key(plate)}", plate)
        active = await uow.parking.active_of_user(key.account_id, vehicle.user_id)
        if direction is Event.EXIT:
            inside, event = parking.plate_exit(active, location.id)
            return await self._save(uow, parking.fire(inside, event, location, now))
        pending = parking.plate_entry(active, location.id)
        if pending is not None:
            return await self._save(uow, parking.fire(pending, Event.ENTRY, location, now))
        code = await self._new_barcode(uow)
        session = await self._save(uow, parking.new_session(location, vehicle.user_id, now, code, started=True), True)
        await uow.parking.insert_barcode(Barcode(code, key.account_id, vehicle.user_id, location.id, session.id, now))
        return session

    async def _scan_barcode(
        self, uow: Repos, key: Key, location: Location, code: str, direction: Event, now: int
    ) -> ParkingSession:
        location_id = location.id
        barcode = await uow.parking.barcode(key.account_id, code)
        if barcode is None or not parking.valid_at(barcode, location_id):
            raise BarcodeNotFound(f"barcode {code} is not known at location {location_id}", code)
        if barcode.session_id is not None:  # a session's own barcode
            session = await self._session(uow, key, location_id, barcode.session_id)
            session = await self._save(uow, parking.fire(session, direction, location, now))
        elif direction is Event.ENTRY:  # a user's pass opens a new session
            parking.pass_entry(barcode, await uow.parking.open_of_barcode(key.account_id, code))
            parking.check_no_active(barcode.user_id, await uow.parking.active_of_user(key.account_id,
                                                                                      barcode.user_id))
            fresh = parking.new_session(location, barcode.user_id, now, code, started=True)
            session = await self._save(uow, fresh, True)
        else:
            inside = parking.pass_exit(barcode, await uow.parking.open_of_barcode(key.account_id, code),
                                       location_id)
            session = await self._save(uow, parking.fire(inside, Event.EXIT, location, now))
        return session

    # users ------------------------------------------------------------------------------------

    async def set_vehicle(
        self, key: Key | None, *, bearer: str | None, user_id: str | None, text: str, country: str | None,
        subdivision: str | None,
    ) -> Vehicle:
        """The named user's current vehicle becomes the one with plate ``text`` (a gate's camera may
        then stand in for a barcode). A plate belongs to one user of the account (AlreadyExists)."""
        key = authorize(key, Operation.WRITE)
        user = await self._user(key, bearer, user_id)
        now = self._clock.now_ms()
        async with self._store.unit_of_work() as uow:
            holder = await uow.parking.vehicle_by_plate(key.account_id, parking.plate_key(text))
            vehicle = parking.new_vehicle(key.account_id, user, text, country, subdivision, now, holder)
            await uow.parking.save_vehicle(vehicle)
        return vehicle

    async def current_user(
        self, key: Key | None, *, bearer: str | None, user_id: str | None
    ) -> tuple[str, Vehicle | None]:
        """The named user and their current vehicle (None before one is set)."""
        key = authorize(key, Operation.READ)
        user = await self._user(key, bearer, user_id)
        return user, await self._store.reads.parking.vehicle(key.account_id, user)

    async def check_bearer(self, key: Key | None, bearer: str | None) -> None:
        """Any call may carry a user's bearer token; a sent one must be valid (a 401 otherwise, never
        ignored). Without a key there is nothing to check it against: the call's own 401 follows."""
        if key is not None and bearer is not None:
            await self.users.user(key, bearer, None)

    async def create_jwt(self, key: Key | None, external_uid: str, server_token: str | None = None) -> str:
        """A bearer JWT (one hour) for the account's user ``external_uid``.

        ``server_token`` is Coord's ``Authorization: Bearer <Server Token>`` of this call: optional
        here (the WRITE key already proves the partner), but when sent it must be a live WRITE key of
        the same account, since sessionhub's keys are its server tokens.

        Raises:
            Unauthorized: a server token that is not such a key.
        """
        key = authorize(key, Operation.WRITE)
        if server_token is not None:
            server = await self._keys(server_token)
            if server is None or server.account_id != key.account_id or server.access is Access.READ:
                raise Unauthorized("the server token (Authorization: Bearer) must be a WRITE key of the same "
                                   "account as access_key, or be left out")
        return await self.users.issue(key, _external_uid(external_uid))

    async def create_test_jwt(self, key: Key | None, external_uid: str) -> str:
        """Coord's sandbox ``POST /v1/users/testing/create_jwt``: no server token, test accounts only
        (their sessions are the sandbox: ``simulate_redemption`` works on them).

        Raises:
            Forbidden: the key's account is not a test account.
        """
        key = authorize(key, Operation.WRITE)
        if not key.is_test_account:
            raise Forbidden("testing/create_jwt is only for test accounts (keys create --test-account)")
        return await self.users.issue(key, _external_uid(external_uid))


def _external_uid(external_uid: str) -> str:
    external_uid = external_uid.strip()
    if not external_uid:
        raise InvalidInput("external_uid must not be empty", "external_uid")
    return external_uid
