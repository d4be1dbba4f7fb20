"""Guest paging tables on PostgreSQL: stations, sessions (active and history), pages, event snapshots.

Inside a unit of work (``locking=True``) ``station`` first takes a transaction advisory lock on the
account's station (every paging write loads its station first), so writes to one station are
serialised across processes, as one SQLite writer serialises them, and its counters
(``global_seq``, ``next_id``, statistics) are never updated from a stale read.
"""

from __future__ import annotations

from sessionhub.core.paging import (
    GuestSession,
    Page,
    Station,
    StationEvent,
)
from sessionhub.store.paging_rows import (
    EVENTS_KEPT,
    HISTORY_KEPT,
    SESSION_COLS,
    STATION_COLS,
    decode_event,
    encode_event,
)
from sessionhub.store.paging_rows import session as session_row
from sessionhub.store.paging_rows import station as station_row
from sessionhub.store.postgres_db import Db, rowcount

STATION_LOCK = -7470
"""First key of the (int, int) advisory lock of a station; account ids are positive, so no other
lock of this store (parking's are keyed by account id) can collide with it."""



class PgPaging:
    """Paging queries on the pool (reads) or on a unit of work's connection (``locking``)."""

    def __init__(self, db: Db, locking: bool = False) -> None:
        self._db = db
        self._locking = locking

    async def station(self, account_id: int) -> Station | None:
        if self._locking:
            await self._db.execute("SELECT pg_advisory_xact_lock($1, $2::int)", STATION_LOCK, account_id)
        row = await self._db.fetchrow(f"SELECT {STATION_COLS} FROM paging_stations WHERE account_id = $1", account_id)
        return station_row(row)

    async def save_station(self, s: Station, seq: int) -> None:
        c, st = s.counters, s.settings
        await self._db.execute(
            f"INSERT INTO paging_stations ({STATION_COLS}, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
            " $11, $12, $13) ON CONFLICT (account_id) DO UPDATE SET global_seq = excluded.global_seq,"
            " next_id = excluded.next_id, clock_offset_ms = excluded.clock_offset_ms,"
            " system_id = excluded.system_id, default_goal_s = excluded.default_goal_s,"
            " stats_clear_mark = excluded.stats_clear_mark, stats_since_ms = excluded.stats_since_ms,"
            " stats_sessions = excluded.stats_sessions, stats_served = excluded.stats_served,"
            " stats_late = excluded.stats_late, stats_served_s = excluded.stats_served_s, seq = excluded.seq",
            s.account_id, s.global_seq, s.next_id, s.clock_offset_ms, st.system_id, st.default_goal_s,
            st.stats_clear_mark, c.since_ms, c.num_sessions, c.served, c.late, c.served_total_s, seq,
        )

    async def active(self, account_id: int, number: int) -> GuestSession | None:
        row = await self._db.fetchrow(
            f"SELECT {SESSION_COLS} FROM paging_sessions WHERE account_id = $1 AND number = $2 AND state <> 'cleared'",
            account_id, number,
        )
        return None if row is None else session_row(row)

    async def active_all(self, account_id: int) -> list[GuestSession]:
        rows = await self._db.fetch(
            f"SELECT {SESSION_COLS} FROM paging_sessions WHERE account_id = $1 AND state <> 'cleared' ORDER BY id",
            account_id,
        )
        return [session_row(r) for r in rows]

    async def history(self, account_id: int) -> list[GuestSession]:
        rows = await self._db.fetch(
            f"SELECT {SESSION_COLS} FROM paging_sessions WHERE account_id = $1 AND state = 'cleared' ORDER BY id",
            account_id,
        )
        return [session_row(r) for r in rows]

    async def save_session(self, account_id: int, s: GuestSession) -> None:
        """Insert or overwrite the session ``(account_id, s.id)``; finishing one trims the history."""
        await self._db.execute(
            f"INSERT INTO paging_sessions (account_id, {SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
            " $10, $11, $12, $13, $14)"
            " ON CONFLICT (account_id, id) DO UPDATE SET party_size = excluded.party_size,"
            " goal_s = excluded.goal_s, label = excluded.label, state = excluded.state,"
            " notified_ms = excluded.notified_ms, cleared_ms = excluded.cleared_ms,"
            " clear_type = excluded.clear_type, session_seq = excluded.session_seq, page_mode = excluded.page_mode",
            account_id, s.id, s.uuid, s.number, s.party_size, s.goal_s, s.label, s.state.value, s.created_ms,
            s.notified_ms, s.cleared_ms, None if s.clear_type is None else s.clear_type.value, s.session_seq,
            s.page_mode,
        )
        if not s.active:
            await self._db.execute(
                "DELETE FROM paging_sessions WHERE account_id = $1 AND state = 'cleared' AND id <= ("
                " SELECT id FROM paging_sessions WHERE account_id = $1 AND state = 'cleared'"
                " ORDER BY id DESC LIMIT 1 OFFSET $2)",
                account_id, HISTORY_KEPT,
            )

    async def delete_history(self, account_id: int) -> int:
        status = await self._db.execute(
            "DELETE FROM paging_sessions WHERE account_id = $1 AND state = 'cleared'", account_id
        )
        return rowcount(status)

    async def add_page(self, account_id: int, p: Page) -> None:
        await self._db.execute(
            "INSERT INTO paging_pages (account_id, number, page_mode, system_id, message, session_id, at_ms)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            account_id, p.number, p.page_mode, p.system_id, p.message, p.session_id, p.at_ms,
        )

    async def pages(self, account_id: int, limit: int = 100) -> list[Page]:
        """The latest pages, newest first."""
        rows = await self._db.fetch(
            "SELECT number, page_mode, system_id, message, at_ms, session_id FROM paging_pages"
            " WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
            account_id, limit,
        )
        return [Page(*r) for r in rows]

    async def add_event(self, seq: int, event: StationEvent) -> None:
        await self._db.execute(
            "INSERT INTO paging_events (seq, account_id, snapshot) VALUES ($1, $2, $3)",
            seq, event.station.account_id, encode_event(event),
        )
        await self._db.execute("DELETE FROM paging_events WHERE seq <= $1", seq - EVENTS_KEPT)

    async def event(self, seq: int) -> StationEvent | None:
        found = await self._db.fetchval("SELECT snapshot FROM paging_events WHERE seq = $1", seq)
        return None if found is None else decode_event(found)
