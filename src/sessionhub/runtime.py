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

from sessionhub.coap.transport import CoapServer
from sessionhub.config import Settings, host_port
from sessionhub.live import ChangeHub
from sessionhub.service.access import AccessService
from sessionhub.service.events import EventsService
from sessionhub.service.paging import PagingService
from sessionhub.service.parking import ParkingService
from sessionhub.service.ports import ManagedStore
from sessionhub.service.timing import TimingService
from sessionhub.store import open_store

log = logging.getLogger("sessionhub")


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


def local_utc_offset_ms(now_ms: int) -> int:
    """The host's UTC offset at ``now_ms`` (where a new paging station's clock starts)."""
    return (time.localtime(now_ms // 1000).tm_gmtoff or 0) * 1000


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
    paging: PagingService
    events: EventsService
    coap: CoapServer | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self, *, migrate: bool = True) -> None:
        """Open the store (bringing an embedded SQLite schema up to date; a PostgreSQL schema is only
        checked) and follow the change feed."""
        await self.store.start(migrate=migrate)
        await self.hub.start()
        self.hub.watch(self.access.on_change)
        self.hub.watch(self.timing.on_change)
        self.hub.watch(self.parking.on_change)
        self.hub.watch(self.events.on_change)
        self.hub.watch(self.paging.on_change)
        if self.coap is not None:
            await self._start_coap(self.coap)
        self._tasks.append(asyncio.create_task(self.store.follow(self.hub.catch_up), name="change-feed"))

    async def _start_coap(self, coap: CoapServer) -> None:
        try:
            await coap.start()
        except OSError as exc:
            if not self.settings.coap_optional:
                raise
            log.warning("CoAP not served: cannot bind %s:%d (%s); pass --coap HOST:PORT", coap.host, coap.port, exc)
            self.coap = None
            return
        self.hub.watch(coap.on_change)

    async def stop(self) -> None:
        self.hub.close_all()  # end streams and long-polls first
        if self.coap is not None:
            await self.coap.stop()
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
    paging = PagingService(store, hub, clock, ids, local_utc_offset_ms)
    coap = None
    if settings.coap is not None:
        host, port = host_port(settings.coap, "coap")
        coap = CoapServer(paging, host, port, settings.station_account, settings.coap_allow)
    access = AccessService(store, hub, clock, ids)
    events = EventsService(store, hub, clock, ids)
    return Runtime(
        settings=settings, store=store, hub=hub,
        access=access,
        timing=TimingService(store, hub, clock, ids, events),
        events=events,
        parking=ParkingService(store, hub, clock, ids, settings.jwt_secret, access.authenticate),
        paging=paging, coap=coap,
    )
