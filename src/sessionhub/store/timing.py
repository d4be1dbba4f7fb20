"""Race timing: tables ``devices``, ``timing_sessions``, ``passings``. Written once (see db.py).

Inside a PostgreSQL unit of work (``db.locking``) every lookup a service makes before it writes
takes a row lock, so services written as "read, decide, write" stay correct with writers in
several processes (SQLite's one writer gives that for free; its driver drops the locks):

- ``device`` and ``session`` lock the *device* row (``FOR NO KEY UPDATE``): every write to a
  device, its sessions and its passings is serialised per device, always device first, so two
  writers never wait on each other in opposite orders;
- ``device_by_serial`` locks the *account* row, so two binds of one serial number queue up and the
  second sees the first's device (AlreadyExists) instead of tripping the unique constraint.

``NO KEY UPDATE`` rather than ``UPDATE``: it does not block foreign-key checks of other rows.
``add_passings`` here is the portable path; PostgreSQL's driver overrides it with COPY.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from sessionhub.core.timing import Device, DeviceStats, Passing, StoredPassing, Telemetry, TimingSession
from sessionhub.store.boundaries import Key, PageBoundaries, Written
from sessionhub.store.db import Db, Row

_DEVICE_COLS = (
    "id, account_id, deviceid, type, model, serial_number, alias, firmware, created_ms, last_seen_ms, seq,"
    " telemetry_ms, device_status, battery_percentage, charging, telemetry_latitude, telemetry_longitude, temperature"
)
_DEVICE_WIDTH = 18
"""Columns of _DEVICE_COLS: a device's 11, then its latest telemetry's 7."""
_DEVICE = f"SELECT {_DEVICE_COLS} FROM devices WHERE deviceid = $1 AND account_id = $2 FOR NO KEY UPDATE"
_LOCK_ACCOUNT = "SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE"
_DEVICE_BY_SERIAL = f"SELECT {_DEVICE_COLS} FROM devices WHERE account_id = $1 AND serial_number = $2"
_DEVICE_STATS = "SELECT count(*), coalesce(sum(passings), 0) FROM timing_sessions WHERE device_id = $1"
_DEVICE_COUNT = "SELECT count(*) FROM devices WHERE account_id = $1"
_DEVICES = (
    f"SELECT {_DEVICE_COLS}, (SELECT count(*) FROM timing_sessions t WHERE t.device_id = devices.id),"
    " (SELECT coalesce(sum(passings), 0) FROM timing_sessions t WHERE t.device_id = devices.id)"
    " FROM devices WHERE account_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
)
_INSERT_DEVICE = (
    "INSERT INTO devices (account_id, deviceid, type, model, serial_number, alias, firmware, created_ms,"
    " last_seen_ms, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"
)
_DELETE_DEVICE_PASSINGS = "DELETE FROM passings WHERE device_id = $1"
_DELETE_DEVICE_SESSIONS = "DELETE FROM timing_sessions WHERE device_id = $1 RETURNING token"
_DELETE_DEVICE = "DELETE FROM devices WHERE id = $1"
_DEVICEID_TAKEN = "SELECT 1 FROM devices WHERE deviceid = $1"
_TOUCH_DEVICE = "UPDATE devices SET last_seen_ms = $1, seq = $2 WHERE id = $3"
_SET_TELEMETRY = (
    "UPDATE devices SET telemetry_ms = $1, device_status = $2, battery_percentage = $3, charging = $4,"
    " telemetry_latitude = $5, telemetry_longitude = $6, temperature = $7, seq = $8 WHERE id = $9"
)

_SESSION_SELECT = (
    "SELECT s.id, s.account_id, s.device_id, d.deviceid, s.token, s.alias, s.created_ms, s.closed_ms, s.passings,"
    " s.first_ms, s.last_ms, s.seq FROM timing_sessions s JOIN devices d ON d.id = s.device_id"
)
_LOCK_DEVICE_OF_SESSION = (
    "SELECT 1 FROM devices WHERE id = (SELECT device_id FROM timing_sessions WHERE token = $1 AND account_id = $2)"
    " FOR NO KEY UPDATE"
)
_SESSION = f"{_SESSION_SELECT} WHERE s.token = $1 AND s.account_id = $2"
_SESSIONS_OF_DEVICE = f"{_SESSION_SELECT} WHERE s.device_id = $1 ORDER BY s.id DESC"
_ACTIVE_SESSION = f"{_SESSION_SELECT} WHERE s.device_id = $1 AND s.closed_ms IS NULL"
_NEXT_SESSION = f"{_SESSION_SELECT} WHERE s.device_id = $1 AND s.id > $2 ORDER BY s.id LIMIT 1"
_LATEST_SESSION = f"{_SESSION_SELECT} WHERE s.device_id = $1 ORDER BY s.id DESC LIMIT 1"
_INSERT_SESSION = (
    "INSERT INTO timing_sessions (account_id, device_id, token, alias, created_ms, closed_ms, passings,"
    " first_ms, last_ms, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"
)
_CLOSE_SESSION = "UPDATE timing_sessions SET closed_ms = $1, seq = $2 WHERE id = $3 AND closed_ms IS NULL"
_SET_SESSION_COUNTS = "UPDATE timing_sessions SET passings = $1, first_ms = $2, last_ms = $3, seq = $4 WHERE id = $5"

PASSING_COLUMNS = ("session_id", "device_id", "seq", "num_passing", "ts_ms", "bib", "chip", "participant_id",
                   "latitude", "longitude", "status", "timezone", "gender")
"""The columns ``add_passings`` writes, in the order of its rows."""
INSERT_PASSINGS = (
    f"INSERT INTO passings ({', '.join(PASSING_COLUMNS)}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
    " $13) ON CONFLICT (session_id, num_passing) DO NOTHING"
)
_PASSING_SELECT = (
    "SELECT s.token, d.deviceid, p.num_passing, p.ts_ms, p.bib, p.chip, p.participant_id, p.latitude, p.longitude,"
    " p.status, p.timezone, p.gender FROM passings p JOIN timing_sessions s ON s.id = p.session_id"
    " JOIN devices d ON d.id = p.device_id"
)
_PASSINGS_OF_CHANGE = (
    f"{_PASSING_SELECT} WHERE p.session_id = $1 AND p.num_passing >= $2 AND p.num_passing <= $3 AND p.seq = $4"
    " ORDER BY p.num_passing"
)
_PASSINGS_OF_BIB = f"{_PASSING_SELECT} WHERE p.session_id = $1 AND p.bib = $2 ORDER BY p.num_passing LIMIT $3"
_SESSION_SPAN = "SELECT min(ts_ms), max(ts_ms) FROM passings WHERE session_id = $1"
# Pages are sought, not skipped: OFFSET builds every skipped row (its joins included) only to drop it,
# ~100 ms for a page past the end of a 200k-passing device. A page at ``offset`` first finds the key of
# its first row on an index alone (no joins, no row built: SQLite's passings_by_device_time holds the
# whole key, as an index of a WITHOUT ROWID table carries the primary key), then reads ``limit`` rows
# from that key. Same rows as ``LIMIT .. OFFSET`` (tests/store/test_contract.py checks every offset);
# figures in docs/store.md. Where the store keeps page boundaries (boundaries.py), a device's deep page
# walks from the nearest kept one instead of from the window's start (_DEVICE_KEY_FROM).
_SESSION_KEY_AT = (
    "SELECT num_passing FROM passings WHERE session_id = $1 AND num_passing >= $2 AND num_passing <= $3"
    " ORDER BY num_passing LIMIT 1 OFFSET $4"
)
_PASSINGS_OF_SESSION = (
    f"{_PASSING_SELECT} WHERE p.session_id = $1 AND p.num_passing >= $2 AND p.num_passing <= $3"
    " ORDER BY p.num_passing LIMIT $4"
)
_DEVICE_KEY_AT = (
    "SELECT ts_ms, session_id, num_passing FROM passings WHERE device_id = $1 AND ts_ms >= $2 AND ts_ms <= $3"
    " ORDER BY ts_ms, session_id, num_passing LIMIT 1 OFFSET $4"
)
_DEVICE_KEY_FROM = (
    "SELECT ts_ms, session_id, num_passing FROM passings WHERE device_id = $1"
    " AND (ts_ms, session_id, num_passing) >= ($2, $3, $4) AND ts_ms <= $5"
    " ORDER BY ts_ms, session_id, num_passing LIMIT 1 OFFSET $6"
)
_PASSINGS_OF_DEVICE = (
    f"{_PASSING_SELECT} WHERE p.device_id = $1 AND p.ts_ms >= $2 AND p.ts_ms <= $3"
    " ORDER BY p.ts_ms, p.session_id, p.num_passing LIMIT $4"
)
_PASSINGS_OF_DEVICE_FROM = (
    f"{_PASSING_SELECT} WHERE p.device_id = $1 AND (p.ts_ms, p.session_id, p.num_passing) >= ($2, $3, $4)"
    " AND p.ts_ms <= $5 ORDER BY p.ts_ms, p.session_id, p.num_passing LIMIT $6"
)
_AFTER_KEY_AT = (
    "SELECT num_passing FROM passings WHERE session_id = $1 AND num_passing > $2 AND ts_ms >= $3 AND ts_ms <= $4"
    " ORDER BY num_passing LIMIT 1 OFFSET $5"
)
_PASSINGS_AFTER = (
    f"{_PASSING_SELECT} WHERE p.session_id = $1 AND p.num_passing >= $2 AND p.ts_ms >= $3 AND p.ts_ms <= $4"
    " ORDER BY p.num_passing LIMIT $5"
)
_LOW, _HIGH, _TOP = -(2**62), 2**62, 2**63 - 1
"""Open ends of a time window and of a number range."""


def _device(row: Row | None) -> Device | None:
    if row is None:
        return None
    at, status, battery, charging, lat, lon, temperature = row[11:_DEVICE_WIDTH]
    telemetry = None if at is None else Telemetry(
        int(at), status, None if battery is None else int(battery), None if charging is None else bool(charging),
        lat, lon, temperature)
    return replace(Device(*row[:11]), telemetry=telemetry)


def _gone() -> Device:
    raise AssertionError("a listed row is a device")


def _session(row: Row | None) -> TimingSession | None:
    return None if row is None else TimingSession(*row)


def _passing(row: Row) -> StoredPassing:
    return StoredPassing(row[0], row[1], Passing(*row[2:]))


class Timing:
    """Devices, timing sessions and passings. Sessions and passings of other accounts are reached
    only through ids the caller got from an account-checked lookup.

    Kept page boundaries (boundaries.py) exist only where one process writes the database and can
    tell its readers every change: the SQLite store. Its read side passes ``boundaries`` (called
    once per deep page: the map, checked against the database state the reader sees) and each of its
    units of work passes ``written`` (told to the map after the commit). PostgreSQL passes neither:
    several processes (``serve --workers N``) write one database, so a map in one would go stale."""

    def __init__(self, db: Db, boundaries: Callable[[], PageBoundaries] | None = None,
                 written: Written | None = None) -> None:
        self._db = db
        self._boundaries = boundaries
        self._written = written

    # devices ----------------------------------------------------------------------------------

    async def device(self, account_id: int, deviceid: str) -> Device | None:
        return _device(await self._db.one(_DEVICE, deviceid, account_id))

    async def device_by_serial(self, account_id: int, serial_number: str) -> Device | None:
        if self._db.locking:
            await self._db.run(_LOCK_ACCOUNT, account_id)
        return _device(await self._db.one(_DEVICE_BY_SERIAL, account_id, serial_number))

    async def device_stats(self, device: Device) -> DeviceStats:
        row = await self._db.one(_DEVICE_STATS, device.id)
        assert row is not None  # an aggregate always has a row
        return DeviceStats(device, int(row[0]), int(row[1]))

    async def devices(self, account_id: int, offset: int, limit: int) -> tuple[list[DeviceStats], int]:
        """A page of the account's devices by id (one query, counts included), and how many it has."""
        total = await self._db.value(_DEVICE_COUNT, account_id)
        rows = await self._db.all(_DEVICES, account_id, limit, offset)
        w = _DEVICE_WIDTH
        return [DeviceStats(_device(r) or _gone(), int(r[w]), int(r[w + 1])) for r in rows], int(total)

    async def insert_device(self, d: Device) -> Device:
        """Insert ``d`` (its id is ignored); return it with its new id. Serial numbers are unique per account."""
        new_id = await self._db.value(
            _INSERT_DEVICE, d.account_id, d.deviceid, d.type, d.model, d.serial_number, d.alias, d.firmware,
            d.created_ms, d.last_seen_ms, d.seq,
        )
        return replace(d, id=int(new_id))

    async def deviceid_taken(self, deviceid: str) -> bool:
        """Whether any account has a device with this id (ids are unique across accounts)."""
        return await self._db.value(_DEVICEID_TAKEN, deviceid) is not None

    async def set_telemetry(self, device_id: int, t: Telemetry, seq: int) -> None:
        """Replace the device's latest telemetry with ``t`` (timed: ``t.at_ms`` is set)."""
        await self._db.run(_SET_TELEMETRY, t.at_ms, t.device_status, t.battery_percentage,
                           None if t.charging is None else int(t.charging), t.latitude, t.longitude, t.temperature,
                           seq, device_id)

    async def delete_device(self, device_id: int) -> list[str]:
        """Delete a device with its sessions and passings; return the deleted session tokens."""
        if self._written is not None:
            self._written.delete(device_id)
        await self._db.run(_DELETE_DEVICE_PASSINGS, device_id)
        rows = await self._db.all(_DELETE_DEVICE_SESSIONS, device_id)
        await self._db.run(_DELETE_DEVICE, device_id)
        return [r[0] for r in rows]

    async def touch_device(self, device_id: int, now_ms: int, seq: int) -> None:
        await self._db.run(_TOUCH_DEVICE, now_ms, seq, device_id)

    # sessions ---------------------------------------------------------------------------------

    async def session(self, account_id: int, token: str) -> TimingSession | None:
        if self._db.locking:  # the device first, always (see the module docstring)
            await self._db.run(_LOCK_DEVICE_OF_SESSION, token, account_id)
        return _session(await self._db.one(_SESSION, token, account_id))

    async def sessions_of_device(self, device_id: int) -> list[TimingSession]:
        """Newest first."""
        return [TimingSession(*r) for r in await self._db.all(_SESSIONS_OF_DEVICE, device_id)]

    async def active_session(self, device_id: int) -> TimingSession | None:
        return _session(await self._db.one(_ACTIVE_SESSION, device_id))

    async def next_session(self, device_id: int, after_id: int) -> TimingSession | None:
        """The device's first session opened after session ``after_id``."""
        return _session(await self._db.one(_NEXT_SESSION, device_id, after_id))

    async def latest_session(self, device_id: int) -> TimingSession | None:
        return _session(await self._db.one(_LATEST_SESSION, device_id))

    async def insert_session(self, s: TimingSession) -> TimingSession:
        """Insert ``s``; return it with its new id. The schema refuses a second active session of a device."""
        new_id = await self._db.value(
            _INSERT_SESSION, s.account_id, s.device_id, s.token, s.alias, s.created_ms, s.closed_ms, s.passings,
            s.first_ms, s.last_ms, s.seq,
        )
        return replace(s, id=int(new_id))

    async def close_session(self, session_id: int, now_ms: int, seq: int) -> None:
        """Close an active session; a closed one is left as it is."""
        await self._db.run(_CLOSE_SESSION, now_ms, seq, session_id)

    # passings ---------------------------------------------------------------------------------

    async def add_passings(self, session: TimingSession, passings: Sequence[Passing], seq: int = 0) -> int:
        """Store the passings whose number the session lacks, each stamped with change ``seq`` (the
        change that records the batch); return how many were stored. Only inside a unit of work."""
        sid, did = session.id, session.device_id
        if self._written is not None:
            self._written.insert(did, sid, passings)
        return await self._db.run_many(INSERT_PASSINGS, [(sid, did, seq, *p) for p in passings])

    async def passings_of_change(self, session_id: int, first: int, last: int, seq: int) -> list[StoredPassing]:
        """The passings that change ``seq`` stored in a session, numbered ``first``..``last``, by number."""
        return [_passing(r) for r in await self._db.all(_PASSINGS_OF_CHANGE, session_id, first, last, seq)]

    async def session_span(self, session_id: int) -> tuple[int | None, int | None]:
        """Earliest and latest passing time stored in a session."""
        row = await self._db.one(_SESSION_SPAN, session_id)
        assert row is not None  # an aggregate always has a row
        return row[0], row[1]

    async def set_session_counts(
        self, session_id: int, passings: int, first_ms: int | None, last_ms: int | None, seq: int
    ) -> None:
        await self._db.run(_SET_SESSION_COUNTS, passings, first_ms, last_ms, seq, session_id)

    async def passings_of_session(
        self, session_id: int, first: int | None, last: int | None, offset: int, limit: int
    ) -> list[StoredPassing]:
        """Numbered ``first``..``last`` (inclusive), by number; rows ``offset``.. of that order."""
        low, high = -1 if first is None else first, _TOP if last is None else last
        if offset:
            low = await self._db.value(_SESSION_KEY_AT, session_id, low, high, offset)
            if low is None:
                return []
        return [_passing(r) for r in await self._db.all(_PASSINGS_OF_SESSION, session_id, low, high, limit)]

    async def passings_of_bib(self, session_id: int, bib: str, limit: int) -> list[StoredPassing]:
        """The session's passings of one bib, by number, at most ``limit`` (a share link's "your race")."""
        return [_passing(r) for r in await self._db.all(_PASSINGS_OF_BIB, session_id, bib, limit)]

    async def passings_of_device(
        self, device_id: int, from_ms: int | None, to_ms: int | None, offset: int, limit: int
    ) -> list[StoredPassing]:
        """Timed ``from``..``to`` (inclusive), by time, then session, then number; rows ``offset``.. of
        that order."""
        low, high = _LOW if from_ms is None else from_ms, _HIGH if to_ms is None else to_ms
        if not offset:
            return [_passing(r) for r in await self._db.all(_PASSINGS_OF_DEVICE, device_id, low, high, limit)]
        key = await self._device_key_at(device_id, low, high, offset)
        if key is None:
            return []
        rows = await self._db.all(_PASSINGS_OF_DEVICE_FROM, device_id, key[0], key[1], key[2], high, limit)
        return [_passing(r) for r in rows]

    async def _device_key_at(self, device_id: int, low: int, high: int, offset: int) -> Row | None:
        """The key of row ``offset`` of the device's window, walked from the nearest kept boundary."""
        if self._boundaries is None:
            return await self._db.one(_DEVICE_KEY_AT, device_id, low, high, offset)
        kept, window = self._boundaries(), (device_id, low, high)
        near = kept.nearest(window, offset)
        if near is None:
            found = await self._db.one(_DEVICE_KEY_AT, device_id, low, high, offset)
        elif near[0] == offset:
            return near[1]
        else:
            at, (ts, sid, num) = near
            found = await self._db.one(_DEVICE_KEY_FROM, device_id, ts, sid, num, high, offset - at)
        if found is None:
            return None
        key: Key = (int(found[0]), int(found[1]), int(found[2]))
        kept.remember(window, offset, key)
        return key

    async def passings_after(
        self, session_id: int, after: int, from_ms: int | None, to_ms: int | None, offset: int, limit: int
    ) -> list[StoredPassing]:
        """Numbered above ``after`` within an optional time window, by number; rows ``offset``.. of that
        order."""
        low, high = _LOW if from_ms is None else from_ms, _HIGH if to_ms is None else to_ms
        start = after + 1
        if offset:
            start = await self._db.value(_AFTER_KEY_AT, session_id, after, low, high, offset)
            if start is None:
                return []
        return [_passing(r) for r in await self._db.all(_PASSINGS_AFTER, session_id, start, low, high, limit)]
