"""A log line that cannot flood the log: at most one per ``interval`` seconds per kind.

An attacker decides how often a cap bites or a fast lane falls through; the operator still needs
to see that it happens. The first event of a kind is logged at once; later ones within the
interval are counted and the count rides on the next line that is let through.
"""

from __future__ import annotations

import logging
import time


class ThrottledLog:
    """``note(kind, message, *args)``: log ``message`` unless ``kind`` was logged in the last ``interval`` s."""

    def __init__(self, log: logging.Logger, level: int = logging.WARNING, interval: float = 10.0) -> None:
        self.log, self.level, self.interval = log, level, interval
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def note(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return
        if len(self._last) > 1024:  # kinds are few by design; never let them grow without bound
            self._last.clear()
            self._skipped.clear()
        self._last[kind] = now
        skipped = self._skipped.pop(kind, 0)
        suffix = f" ({skipped} more in the last {self.interval:.0f} s)" if skipped else ""
        self.log.log(self.level, message + suffix, *args)
