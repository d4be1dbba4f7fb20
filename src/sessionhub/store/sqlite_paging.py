"""Guest paging tables on SQLite: stations, sessions (active and history), pages, event snapshots."""

from __future__ import annotations

import sqlite3

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


class SqlitePaging:
    """Paging queries on one connection: the read connection, or the writer inside a unit of work."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    async def station(self, account_id: int) -> Station | None:
        row = self._c.execute(
            f"SELECT {STATION_COLS} FROM paging_stations WHERE account_id = ?", (account_id,)
        ).fetchone()
        return station_row(row)

    async def save_station(self, s: Station, seq: int) -> None:
        c, st = s.counters, s.settings
        self._c.execute(
            f"INSERT OR REPLACE INTO paging_stations ({STATION_COLS}, seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (s.account_id, s.global_seq, s.next_id, s.clock_offset_ms, st.system_id, st.default_goal_s,
             st.stats_clear_mark, c.since_ms, c.num_sessions, c.served, c.late, c.served_total_s, seq),
        )

    async def active(self, account_id: int, number: int) -> GuestSession | None:
        row = self._c.execute(
            f"SELECT {SESSION_COLS} FROM paging_sessions WHERE account_id = ? AND number = ? AND state <> 'cleared'",
            (account_id, number),
        ).fetchone()
        return None if row is None else session_row(row)

    async def active_all(self, account_id: int) -> list[GuestSession]:
        rows = self._c.execute(
            f"SELECT {SESSION_COLS} FROM paging_sessions WHERE account_id = ? AND state <> 'cleared' ORDER BY id",
            (account_id,),
        ).fetchall()
        return [session_row(r) for r in rows]

    async def history(self, account_id: int) -> list[GuestSession]:
        rows = self._c.execute(
            f"SELECT {SESSION_COLS} FROM paging_sessions WHERE account_id = ? AND state = 'cleared' ORDER BY id",
            (account_id,),
        ).fetchall()
        return [session_row(r) for r in rows]

    async def save_session(self, account_id: int, s: GuestSession) -> None:
        """Insert or overwrite the session ``(account_id, s.id)``; finishing one trims the history."""
        self._c.execute(
            f"INSERT INTO paging_sessions (account_id, {SESSION_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (account_id, id) DO UPDATE SET party_size = excluded.party_size,"
            " goal_s = excluded.goal_s, label = excluded.label, state = excluded.state,"
            " notified_ms = excluded.notified_ms, cleared_ms = excluded.cleared_ms,"
            " clear_type = excluded.clear_type, session_seq = excluded.session_seq, page_mode = excluded.page_mode",
            (account_id, s.id, s.uuid, s.number, s.party_size, s.goal_s, s.label, s.state.value, s.created_ms,
             s.notified_ms, s.cleared_ms, None if s.clear_type is None else s.clear_type.value, s.session_seq,
             s.page_mode),
        )
        if not s.active:
            self._c.execute(
                "DELETE FROM paging_sessions WHERE account_id = ? AND state = 'cleared' AND id <= ("
                " SELECT id FROM paging_sessions WHERE account_id = ? AND state = 'cleared'"
                " ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (account_id, account_id, HISTORY_KEPT),
            )

    async def delete_history(self, account_id: int) -> int:
        cur = self._c.execute("DELETE FROM paging_sessions WHERE account_id = ? AND state = 'cleared'", (account_id,))
        return cur.rowcount

    async def add_page(self, account_id: int, p: Page) -> None:
        self._c.execute(
            "INSERT INTO paging_pages (account_id, number, page_mode, system_id, message, session_id, at_ms)"
            " VALUES (?,?,?,?,?,?,?)",
            (account_id, p.number, p.page_mode, p.system_id, p.message, p.session_id, p.at_ms),
        )

    async def pages(self, account_id: int, limit: int = 100) -> list[Page]:
        """The latest pages, newest first."""
        rows = self._c.execute(
            "SELECT number, page_mode, system_id, message, at_ms, session_id FROM paging_pages"
            " WHERE account_id = ? ORDER BY id DESC LIMIT ?",
            (account_id, limit),
        ).fetchall()
        return [Page(*r) for r in rows]

    async def add_event(self, seq: int, event: StationEvent) -> None:
        account_id = event.station.account_id
        self._c.execute(
            "INSERT INTO paging_events (seq, account_id, snapshot) VALUES (?, ?, ?)",
            (seq, account_id, encode_event(event)),
        )
        self._c.execute("DELETE FROM paging_events WHERE seq <= ?", (seq - EVENTS_KEPT,))

    async def event(self, seq: int) -> StationEvent | None:
        row = self._c.execute("SELECT snapshot FROM paging_events WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else decode_event(row[0])
