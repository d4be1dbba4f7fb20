"""Parking: tables ``parking_locations``, ``parking_sessions``, ``parking_barcodes``,
``server_secrets``. Written once (see db.py).

Inside a PostgreSQL unit of work (``db.locking``) the lookups a service makes before it writes
take locks, so "read, decide, write" stays correct with writers in several processes:
``session``, ``open_of_barcode`` and ``barcode`` lock the row they return (``FOR NO KEY UPDATE``),
and ``active_of_user`` takes a transaction advisory lock on (account, user) first, so two
processes cannot both find "no active session" and both open one. SQLite's driver drops them.
"""

from __future__ import annotations

from dataclasses import replace

from sessionhub.core.parking import Barcode, Location, ParkingSession, Vehicle
from sessionhub.store.db import Db, Row

_LOCATION_SELECT = (
    "SELECT id, account_id, name, rate_per_hour, currency, increment_minutes, daily_max, created_ms, seq, gated,"
    " latitude, longitude FROM parking_locations"
)
_LOCATION = f"{_LOCATION_SELECT} WHERE id = $1 AND account_id = $2"
_LOCATION_BY_NAME = f"{_LOCATION_SELECT} WHERE account_id = $1 AND name = $2 ORDER BY id LIMIT 1"
_LOCATIONS = f"{_LOCATION_SELECT} WHERE account_id = $1 ORDER BY id"
_INSERT_LOCATION = (
    "INSERT INTO parking_locations (account_id, name, rate_per_hour, currency, increment_minutes, daily_max,"
    " created_ms, seq, gated, latitude, longitude) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id"
)
_SET_LOCATION_SEQ = "UPDATE parking_locations SET seq = $1 WHERE id = $2"
_SET_RATES = (
    "UPDATE parking_locations SET rate_per_hour = $1, increment_minutes = $2, daily_max = $3"
    " WHERE id = $4 AND account_id = $5"
)

_SESSION_SELECT = (
    "SELECT id, account_id, location_id, user_id, barcode, start_ms, end_ms, cost, currency, created_ms, seq"
    " FROM parking_sessions"
)
_SESSION = f"{_SESSION_SELECT} WHERE id = $1 AND account_id = $2 FOR NO KEY UPDATE"
_SESSIONS_OF_LOCATION = f"{_SESSION_SELECT} WHERE location_id = $1 AND id > $2 ORDER BY id LIMIT $3"
_SESSIONS_OF_USER = f"{_SESSION_SELECT} WHERE account_id = $1 AND user_id = $2 AND id > $3 ORDER BY id LIMIT $4"
_ACTIVE_OF_USER = f"{_SESSION_SELECT} WHERE account_id = $1 AND user_id = $2 AND end_ms IS NULL FOR NO KEY UPDATE"
_OPEN_OF_BARCODE = (
    f"{_SESSION_SELECT} WHERE account_id = $1 AND barcode = $2 AND end_ms IS NULL ORDER BY id DESC LIMIT 1"
    " FOR NO KEY UPDATE"
)
_INSERT_SESSION = (
    "INSERT INTO parking_sessions (account_id, location_id, user_id, barcode, start_ms, end_ms, cost,"
    " currency, created_ms, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"
)
_UPDATE_SESSION = (
    "UPDATE parking_sessions SET start_ms = $1, end_ms = $2, cost = $3, currency = $4, seq = $5 WHERE id = $6"
)

_BARCODE_COLS = "code, account_id, user_id, location_id, session_id, created_ms"
_BARCODE = f"SELECT {_BARCODE_COLS} FROM parking_barcodes WHERE code = $1 AND account_id = $2 FOR NO KEY UPDATE"
_BARCODE_EXISTS = "SELECT 1 FROM parking_barcodes WHERE code = $1"
_INSERT_BARCODE = f"INSERT INTO parking_barcodes ({_BARCODE_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"

_VEHICLE_COLS = "account_id, user_id, plate, text, country, subdivision, updated_ms"
_VEHICLE = f"SELECT {_VEHICLE_COLS} FROM parking_vehicles WHERE account_id = $1 AND user_id = $2"
_VEHICLE_BY_PLATE = f"SELECT {_VEHICLE_COLS} FROM parking_vehicles WHERE account_id = $1 AND plate = $2"
_SAVE_VEHICLE = (
    f"INSERT INTO parking_vehicles ({_VEHICLE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    " ON CONFLICT (account_id, user_id) DO UPDATE SET plate = excluded.plate, text = excluded.text,"
    " country = excluded.country, subdivision = excluded.subdivision, updated_ms = excluded.updated_ms"
)

_SECRET = "SELECT value FROM server_secrets WHERE name = $1"
_ADD_SECRET = "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING"


def _location(row: Row | None) -> Location | None:
    if row is None:
        return None
    (id_, account_id, name, rate, currency, increment, daily_max, created_ms, seq, gated, lat, lon) = row
    return Location(id_, account_id, name, rate, currency, increment, daily_max, created_ms, seq, bool(gated), lat, lon)


def _session(row: Row | None) -> ParkingSession | None:
    return None if row is None else ParkingSession(*row)


