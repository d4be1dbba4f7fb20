"""Read deadlines of many connections on one timer, expired in slices.

The guard (http/guard.py) gives every connection a deadline for its request's headers, and resets
it at every request. A timer per connection (``loop.call_later``) was the largest single cost of a
connection in a connect storm (py-spy: ~7% of the server's time under 25,000 attacker connects), and
10,000 slowloris connections opened together expire together: their callbacks ran in one turn of the
event loop and held every other client for the ~0.5 s they took.

``Deadlines`` keeps a dict of who is due when and one timer that ticks every ``TICK`` seconds while
anything is armed. A tick hands the expired to their ``expired()`` at most ``SLICE`` at a time, the
next slice on the next turn of the loop, so other clients are served between slices. A deadline
fires up to ``TICK`` late, never early.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

TICK = 0.25
"""Seconds between looks at the deadlines (how late a deadline may fire)."""
SLICE = 256
"""Expired connections handled per turn of the event loop."""


class Expiring(Protocol):
    def expired(self) -> None:
        """The deadline passed (it is disarmed already; arming again is allowed)."""


class Deadlines:
    """One timer for every armed deadline (see the module docstring). Loop thread only."""

    def __init__(self, tick: float = TICK, slice_size: int = SLICE) -> None:
        self.tick, self.slice_size = tick, slice_size
        self._due: dict[Expiring, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._due)

    def arm(self, who: Expiring, seconds: float) -> None:
        """``who.expired()`` in ``seconds`` (to ``seconds + tick``) unless disarmed or armed again."""
        loop = self._loop or self._start()
        self._due[who] = loop.time() + seconds
        if self._timer is None:
            self._timer = loop.call_later(self.tick, self._look)

    def disarm(self, who: Expiring) -> None:
        self._due.pop(who, None)

    def _start(self) -> asyncio.AbstractEventLoop:
        self._loop = asyncio.get_running_loop()
        return self._loop

    def _look(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        due = self._due
        expired = [who for who, at in due.items() if at <= now]
        for who in expired:
            del due[who]
        self._expire(expired)
        self._timer = self._loop.call_later(self.tick, self._look) if due or expired else None

    def _expire(self, expired: list[Expiring]) -> None:
        assert self._loop is not None
        head, rest = expired[:self.slice_size], expired[self.slice_size:]
        for who in head:
            if who in self._due:  # armed again while it waited for its slice
                continue
            try:
                who.expired()
            except Exception as exc:  # one connection's failure must not keep the others from theirs
                self._loop.call_exception_handler({"message": "read deadline callback failed", "exception": exc})
        if rest:
            self._loop.call_soon(self._expire, rest)
