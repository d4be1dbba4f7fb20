"""How the console writes times, durations and money (Jinja filters; pure functions)."""

from __future__ import annotations

import time


def clock(ms: int | None) -> str:
    """``14:03:27`` in the server's local time (the console is read on site); ``-`` for none."""
    if ms is None:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(ms / 1000))


def stamp(ms: int | None) -> str:
    """``2026-12-03 14:03`` in the server's local time; ``-`` for none."""
    if ms is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ms / 1000))


def local_midnight_ms(ms: int) -> int:
    """The start of the server's local day that holds ``ms`` ("today" on a race director's screen)."""
    t = time.localtime(ms / 1000)
    return int(time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1)) * 1000)


def iso(ms: int | None) -> str:
    """UTC ISO 8601 with milliseconds, for ``<time datetime>`` and the CSV."""
    if ms is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def duration(ms: int | None) -> str:
    """``1:02:03`` / ``2:03`` (minutes:seconds under an hour); ``-`` for none."""
    if ms is None:
        return "-"
    s = max(0, ms) // 1000
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def money(amount: int | None, currency: str | None) -> str:
    """Minor units as ``3.50 USD`` (two decimals; the locations' currencies all have two)."""
    if amount is None:
        return "-"
    return f"{amount // 100}.{amount % 100:02d} {currency or ''}".strip()


FILTERS = {"clock": clock, "stamp": stamp, "iso": iso, "duration": duration, "money": money}
