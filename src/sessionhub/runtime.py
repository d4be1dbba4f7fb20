"""The composition root: ``build(settings)`` wires clock, ids, store, change hub, services and the
ASGI app; ``start()`` opens the store and starts the change feed; ``stop()`` undoes both.

Nothing in the package opens a file or a socket, or reads the environment, before ``build`` and
``start`` are called. Log policy: INFO for lifecycle (listening, stopping), WARNING for a client's
misbehaviour worth an operator's eye, ERROR with traceback for anything unexpected (each 500).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field

from sessionhub.config import Settings
from sessionhub.live import ChangeHub
from sessionhub.service.access import AccessService
from sessionhub.service.parking import ParkingService
from sessionhub.service.ports import ManagedStore
from sessionhub.service.timing import TimingService
from sessionhub.store import open_store

log = logging.getLogger("sessionhub")


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class SecretIds:
    def hex_token(self, nbytes: int) -> str:
        return secrets.token_hex(nbytes).upper()


@dataclass
class Runtime:
    settings: Settings
    store: ManagedStore
    hub: ChangeHub
    access: AccessService
    timing: TimingService
    parking: ParkingService
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self, *, migrate: bool = True) -> None:
        """Open the store (bringing an embedded SQLite schema up to date; a PostgreSQL schema is only
        checked) and follow the change feed."""
        await self.store.start(migrate=migrate)
        await self.hub.start()
        self.hub.watch(self.access.on_change)
        self.hub.watch(self.timing.on_change)
        self.hub.watch(self.parking.on_change)
        self._tasks.append(asyncio.create_task(self.store.follow(self.hub.catch_up), name="change-feed"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.store.stop()


def build(settings: Settings) -> Runtime:
    """Wire a runtime for ``settings``; nothing is opened until ``start``."""
    store = open_store(settings.db)
    hub = ChangeHub(store)
    clock, ids = SystemClock(), SecretIds()
    return Runtime(
        settings=settings, store=store, hub=hub,
        access=AccessService(store, hub, clock, ids),
        timing=TimingService(store, hub, clock, ids),
        parking=ParkingService(store, hub, clock, ids, settings.jwt_secret),
    )
