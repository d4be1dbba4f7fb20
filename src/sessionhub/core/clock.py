"""Time as the dialects write it. The core never reads the clock: callers pass ``now`` in ms.

Every instant the server keeps lies in ``[MIN_MS, MAX_MS]``, years 0001 to 9999 in UTC, so that it
renders as ``YYYY-MM-DDTHH:mm:ss.sssZ`` with four digits of year: ``to_ms`` refuses anything else
(``9999-12-31T23:59:59-23:59`` is in year 10000 in UTC), and whatever it accepts ``iso_ms`` renders.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


MIN_MS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _MS
MAX_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) // _MS


def iso_ms(ms: int) -> str:
    """UTC with milliseconds and ``Z``: ``2023-02-03T16:08:18.263Z`` (RUFUS and Coord), the year
    always in four digits (``0001-01-01T00:00:00.000Z``). ``ms`` must lie in [MIN_MS, MAX_MS]."""
    dt = _EPOCH + ms * _MS
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
            f".{ms % 1000:03d}Z")


def to_ms(dt: datetime) -> int:
    """Milliseconds since the epoch; a naive datetime is taken as UTC.

    Raises:
        ValueError: the instant is outside years 0001-9999 in UTC (it could not be rendered).
    """
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    ms = (dt - _EPOCH) // _MS
    if not MIN_MS <= ms <= MAX_MS:
        raise ValueError("a date-time must lie within the years 0001 to 9999 in UTC")
    return ms


def parse_iso(text: str) -> int:
    """Parse an ISO-8601 date-time (``Z``, an offset, or none = UTC) to ms. Raises ValueError."""
    return to_ms(datetime.fromisoformat(text))
