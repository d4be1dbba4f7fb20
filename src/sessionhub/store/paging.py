"""Guest paging: tables ``paging_stations``, ``paging_sessions`` (active and history) and
``paging_pages``. Written once (see db.py). A change's snapshot (what observers render) is the
change's ``data`` in the change log (accounts.py, service.snapshots), as in every domain.

An account has several stations, each named (``core.paging.check_station``): every row of the
keyed tables names its ``(account_id, station)`` and every method takes the ``station`` it is about
(a keyword, required: a repository never guesses which station is meant).

Inside a PostgreSQL unit of work (``db.locking``) ``station`` first takes a transaction advisory
lock on ``(account, station)`` (every paging write loads its station first), so writes to one
station are serialised across processes, as SQLite's one writer serialises them, and its counters
(``global_seq``, ``next_id``, statistics) are never updated from a stale read. Different stations
of an account do not wait for each other (unless their keys' hashes collide, which only serialises).
"""

from __future__ import annotations

from sessionhub.core.paging import (
    ClearType,
    Counters,
    GuestSession,
    Page,
    State,
    Station,
    StationSettings,
)
from sessionhub.store.db import Db, Row

HISTORY_KEPT = 1000
"""Finished sessions kept per station; older ones are dropped as new ones finish."""

STATION_LOCK = -7470
"""First key of the advisory lock of a station (the second is the hash of ``<account>/<station>``);
account ids are positive, so no other lock of this store (parking's are keyed by account id) can
collide with it."""

