"""Time as the dialects write it. The core never reads the clock: callers pass ``now`` in ms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def iso_ms(ms: int) -> str:
    """UTC with milliseconds and ``Z``: ``2023-02-03T16:08:18.263Z`` (RUFUS and Coord)."""
    dt = _EPOCH + ms * _MS
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def to_ms(dt: datetime) -> int:
    """Milliseconds since the epoch; a naive datetime is taken as UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // _MS


def parse_iso(text: str) -> int:
    """Parse an ISO-8601 date-time (``Z``, an offset, or none = UTC) to ms. Raises ValueError."""
    return to_ms(datetime.fromisoformat(text))