class Parking:
    """Parking locations, sessions, barcodes, and server secrets."""

    def __init__(self, db: Db) -> None:
        self._db = db

    # locations --------------------------------------------------------------------------------

    async def location(self, account_id: int, location_id: int) -> Location | None:
        return _location(await self._db.one(_LOCATION, location_id, account_id))

    async def location_by_name(self, account_id: int, name: str) -> Location | None:
        """The account's first location of this name (the demo reuses its location by name)."""
        return _location(await self._db.one(_LOCATION_BY_NAME, account_id, name))

    async def locations(self, account_id: int) -> list[Location]:
        return [loc for r in await self._db.all(_LOCATIONS, account_id) if (loc := _location(r)) is not None]

    async def insert_location(self, loc: Location) -> Location:
        new_id = await self._db.value(
            _INSERT_LOCATION, loc.account_id, loc.name, loc.rate_per_hour, loc.currency, loc.increment_minutes,
            loc.daily_max, loc.created_ms, loc.seq, int(loc.gated), loc.latitude, loc.longitude,
        )
        return replace(loc, id=int(new_id))

    async def set_rates(self, loc: Location) -> None:
        """Write ``loc``'s rate, increment and daily maximum (an admin's edit)."""
        await self._db.run(_SET_RATES, loc.rate_per_hour, loc.increment_minutes, loc.daily_max, loc.id, loc.account_id)

    async def set_location_seq(self, location_id: int, seq: int) -> None:
        await self._db.run(_SET_LOCATION_SEQ, seq, location_id)

    # sessions ---------------------------------------------------------------------------------

    async def session(self, account_id: int, session_id: int) -> ParkingSession | None:
        return _session(await self._db.one(_SESSION, session_id, account_id))

    async def sessions_of_location(self, location_id: int, after_id: int, limit: int) -> list[ParkingSession]:
        return [ParkingSession(*r) for r in await self._db.all(_SESSIONS_OF_LOCATION, location_id, after_id, limit)]

    async def sessions_of_user(self, account_id: int, user_id: str, after_id: int, limit: int) -> list[ParkingSession]:
        rows = await self._db.all(_SESSIONS_OF_USER, account_id, user_id, after_id, limit)
        return [ParkingSession(*r) for r in rows]

    async def active_of_user(self, account_id: int, user_id: str) -> ParkingSession | None:
        if self._db.locking:
            await self._db.advisory_lock(account_id, user_id)
        return _session(await self._db.one(_ACTIVE_OF_USER, account_id, user_id))

    async def open_of_barcode(self, account_id: int, code: str) -> ParkingSession | None:
        """The session carrying ``code`` that has not ended (a user pass has at most one)."""
        return _session(await self._db.one(_OPEN_OF_BARCODE, account_id, code))

    async def insert_session(self, s: ParkingSession) -> ParkingSession:
        new_id = await self._db.value(
            _INSERT_SESSION, s.account_id, s.location_id, s.user_id, s.barcode, s.start_ms, s.end_ms, s.cost,
            s.currency, s.created_ms, s.seq,
        )
        return replace(s, id=int(new_id))

    async def update_session(self, s: ParkingSession) -> None:
        """Write a session's times, bill and seq (what ``core.parking.fire`` changes)."""
        await self._db.run(_UPDATE_SESSION, s.start_ms, s.end_ms, s.cost, s.currency, s.seq, s.id)

    # barcodes ---------------------------------------------------------------------------------

    async def barcode(self, account_id: int, code: str) -> Barcode | None:
        row = await self._db.one(_BARCODE, code, account_id)
        return None if row is None else Barcode(*row)

    async def barcode_exists(self, code: str) -> bool:
        """Whether any account holds ``code`` (codes are unique across accounts)."""
        return await self._db.value(_BARCODE_EXISTS, code) is not None

    async def insert_barcode(self, b: Barcode) -> None:
        await self._db.run(_INSERT_BARCODE, b.code, b.account_id, b.user_id, b.location_id, b.session_id,
                           b.created_ms)

    # vehicles ---------------------------------------------------------------------------------

    async def vehicle(self, account_id: int, user_id: str) -> Vehicle | None:
        row = await self._db.one(_VEHICLE, account_id, user_id)
        return None if row is None else Vehicle(*row)

    async def vehicle_by_plate(self, account_id: int, plate: str) -> Vehicle | None:
        """The vehicle with this (normalised) plate. In a PostgreSQL unit of work it first locks the
        plate, so two users registering it at once queue up and the second sees the first's."""
        if self._db.locking:
            await self._db.advisory_lock(account_id, f"plate:{plate}")
        row = await self._db.one(_VEHICLE_BY_PLATE, account_id, plate)
        return None if row is None else Vehicle(*row)

    async def save_vehicle(self, v: Vehicle) -> None:
        """Make ``v`` its user's current vehicle (replacing the one before)."""
        await self._db.run(_SAVE_VEHICLE, v.account_id, v.user_id, v.plate, v.text, v.country, v.subdivision,
                           v.updated_ms)

    # secrets ----------------------------------------------------------------------------------

    async def secret(self, name: str) -> str | None:
        found = await self._db.value(_SECRET, name)
        return None if found is None else str(found)

    async def ensure_secret(self, name: str, candidate: str) -> str:
        """The stored secret ``name``; ``candidate`` becomes it when none is stored yet (first writer wins)."""
        await self._db.run(_ADD_SECRET, name, candidate)
        return str(await self._db.value(_SECRET, name))
