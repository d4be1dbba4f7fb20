"""Parking tables on SQLite: parking_locations, parking_sessions, parking_barcodes, server_secrets."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from sessionhub.core.parking import Barcode, Location, ParkingSession

_LOCATION_COLS = "id, account_id, name, rate_per_hour, currency, increment_minutes, daily_max, created_ms, seq"
_SESSION_COLS = "id, account_id, location_id, user_id, barcode, start_ms, end_ms, cost, currency, created_ms, seq"
_BARCODE_COLS = "code, account_id, user_id, location_id, session_id, created_ms"


def _location(row: tuple[object, ...] | None) -> Location | None:
    return None if row is None else Location(*row)  # type: ignore[arg-type]


def _session(row: tuple[object, ...] | None) -> ParkingSession | None:
    return None if row is None else ParkingSession(*row)  # type: ignore[arg-type]


class SqliteParking:
    """Parking queries on one connection: the read connection, or the writer inside a unit of work."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    # locations --------------------------------------------------------------------------------

    async def location(self, account_id: int, location_id: int) -> Location | None:
        row = self._c.execute(
            f"SELECT {_LOCATION_COLS} FROM parking_locations WHERE id = ? AND account_id = ?",
            (location_id, account_id),
        ).fetchone()
        return _location(row)

    async def location_by_name(self, account_id: int, name: str) -> Location | None:
        """The account's first location of this name (the demo reuses its location by name)."""
        row = self._c.execute(
            f"SELECT {_LOCATION_COLS} FROM parking_locations WHERE account_id = ? AND name = ? ORDER BY id LIMIT 1",
            (account_id, name),
        ).fetchone()
        return _location(row)

    async def locations(self, account_id: int) -> list[Location]:
        rows = self._c.execute(
            f"SELECT {_LOCATION_COLS} FROM parking_locations WHERE account_id = ? ORDER BY id", (account_id,)
        ).fetchall()
        return [Location(*row) for row in rows]

    async def insert_location(self, loc: Location) -> Location:
        cur = self._c.execute(
            "INSERT INTO parking_locations (account_id, name, rate_per_hour, currency, increment_minutes, daily_max,"
            " created_ms, seq) VALUES (?,?,?,?,?,?,?,?)",
            (loc.account_id, loc.name, loc.rate_per_hour, loc.currency, loc.increment_minutes, loc.daily_max,
             loc.created_ms, loc.seq),
        )
        return replace(loc, id=cur.lastrowid or 0)

    async def set_location_seq(self, location_id: int, seq: int) -> None:
        self._c.execute("UPDATE parking_locations SET seq = ? WHERE id = ?", (seq, location_id))

    # sessions ---------------------------------------------------------------------------------

    async def session(self, account_id: int, session_id: int) -> ParkingSession | None:
        row = self._c.execute(
            f"SELECT {_SESSION_COLS} FROM parking_sessions WHERE id = ? AND account_id = ?", (session_id, account_id)
        ).fetchone()
        return _session(row)

    async def sessions_of_location(self, location_id: int, after_id: int, limit: int) -> list[ParkingSession]:
        rows = self._c.execute(
            f"SELECT {_SESSION_COLS} FROM parking_sessions WHERE location_id = ? AND id > ? ORDER BY id LIMIT ?",
            (location_id, after_id, limit),
        ).fetchall()
        return [ParkingSession(*row) for row in rows]

    async def sessions_of_user(self, account_id: int, user_id: str, after_id: int, limit: int) -> list[ParkingSession]:
        rows = self._c.execute(
            f"SELECT {_SESSION_COLS} FROM parking_sessions WHERE account_id = ? AND user_id = ? AND id > ?"
            " ORDER BY id LIMIT ?",
            (account_id, user_id, after_id, limit),
        ).fetchall()
        return [ParkingSession(*row) for row in rows]

    async def active_of_user(self, account_id: int, user_id: str) -> ParkingSession | None:
        row = self._c.execute(
            f"SELECT {_SESSION_COLS} FROM parking_sessions WHERE account_id = ? AND user_id = ? AND end_ms IS NULL",
            (account_id, user_id),
        ).fetchone()
        return _session(row)

    async def open_of_barcode(self, account_id: int, code: str) -> ParkingSession | None:
        """The session carrying ``code`` that has not ended (a user pass has at most one)."""
        row = self._c.execute(
            f"SELECT {_SESSION_COLS} FROM parking_sessions WHERE account_id = ? AND barcode = ? AND end_ms IS NULL"
            " ORDER BY id DESC LIMIT 1",
            (account_id, code),
        ).fetchone()
        return _session(row)

    async def insert_session(self, s: ParkingSession) -> ParkingSession:
        cur = self._c.execute(
            "INSERT INTO parking_sessions (account_id, location_id, user_id, barcode, start_ms, end_ms, cost,"
            " currency, created_ms, seq) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (s.account_id, s.location_id, s.user_id, s.barcode, s.start_ms, s.end_ms, s.cost, s.currency,
             s.created_ms, s.seq),
        )
        return replace(s, id=cur.lastrowid or 0)

    async def update_session(self, s: ParkingSession) -> None:
        """Write a session's times, bill and seq (what ``core.parking.fire`` changes)."""
        self._c.execute(
            "UPDATE parking_sessions SET start_ms = ?, end_ms = ?, cost = ?, currency = ?, seq = ? WHERE id = ?",
            (s.start_ms, s.end_ms, s.cost, s.currency, s.seq, s.id),
        )

    # barcodes ---------------------------------------------------------------------------------

    async def barcode(self, account_id: int, code: str) -> Barcode | None:
        row = self._c.execute(
            f"SELECT {_BARCODE_COLS} FROM parking_barcodes WHERE code = ? AND account_id = ?", (code, account_id)
        ).fetchone()
        return None if row is None else Barcode(*row)

    async def barcode_exists(self, code: str) -> bool:
        """Whether any account holds ``code`` (codes are unique across accounts)."""
        return self._c.execute("SELECT 1 FROM parking_barcodes WHERE code = ?", (code,)).fetchone() is not None

    async def insert_barcode(self, b: Barcode) -> None:
        self._c.execute(
            f"INSERT INTO parking_barcodes ({_BARCODE_COLS}) VALUES (?,?,?,?,?,?)",
            (b.code, b.account_id, b.user_id, b.location_id, b.session_id, b.created_ms),
        )

    # secrets ----------------------------------------------------------------------------------

    async def secret(self, name: str) -> str | None:
        row = self._c.execute("SELECT value FROM server_secrets WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    async def ensure_secret(self, name: str, candidate: str) -> str:
        """The stored secret ``name``; ``candidate`` becomes it when none is stored yet (first writer wins)."""
        self._c.execute("INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                        (name, candidate))
        return str(self._c.execute("SELECT value FROM server_secrets WHERE name = ?", (name,)).fetchone()[0])
