"""Race timing tables on PostgreSQL: devices, timing_sessions, passings.

Inside a unit of work (``locking=True``) every lookup a service makes before it writes takes a row
lock, so that services written as "read, decide, write" stay correct with writers in several
processes (on SQLite one writer at a time gives that for free):

- ``device`` and ``session`` lock the *device* row (``FOR NO KEY UPDATE``): every write to a
  device, its sessions and its passings is serialised per device, always device first, so two
  writers never wait on each other in opposite orders;
- ``device_by_serial`` locks the *account* row, so two binds of one serial number queue up and the
  second sees the first's device (AlreadyExists) instead of tripping the unique constraint.

``NO KEY UPDATE`` rather than ``UPDATE``: it does not block foreign-key checks of other rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sessionhub.core.timing import Device, DeviceStats, Passing, StoredPassing, TimingSession
from sessionhub.store.postgres_db import Db, rowcount

_DEVICE_COLS = "id, account_id, deviceid, type, model, serial_number, alias, firmware, created_ms, last_seen_ms, seq"
_SESSION_COLS = (
    "s.id, s.account_id, s.device_id, d.deviceid, s.token, s.alias, s.created_ms, s.closed_ms, s.passings,"
    " s.first_ms, s.last_ms, s.seq"
)
_SESSION_FROM = "timing_sessions s JOIN devices d ON d.id = s.device_id"
_PASSING_SELECT = (
    "SELECT s.token, d.deviceid, p.num_passing, p.ts_ms, p.bib, p.chip, p.participant_id, p.latitude, p.longitude,"
    " p.status, p.timezone, p.gender FROM passings p JOIN timing_sessions s ON s.id = p.session_id"
    " JOIN devices d ON d.id = p.device_id"
)
PASSINGS_IN = (
    "CREATE TEMP TABLE passings_in (num_passing bigint, ts_ms bigint, bib text, chip text, participant_id text,"
    " latitude text, longitude text, status text, timezone text, gender text) ON COMMIT DELETE ROWS"
)
"""The staging table of ``add_passings``: created once per pooled connection (postgres.py), emptied
by every commit."""
_INSERT_PASSINGS = (
    "WITH moved AS (DELETE FROM passings_in RETURNING *)"
    " INSERT INTO passings (session_id, device_id, seq, num_passing, ts_ms, bib, chip, participant_id, latitude,"
    " longitude, status, timezone, gender) SELECT $1, $2, $3, * FROM moved"
    " ON CONFLICT (session_id, num_passing) DO NOTHING"
)
_PASSING_COLUMNS = ("session_id", "device_id", "seq", "num_passing", "ts_ms", "bib", "chip", "participant_id",
                    "latitude", "longitude", "status", "timezone", "gender")
_LOW, _HIGH = -(2**62), 2**62


def _device(row: Any) -> Device | None:
    return None if row is None else Device(*row)


def _session(row: Any) -> TimingSession | None:
    return None if row is None else TimingSession(*row)


def _passing(row: Any) -> StoredPassing:
    return StoredPassing(row[0], row[1], Passing(*row[2:]))


class PgTiming:
    """Timing queries on the pool (reads) or on a unit of work's connection (``locking``)."""

    def __init__(self, db: Db, locking: bool = False) -> None:
        self._db = db
        self._lock = " FOR NO KEY UPDATE" if locking else ""

    # devices ----------------------------------------------------------------------------------

    async def device(self, account_id: int, deviceid: str) -> Device | None:
        row = await self._db.fetchrow(
            f"SELECT {_DEVICE_COLS} FROM devices WHERE deviceid = $1 AND account_id = $2{self._lock}",
            deviceid, account_id,
        )
        return _device(row)

    async def device_by_serial(self, account_id: int, serial_number: str) -> Device | None:
        if self._lock:
            await self._db.execute(f"SELECT 1 FROM accounts WHERE id = $1{self._lock}", account_id)
        row = await self._db.fetchrow(
            f"SELECT {_DEVICE_COLS} FROM devices WHERE account_id = $1 AND serial_number = $2",
            account_id, serial_number,
        )
        return _device(row)

    async def device_stats(self, device: Device) -> DeviceStats:
        row = await self._db.fetchrow(
            "SELECT count(*), coalesce(sum(passings), 0) FROM timing_sessions WHERE device_id = $1", device.id
        )
        return DeviceStats(device, int(row[0]), int(row[1]))

    async def devices(self, account_id: int, offset: int, limit: int) -> tuple[list[DeviceStats], int]:
        total = await self._db.fetchval("SELECT count(*) FROM devices WHERE account_id = $1", account_id)
        rows = await self._db.fetch(
            f"SELECT {_DEVICE_COLS}, (SELECT count(*) FROM timing_sessions t WHERE t.device_id = devices.id),"
            " (SELECT coalesce(sum(passings), 0) FROM timing_sessions t WHERE t.device_id = devices.id)"
            " FROM devices WHERE account_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
            account_id, limit, offset,
        )
        return [DeviceStats(Device(*r[:11]), int(r[11]), int(r[12])) for r in rows], int(total)

    async def insert_device(self, d: Device) -> Device:
        new_id = await self._db.fetchval(
            "INSERT INTO devices (account_id, deviceid, type, model, serial_number, alias, firmware, created_ms,"
            " last_seen_ms, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            d.account_id, d.deviceid, d.type, d.model, d.serial_number, d.alias, d.firmware, d.created_ms,
            d.last_seen_ms, d.seq,
        )
        return replace(d, id=int(new_id))

    async def delete_device(self, device_id: int) -> list[str]:
        await self._db.execute("DELETE FROM passings WHERE device_id = $1", device_id)
        rows = await self._db.fetch("DELETE FROM timing_sessions WHERE device_id = $1 RETURNING token", device_id)
        await self._db.execute("DELETE FROM devices WHERE id = $1", device_id)
        return [r[0] for r in rows]

    async def touch_device(self, device_id: int, now_ms: int, seq: int) -> None:
        await self._db.execute("UPDATE devices SET last_seen_ms = $1, seq = $2 WHERE id = $3", now_ms, seq, device_id)

    # sessions ---------------------------------------------------------------------------------

    async def session(self, account_id: int, token: str) -> TimingSession | None:
        if self._lock:  # the device first, always (see the module docstring)
            await self._db.execute(
                "SELECT 1 FROM devices WHERE id = (SELECT device_id FROM timing_sessions"
                f" WHERE token = $1 AND account_id = $2){self._lock}",
                token, account_id,
            )
        row = await self._db.fetchrow(
            f"SELECT {_SESSION_COLS} FROM {_SESSION_FROM} WHERE s.token = $1 AND s.account_id = $2", token, account_id
        )
        return _session(row)

    async def sessions_of_device(self, device_id: int) -> list[TimingSession]:
        rows = await self._db.fetch(
            f"SELECT {_SESSION_COLS} FROM {_SESSION_FROM} WHERE s.device_id = $1 ORDER BY s.id DESC", device_id
        )
        return [TimingSession(*r) for r in rows]

    async def active_session(self, device_id: int) -> TimingSession | None:
        row = await self._db.fetchrow(
            f"SELECT {_SESSION_COLS} FROM {_SESSION_FROM} WHERE s.device_id = $1 AND s.closed_ms IS NULL", device_id
        )
        return _session(row)

    async def next_session(self, device_id: int, after_id: int) -> TimingSession | None:
        row = await self._db.fetchrow(
            f"SELECT {_SESSION_COLS} FROM {_SESSION_FROM} WHERE s.device_id = $1 AND s.id > $2 ORDER BY s.id LIMIT 1",
            device_id, after_id,
        )
        return _session(row)

    async def latest_session(self, device_id: int) -> TimingSession | None:
        row = await self._db.fetchrow(
            f"SELECT {_SESSION_COLS} FROM {_SESSION_FROM} WHERE s.device_id = $1 ORDER BY s.id DESC LIMIT 1",
            device_id,
        )
        return _session(row)

    async def insert_session(self, s: TimingSession) -> TimingSession:
        new_id = await self._db.fetchval(
            "INSERT INTO timing_sessions (account_id, device_id, token, alias, created_ms, closed_ms, passings,"
            " first_ms, last_ms, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            s.account_id, s.device_id, s.token, s.alias, s.created_ms, s.closed_ms, s.passings, s.first_ms,
            s.last_ms, s.seq,
        )
        return replace(s, id=int(new_id))

    async def close_session(self, session_id: int, now_ms: int, seq: int) -> None:
        await self._db.execute(
            "UPDATE timing_sessions SET closed_ms = $1, seq = $2 WHERE id = $3 AND closed_ms IS NULL",
            now_ms, seq, session_id,
        )

    # passings ---------------------------------------------------------------------------------

    async def add_passings(self, session: TimingSession, passings: Sequence[Passing], seq: int = 0) -> int:
        """Store the passings whose number the session lacks, stamped with change ``seq``; return how
        many were stored.

        Only inside a unit of work. A batch whose numbers are all new (the usual case) is COPYed
        (binary) straight into ``passings`` inside a savepoint. When a number is already stored the
        COPY is refused whole, and the batch takes the duplicate-skipping path: COPY into the
        connection's staging table, then one ``INSERT ... ON CONFLICT DO NOTHING`` moving it out
        (``DELETE ... RETURNING``). Rates per path are in docs/postgres.md.
        """
        rows = [(session.id, session.device_id, seq, *p) for p in passings]
        if await self._db.copy_unless_duplicate("passings", _PASSING_COLUMNS, rows):
            return len(rows)
        await self._db.copy_in("passings_in", passings)
        status = await self._db.execute(_INSERT_PASSINGS, session.id, session.device_id, seq)
        return rowcount(status)

    async def passings_of_change(self, session_id: int, first: int, last: int, seq: int) -> list[StoredPassing]:
        """The passings change ``seq`` stored in a session, numbered ``first``..``last``, by number."""
        rows = await self._db.fetch(
            f"{_PASSING_SELECT} WHERE p.session_id = $1 AND p.num_passing >= $2 AND p.num_passing <= $3"
            " AND p.seq = $4 ORDER BY p.num_passing", session_id, first, last, seq,
        )
        return [_passing(r) for r in rows]

    async def session_span(self, session_id: int) -> tuple[int | None, int | None]:
        row = await self._db.fetchrow("SELECT min(ts_ms), max(ts_ms) FROM passings WHERE session_id = $1", session_id)
        return row[0], row[1]

    async def set_session_counts(
        self, session_id: int, passings: int, first_ms: int | None, last_ms: int | None, seq: int
    ) -> None:
        await self._db.execute(
            "UPDATE timing_sessions SET passings = $1, first_ms = $2, last_ms = $3, seq = $4 WHERE id = $5",
            passings, first_ms, last_ms, seq, session_id,
        )

    async def passings_of_session(
        self, session_id: int, first: int | None, last: int | None, offset: int, limit: int
    ) -> list[StoredPassing]:
        rows = await self._db.fetch(
            f"{_PASSING_SELECT} WHERE p.session_id = $1 AND p.num_passing >= $2 AND p.num_passing <= $3"
            " ORDER BY p.num_passing LIMIT $4 OFFSET $5",
            session_id, -1 if first is None else first, 2**63 - 1 if last is None else last, limit, offset,
        )
        return [_passing(r) for r in rows]

    async def passings_of_device(
        self, device_id: int, from_ms: int | None, to_ms: int | None, offset: int, limit: int
    ) -> list[StoredPassing]:
        rows = await self._db.fetch(
            f"{_PASSING_SELECT} WHERE p.device_id = $1 AND p.ts_ms >= $2 AND p.ts_ms <= $3"
            " ORDER BY p.ts_ms, p.session_id, p.num_passing LIMIT $4 OFFSET $5",
            device_id, _LOW if from_ms is None else from_ms, _HIGH if to_ms is None else to_ms, limit, offset,
        )
        return [_passing(r) for r in rows]

    async def passings_after(
        self, session_id: int, after: int, from_ms: int | None, to_ms: int | None, offset: int, limit: int
    ) -> list[StoredPassing]:
        rows = await self._db.fetch(
            f"{_PASSING_SELECT} WHERE p.session_id = $1 AND p.num_passing > $2 AND p.ts_ms >= $3 AND p.ts_ms <= $4"
            " ORDER BY p.num_passing LIMIT $5 OFFSET $6",
            session_id, after, _LOW if from_ms is None else from_ms, _HIGH if to_ms is None else to_ms, limit,
            offset,
        )
        return [_passing(r) for r in rows]
