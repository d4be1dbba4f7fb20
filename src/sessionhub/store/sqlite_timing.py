"""Race timing tables on SQLite: devices, timing_sessions, passings."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace

from sessionhub.core.timing import Device, DeviceStats, Passing, StoredPassing, TimingSession

_DEVICE_COLS = "id, account_id, deviceid, type, model, serial_number, alias, firmware, created_ms, last_seen_ms, seq"
_SESSION_COLS = (
    "s.id, s.account_id, s.device_id, d.deviceid, s.token, s.alias, s.created_ms, s.closed_ms, s.passings,"
    " s.first_ms, s.last_ms, s.seq"
)
_SESSION_FROM = "timing_sessions s JOIN devices d ON d.id = s.device_id"
_PASSING_COLS = (
    "s.token, d.deviceid, p.num_passing, p.ts_ms, p.bib, p.chip, p.participant_id, p.latitude, p.longitude,"
    " p.status, p.timezone, p.gender"
)


def _device(row: tuple[object, ...] | None) -> Device | None:
    return None if row is None else Device(*row)  # type: ignore[arg-type]


def _session(row: tuple[object, ...] | None) -> TimingSession | None:
    return None if row is None else TimingSession(*row)  # type: ignore[arg-type]


def _passing(row: tuple[object, ...]) -> StoredPassing:
    return StoredPassing(row[0], row[1], Passing(*row[2:]))  # type: ignore[arg-type]


class SqliteTiming:
    """Timing queries on one connection: the read connection, or the writer inside a unit of work."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    # devices ----------------------------------------------------------------------------------

    async def device(self, account_id: int, deviceid: str) -> Device | None:
        row = self._c.execute(
            f"SELECT {_DEVICE_COLS} FROM devices WHERE deviceid = ? AND account_id = ?", (deviceid, account_id)
        ).fetchone()
        return _device(row)

    async def device_by_serial(self, account_id: int, serial_number: str) -> Device | None:
        row = self._c.execute(
            f"SELECT {_DEVICE_COLS} FROM devices WHERE account_id = ? AND serial_number = ?",
            (account_id, serial_number),
        ).fetchone()
        return _device(row)

    async def device_stats(self, device: Device) -> DeviceStats:
        sessions, passings = self._c.execute(
            "SELECT count(*), coalesce(sum(passings), 0) FROM timing_sessions WHERE device_id = ?", (device.id,)
        ).fetchone()
        return DeviceStats(device, sessions, passings)

    async def devices(self, account_id: int, offset: int, limit: int) -> tuple[list[DeviceStats], int]:
        (total,) = self._c.execute("SELECT count(*) FROM devices WHERE account_id = ?", (account_id,)).fetchone()
        rows = self._c.execute(
            f"SELECT {_DEVICE_COLS} FROM devices WHERE account_id = ? ORDER BY id LIMIT ? OFFSET ?",
            (account_id, limit, offset),
        ).fetchall()
        return [await self.device_stats(Device(*row)) for row in rows], total

    async def insert_device(self, d: Device) -> Device:
        cur = self._c.execute(
            "INSERT INTO devices (account_id, deviceid, type, model, serial_number, alias, firmware, created_ms,"
            " last_seen_ms, seq) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (d.account_id, d.deviceid, d.type, d.model, d.serial_number, d.alias, d.firmware, d.created_ms,
             d.last_seen_ms, d.seq),
        )
        return replace(d, id=cur.lastrowid or 0)

    async def delete_device(self, device_id: int) -> list[str]:
        """Delete a device with its sessions and passings; return the deleted session tokens."""
        tokens = [r[0] for r in self._c.execute("SELECT token FROM timing_sessions WHERE device_id = ?", (device_id,))]
        self._c.execute("DELETE FROM passings WHERE device_id = ?", (device_id,))
        self._c.execute("DELETE FROM timing_sessions WHERE device_id = ?", (device_id,))
        self._c.execute("DELETE FROM devices WHERE id = ?", (device_id,))
        return tokens

    async def touch_device(self, device_id: int, now_ms: int, seq: int) -> None:
        self._c.execute("UPDATE devices SET last_seen_ms = ?, seq = ? WHERE id = ?", (now_ms, seq, device_id))

    # sessions ---------------------------------------------------------------------------------

    async def session(self, account_id: int, token: str) -> TimingSession | None:
        row = self._c.execute(
            f"SELECT {_SESSION_COLS} FROM {_SESSION_FROM} WHERE s.token = ? AND s.account_id = ?", (token, account_id)
        ).fetchone()
        return _session(row)

    async def sessions_of_device(self, device_id: int) -> list[TimingSession]:
        rows = self._c.execute(
            f"SELECT {_SESSION_COLS} FROM {_SESSION_FROM} WHERE s.device_id = ? ORDER BY s.id DESC", (device_id,)
        ).fetchall()
        return [TimingSession(*row) for row in rows]

    async def active_session(self, device_id: int) -> TimingSession | None:
        row = self._c.execute(
            f"SELECT {_SESSION_COLS} FROM {_SESSION_FROM} WHERE s.device_id = ? AND s.closed_ms IS NULL",
            (device_id,),
        ).fetchone()
        return _session(row)

    async def next_session(self, device_id: int, after_id: int) -> TimingSession | None:
        """The device's first session opened after session ``after_id``."""
        row = self._c.execute(
            f"SELECT {_SESSION_COLS} FROM {_SESSION_FROM} WHERE s.device_id = ? AND s.id > ? ORDER BY s.id LIMIT 1",
            (device_id, after_id),
        ).fetchone()
        return _session(row)

    async def latest_session(self, device_id: int) -> TimingSession | None:
        row = self._c.execute(
            f"SELECT {_SESSION_COLS} FROM {_SESSION_FROM} WHERE s.device_id = ? ORDER BY s.id DESC LIMIT 1",
            (device_id,),
        ).fetchone()
        return _session(row)

    async def insert_session(self, s: TimingSession) -> TimingSession:
        cur = self._c.execute(
            "INSERT INTO timing_sessions (account_id, device_id, token, alias, created_ms, closed_ms, passings,"
            " first_ms, last_ms, seq) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (s.account_id, s.device_id, s.token, s.alias, s.created_ms, s.closed_ms, s.passings, s.first_ms,
             s.last_ms, s.seq),
        )
        return replace(s, id=cur.lastrowid or 0)

    async def close_session(self, session_id: int, now_ms: int, seq: int) -> None:
        self._c.execute(
            "UPDATE timing_sessions SET closed_ms = ?, seq = ? WHERE id = ? AND closed_ms IS NULL",
            (now_ms, seq, session_id),
        )

    # passings ---------------------------------------------------------------------------------

    async def add_passings(self, session: TimingSession, passings: Sequence[Passing], seq: int = 0) -> int:
        """Store the passings whose number the session lacks, stamped with change ``seq``; return how
        many were stored."""
        before = self._c.total_changes
        sid, did = session.id, session.device_id
        self._c.executemany(
            "INSERT OR IGNORE INTO passings (session_id, device_id, seq, num_passing, ts_ms, bib, chip, participant_id,"
            " latitude, longitude, status, timezone, gender) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(sid, did, seq, *p) for p in passings],
        )
        return self._c.total_changes - before

    async def passings_of_change(self, session_id: int, first: int, last: int, seq: int) -> list[StoredPassing]:
        """The passings change ``seq`` stored in a session, numbered ``first``..``last``, by number."""
        rows = self._c.execute(
            f"SELECT {_PASSING_COLS} FROM passings p JOIN timing_sessions s ON s.id = p.session_id"
            " JOIN devices d ON d.id = p.device_id"
            " WHERE p.session_id = ? AND p.num_passing >= ? AND p.num_passing <= ? AND p.seq = ?"
            " ORDER BY p.num_passing",
            (session_id, first, last, seq),
        ).fetchall()
        return [_passing(r) for r in rows]

    async def session_span(self, session_id: int) -> tuple[int | None, int | None]:
        """Earliest and latest passing time stored in a session."""
        row = self._c.execute(
            "SELECT min(ts_ms), max(ts_ms) FROM passings WHERE session_id = ?", (session_id,)
        ).fetchone()
        return row[0], row[1]

    async def set_session_counts(
        self, session_id: int, passings: int, first_ms: int | None, last_ms: int | None, seq: int
    ) -> None:
        self._c.execute(
            "UPDATE timing_sessions SET passings = ?, first_ms = ?, last_ms = ?, seq = ? WHERE id = ?",
            (passings, first_ms, last_ms, seq, session_id),
        )

    async def passings_of_session(
        self, session_id: int, first: int | None, last: int | None, offset: int, limit: int
    ) -> list[StoredPassing]:
        rows = self._c.execute(
            f"SELECT {_PASSING_COLS} FROM passings p JOIN timing_sessions s ON s.id = p.session_id"
            " JOIN devices d ON d.id = p.device_id"
            " WHERE p.session_id = ? AND p.num_passing >= ? AND p.num_passing <= ?"
            " ORDER BY p.num_passing LIMIT ? OFFSET ?",
            (session_id, -1 if first is None else first, 2**63 - 1 if last is None else last, limit, offset),
        ).fetchall()
        return [_passing(r) for r in rows]

    async def passings_of_device(
        self, device_id: int, from_ms: int | None, to_ms: int | None, offset: int, limit: int
    ) -> list[StoredPassing]:
        rows = self._c.execute(
            f"SELECT {_PASSING_COLS} FROM passings p JOIN timing_sessions s ON s.id = p.session_id"
            " JOIN devices d ON d.id = p.device_id"
            " WHERE p.device_id = ? AND p.ts_ms >= ? AND p.ts_ms <= ?"
            " ORDER BY p.ts_ms, p.session_id, p.num_passing LIMIT ? OFFSET ?",
            (device_id, -(2**62) if from_ms is None else from_ms, 2**62 if to_ms is None else to_ms, limit, offset),
        ).fetchall()
        return [_passing(r) for r in rows]

    async def passings_after(
        self, session_id: int, after: int, from_ms: int | None, to_ms: int | None, offset: int, limit: int
    ) -> list[StoredPassing]:
        """A session's passings numbered above ``after`` within an optional time window, by number."""
        rows = self._c.execute(
            f"SELECT {_PASSING_COLS} FROM passings p JOIN timing_sessions s ON s.id = p.session_id"
            " JOIN devices d ON d.id = p.device_id"
            " WHERE p.session_id = ? AND p.num_passing > ? AND p.ts_ms >= ? AND p.ts_ms <= ?"
            " ORDER BY p.num_passing LIMIT ? OFFSET ?",
            (session_id, after, -(2**62) if from_ms is None else from_ms, 2**62 if to_ms is None else to_ms,
             limit, offset),
        ).fetchall()
        return [_passing(r) for r in rows]

