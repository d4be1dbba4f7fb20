"""Parking tables on PostgreSQL: parking_locations, parking_sessions, parking_barcodes, server_secrets.

Inside a unit of work (``locking=True``) the lookups a service makes before it writes take locks,
so "read, decide, write" stays correct with writers in several processes: ``session``,
``open_of_barcode`` and ``barcode`` lock the row they return (``FOR NO KEY UPDATE``), and
``active_of_user`` takes a transaction advisory lock on (account, user) first, so two processes
cannot both find "no active session" and both open one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sessionhub.core.parking import Barcode, Location, ParkingSession
from sessionhub.store.postgres_db import Db

_LOCATION_COLS = "id, account_id, name, rate_per_hour, currency, increment_minutes, daily_max, created_ms, seq"
_SESSION_COLS = "id, account_id, location_id, user_id, barcode, start_ms, end_ms, cost, currency, created_ms, seq"
_BARCODE_COLS = "code, account_id, user_id, location_id, session_id, created_ms"


def _location(row: Any) -> Location | None:
    return None if row is None else Location(*row)


def _session(row: Any) -> ParkingSession | None:
    return None if row is None else ParkingSession(*row)


class PgParking:
    """Parking queries on the pool (reads) or on a unit of work's connection (``locking``)."""

    def __init__(self, db: Db, locking: bool = False) -> None:
        self._db = db
        self._locking = locking
        self._lock = " FOR NO KEY UPDATE" if locking else ""

    # locations --------------------------------------------------------------------------------

    async def location(self, account_id: int, location_id: int) -> Location | None:
        row = await self._db.fetchrow(
            f"SELECT {_LOCATION_COLS} FROM parking_locations WHERE id = $1 AND account_id = $2", location_id, account_id
        )
        return _location(row)

    async def location_by_name(self, account_id: int, name: str) -> Location | None:
        row = await self._db.fetchrow(
            f"SELECT {_LOCATION_COLS} FROM parking_locations WHERE account_id = $1 AND name = $2 ORDER BY id LIMIT 1",
            account_id, name,
        )
        return _location(row)

    async def locations(self, account_id: int) -> list[Location]:
        rows = await self._db.fetch(
            f"SELECT {_LOCATION_COLS} FROM parking_locations WHERE account_id = $1 ORDER BY id", account_id
        )
        return [Location(*r) for r in rows]

    async def insert_location(self, loc: Location) -> Location:
        new_id = await self._db.fetchval(
            "INSERT INTO parking_locations (account_id, name, rate_per_hour, currency, increment_minutes, daily_max,"
            " created_ms, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            loc.account_id, loc.name, loc.rate_per_hour, loc.currency, loc.increment_minutes, loc.daily_max,
            loc.created_ms, loc.seq,
        )
        return replace(loc, id=int(new_id))

    async def set_location_seq(self, location_id: int, seq: int) -> None:
        await self._db.execute("UPDATE parking_locations SET seq = $1 WHERE id = $2", seq, location_id)

    # sessions ---------------------------------------------------------------------------------

    async def session(self, account_id: int, session_id: int) -> ParkingSession | None:
        row = await self._db.fetchrow(
            f"SELECT {_SESSION_COLS} FROM parking_sessions WHERE id = $1 AND account_id = $2{self._lock}",
            session_id, account_id,
        )
        return _session(row)

    async def sessions_of_location(self, location_id: int, after_id: int, limit: int) -> list[ParkingSession]:
        rows = await self._db.fetch(
            f"SELECT {_SESSION_COLS} FROM parking_sessions WHERE location_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            location_id, after_id, limit,
        )
        return [ParkingSession(*r) for r in rows]

    async def sessions_of_user(self, account_id: int, user_id: str, after_id: int, limit: int) -> list[ParkingSession]:
        rows = await self._db.fetch(
            f"SELECT {_SESSION_COLS} FROM parking_sessions WHERE account_id = $1 AND user_id = $2 AND id > $3"
            " ORDER BY id LIMIT $4",
            account_id, user_id, after_id, limit,
        )
        return [ParkingSession(*r) for r in rows]

    async def active_of_user(self, account_id: int, user_id: str) -> ParkingSession | None:
        if self._locking:
            await self._db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", account_id, user_id)
        row = await self._db.fetchrow(
            f"SELECT {_SESSION_COLS} FROM parking_sessions WHERE account_id = $1 AND user_id = $2 AND end_ms IS NULL"
            f"{self._lock}",
            account_id, user_id,
        )
        return _session(row)

    async def open_of_barcode(self, account_id: int, code: str) -> ParkingSession | None:
        row = await self._db.fetchrow(
            f"SELECT {_SESSION_COLS} FROM parking_sessions WHERE account_id = $1 AND barcode = $2 AND end_ms IS NULL"
            f" ORDER BY id DESC LIMIT 1{self._lock}",
            account_id, code,
        )
        return _session(row)

    async def insert_session(self, s: ParkingSession) -> ParkingSession:
        new_id = await self._db.fetchval(
            "INSERT INTO parking_sessions (account_id, location_id, user_id, barcode, start_ms, end_ms, cost,"
            " currency, created_ms, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            s.account_id, s.location_id, s.user_id, s.barcode, s.start_ms, s.end_ms, s.cost, s.currency,
            s.created_ms, s.seq,
        )
        return replace(s, id=int(new_id))

    async def update_session(self, s: ParkingSession) -> None:
        await self._db.execute(
            "UPDATE parking_sessions SET start_ms = $1, end_ms = $2, cost = $3, currency = $4, seq = $5 WHERE id = $6",
            s.start_ms, s.end_ms, s.cost, s.currency, s.seq, s.id,
        )

    # barcodes ---------------------------------------------------------------------------------

    async def barcode(self, account_id: int, code: str) -> Barcode | None:
        row = await self._db.fetchrow(
            f"SELECT {_BARCODE_COLS} FROM parking_barcodes WHERE code = $1 AND account_id = $2{self._lock}",
            code, account_id,
        )
        return None if row is None else Barcode(*row)

    async def barcode_exists(self, code: str) -> bool:
        return await self._db.fetchval("SELECT 1 FROM parking_barcodes WHERE code = $1", code) is not None

    async def insert_barcode(self, b: Barcode) -> None:
        await self._db.execute(
            f"INSERT INTO parking_barcodes ({_BARCODE_COLS}) VALUES ($1, $2, $3, $4, $5, $6)",
            b.code, b.account_id, b.user_id, b.location_id, b.session_id, b.created_ms,
        )

    # secrets ----------------------------------------------------------------------------------

    async def secret(self, name: str) -> str | None:
        found = await self._db.fetchval("SELECT value FROM server_secrets WHERE name = $1", name)
        return None if found is None else str(found)

    async def ensure_secret(self, name: str, candidate: str) -> str:
        await self._db.execute(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", name, candidate
        )
        return str(await self._db.fetchval("SELECT value FROM server_secrets WHERE name = $1", name))