_STATION_COLS = (
    "account_id, station, global_seq, next_id, clock_offset_ms, system_id, default_goal_s, stats_clear_mark,"
    " stats_since_ms, stats_sessions, stats_served, stats_late, stats_served_s"
)
_SESSION_COLS = (
    "id, uuid, number, party_size, goal_s, label, state, created_ms, notified_ms, cleared_ms, clear_type,"
    " session_seq, page_mode"
)
_STATION = f"SELECT {_STATION_COLS} FROM paging_stations WHERE account_id = $1 AND station = $2"
_STATIONS = f"SELECT {_STATION_COLS} FROM paging_stations WHERE account_id = $1 ORDER BY station"
_SAVE_STATION = (
    f"INSERT INTO paging_stations ({_STATION_COLS}, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
    " $11, $12, $13, $14) ON CONFLICT (account_id, station) DO UPDATE SET global_seq = excluded.global_seq,"
    " next_id = excluded.next_id, clock_offset_ms = excluded.clock_offset_ms,"
    " system_id = excluded.system_id, default_goal_s = excluded.default_goal_s,"
    " stats_clear_mark = excluded.stats_clear_mark, stats_since_ms = excluded.stats_since_ms,"
    " stats_sessions = excluded.stats_sessions, stats_served = excluded.stats_served,"
    " stats_late = excluded.stats_late, stats_served_s = excluded.stats_served_s, seq = excluded.seq"
)
_WHERE = "FROM paging_sessions WHERE account_id = $1 AND station = $2"
_ACTIVE = f"SELECT {_SESSION_COLS} {_WHERE} AND number = $3 AND state <> 'cleared'"
_ACTIVE_ALL = f"SELECT {_SESSION_COLS} {_WHERE} AND state <> 'cleared' ORDER BY id"
_HISTORY = f"SELECT {_SESSION_COLS} {_WHERE} AND state = 'cleared' ORDER BY id"
_SAVE_SESSION = (
    f"INSERT INTO paging_sessions (account_id, station, {_SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
    " $9, $10, $11, $12, $13, $14, $15)"
    " ON CONFLICT (account_id, station, id) DO UPDATE SET party_size = excluded.party_size,"
    " goal_s = excluded.goal_s, label = excluded.label, state = excluded.state,"
    " notified_ms = excluded.notified_ms, cleared_ms = excluded.cleared_ms,"
    " clear_type = excluded.clear_type, session_seq = excluded.session_seq, page_mode = excluded.page_mode"
)
_TRIM_HISTORY = (
    f"DELETE {_WHERE} AND state = 'cleared' AND id <= ("
    f" SELECT id {_WHERE} AND state = 'cleared' ORDER BY id DESC LIMIT 1 OFFSET $3)"
)
_DELETE_HISTORY = f"DELETE {_WHERE} AND state = 'cleared'"
_ADD_PAGE = (
    "INSERT INTO paging_pages (account_id, station, number, page_mode, system_id, message, session_id, at_ms)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)
_PAGES = (
    "SELECT number, page_mode, system_id, message, at_ms, session_id FROM paging_pages"
    " WHERE account_id = $1 AND station = $2 ORDER BY id DESC LIMIT $3"
)


def _station(row: Row | None) -> Station | None:
    if row is None:
        return None
    return Station(row[0], row[2], row[3], row[4], StationSettings(row[5], row[6], row[7]), Counters(*row[8:13]),
                   row[1])


def _session(row: Row) -> GuestSession:
    return GuestSession(
        row[0], row[1], row[2], row[3], row[4], row[5], State(row[6]), row[7], row[8], row[9],
        None if row[10] is None else ClearType(row[10]), row[11], row[12],
    )


class Paging:
    """Paging stations, their guest sessions (active and history), and pages."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def station(self, account_id: int, *, station: str) -> Station | None:
        if self._db.locking:
            await self._db.advisory_lock(STATION_LOCK, f"{account_id}/{station}")
        return _station(await self._db.one(_STATION, account_id, station))

    async def stations(self, account_id: int) -> list[Station]:
        """The account's stations that were ever saved, in name order (no lock: a listing)."""
        return [s for r in await self._db.all(_STATIONS, account_id) if (s := _station(r)) is not None]

    async def save_station(self, s: Station, seq: int) -> None:
        """Insert or overwrite the station ``(s.account_id, s.name)``."""
        c, st = s.counters, s.settings
        await self._db.run(
            _SAVE_STATION, s.account_id, s.name, s.global_seq, s.next_id, s.clock_offset_ms, st.system_id,
            st.default_goal_s, st.stats_clear_mark, c.since_ms, c.num_sessions, c.served, c.late, c.served_total_s,
            seq,
        )

    async def active(self, account_id: int, number: int, *, station: str) -> GuestSession | None:
        row = await self._db.one(_ACTIVE, account_id, station, number)
        return None if row is None else _session(row)

    async def active_all(self, account_id: int, *, station: str) -> list[GuestSession]:
        return [_session(r) for r in await self._db.all(_ACTIVE_ALL, account_id, station)]

    async def history(self, account_id: int, *, station: str) -> list[GuestSession]:
        return [_session(r) for r in await self._db.all(_HISTORY, account_id, station)]

    async def save_session(self, account_id: int, s: GuestSession, *, station: str) -> None:
        """Insert or overwrite the session ``(account_id, station, s.id)``; finishing one trims the history."""
        await self._db.run(
            _SAVE_SESSION, account_id, station, s.id, s.uuid, s.number, s.party_size, s.goal_s, s.label,
            s.state.value, s.created_ms, s.notified_ms, s.cleared_ms,
            None if s.clear_type is None else s.clear_type.value, s.session_seq, s.page_mode,
        )
        if not s.active:
            await self._db.run(_TRIM_HISTORY, account_id, station, HISTORY_KEPT)

    async def delete_history(self, account_id: int, *, station: str) -> int:
        return await self._db.run(_DELETE_HISTORY, account_id, station)

    async def add_page(self, account_id: int, p: Page, *, station: str) -> None:
        await self._db.run(_ADD_PAGE, account_id, station, p.number, p.page_mode, p.system_id, p.message,
                           p.session_id, p.at_ms)

    async def pages(self, account_id: int, limit: int = 100, *, station: str) -> list[Page]:
        """The station's latest pages, newest first."""
        return [Page(*r) for r in await self._db.all(_PAGES, account_id, station, limit)]
