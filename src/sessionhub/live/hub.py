"""The change hub.

Every committed write appended its changes to the store's change log. The hub reads that log
forward from the last seq it published (``catch_up``) and hands each change, once and in seq
order, to its watchers: body caches that drop stale entries, key caches, and (later) streams.
It is fed from two sides: the services call ``catch_up`` right after each commit (low latency
for this process's writes), and ``run`` watches the store for commits of other processes.
Because it only ever reads committed rows, no watcher can see a state the store did not keep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from sessionhub.core.changes import Change

log = logging.getLogger(__name__)

Watcher = Callable[[Change], None]


class ChangeLog(Protocol):
    async def changes_after(self, seq: int, limit: int = 1000) -> list[Change]: ...

    async def last_seq(self) -> int: ...


class ChangeHub:
    def __init__(self, changes: ChangeLog) -> None:
        self._log = changes
        self.last_seq = 0
        self._watchers: list[Watcher] = []

    async def start(self) -> None:
        """Begin at the log's end: what was committed before is already in the store's rows."""
        self.last_seq = await self._log.last_seq()

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        """Call ``watcher`` with every change published from now on; returns the undo."""
        self._watchers.append(watcher)
        return lambda: self._watchers.remove(watcher)

    async def catch_up(self) -> None:
        """Publish every change committed after ``last_seq``. Safe to call concurrently."""
        while True:
            batch = await self._log.changes_after(self.last_seq)
            for change in batch:
                if change.seq <= self.last_seq:  # a concurrent catch_up published it already
                    continue
                self.last_seq = change.seq
                for watcher in list(self._watchers):
                    try:
                        watcher(change)
                    except Exception:  # one broken watcher must not starve the others
                        log.exception("change watcher failed on %s", change)
            if len(batch) < 1000:
                return

    async def run(self, external_commits: Callable[[], bool], interval: float = 0.05) -> None:
        """Follow commits made by other processes until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                if external_commits():
                    await self.catch_up()
            except Exception:
                log.exception("change feed poll failed; retrying")
