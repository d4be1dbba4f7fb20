"""A scenario's timetable: actions due at offsets from the start, run in order on one thread.

A scenario plans with its own seeded ``random.Random`` (so ``--seed`` fixes what happens and in
which order; only the server's ids and the wall-clock stamps differ between runs) and schedules
each action at an offset in seconds. ``run`` sleeps until each is due; an action may schedule more.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

Action = Callable[[], None]


class Timetable:
    def __init__(self, stop: threading.Event) -> None:
        self._heap: list[tuple[float, int, Action]] = []
        self._order = itertools.count()
        self._stop = stop
        self.start = time.monotonic()

    def at(self, offset_s: float, action: Action) -> None:
        heapq.heappush(self._heap, (offset_s, next(self._order), action))

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def run(self, until_s: float, on_error: Callable[[Exception], None]) -> None:
        """Run the actions due before ``until_s`` (or until stopped); later ones are dropped."""
        while self._heap and not self._stop.is_set():
            due, _, action = self._heap[0]
            if due > until_s:
                return
            wait = due - self.elapsed()
            if wait > 0 and self._stop.wait(min(wait, 0.5)):
                return
            if wait > 0.5:
                continue
            heapq.heappop(self._heap)
            try:
                action()
            except Exception as exc:  # a refused or failed request is counted; the run goes on
                on_error(exc)
