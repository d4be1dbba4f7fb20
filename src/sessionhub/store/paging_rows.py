"""What both stores share about the paging tables: limits, the column lists they select, and how a
row becomes a core object. Only the SQL dialects differ (store/sqlite_paging.py, postgres_paging.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from sessionhub.core.paging import ClearType, Counters, GuestSession, State, Station, StationEvent, StationSettings

HISTORY_KEPT = 1000
"""Finished sessions kept per station; older ones are dropped as new ones finish."""

EVENTS_KEPT = 10_000
"""Event snapshots older than this many global changes are pruned (observers read them in ms)."""

STATION_COLS = (
    "account_id, global_seq, next_id, clock_offset_ms, system_id, default_goal_s, stats_clear_mark,"
    " stats_since_ms, stats_sessions, stats_served, stats_late, stats_served_s"
)
SESSION_COLS = (
    "id, uuid, number, party_size, goal_s, label, state, created_ms, notified_ms, cleared_ms, clear_type,"
    " session_seq, page_mode"
)
encode_event = msgspec.json.Encoder().encode
decode_event = msgspec.json.Decoder(StationEvent).decode


def station(row: Sequence[Any] | None) -> Station | None:
    """A ``STATION_COLS`` row as a Station (None for no row)."""
    if row is None:
        return None
    return Station(row[0], row[1], row[2], row[3], StationSettings(row[4], row[5], row[6]), Counters(*row[7:12]))


def session(row: Sequence[Any]) -> GuestSession:
    """A ``SESSION_COLS`` row as a GuestSession."""
    return GuestSession(
        row[0], row[1], row[2], row[3], row[4], row[5], State(row[6]), row[7], row[8], row[9],
        None if row[10] is None else ClearType(row[10]), row[11], row[12],
    )
