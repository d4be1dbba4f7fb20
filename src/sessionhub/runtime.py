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
from sessionhub.config import Settings, coap_station
from sessionhub.live import ChangeHub
from sessionhub.live.revocation import Revocations
from sessionhub.live.stats import LiveStats, live_stats
from sessionhub.service.access import AccessService
from sessionhub.service.events import EventsService
from sessionhub.service.paging import PagingService
from sessionhub.service.parking import ParkingService
from sessionhub.service.ports import ManagedStore
from sessionhub.service.replay import ReplayService
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
    revocations: Revocations
    replay: ReplayService
    coap_servers: list[CoapServer] = field(default_factory=list)
    """One CoAP endpoint per ``--coap`` address, each serving its own station."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def coap(self) -> CoapServer | None:
        """The first CoAP endpoint (the only one unless ``--coap`` was given several times)."""
        return self.coap_servers[0] if self.coap_servers else None

    async def start(self, *, migrate: bool = True) -> None:
        """Open the store (bringing an embedded SQLite schema up to date; a PostgreSQL schema is only
        checked) and follow the change feed."""
        await self.store.start(migrate=migrate)
        await self.hub.start()
        self.hub.watch(self.access.on_change)
        self.hub.watch(self.revocations.on_change)  # after the key cache is dropped
        self.hub.watch(self.timing.on_change)
        self.hub.watch(self.parking.on_change)
        self.hub.watch(self.events.on_change)
        self.hub.watch(self.paging.on_change)
        for coap in list(self.coap_servers):
            await self._start_coap(coap)
        self._tasks.append(asyncio.create_task(self.store.follow(self.hub.catch_up), name="change-feed"))

    async def _start_coap(self, coap: CoapServer) -> None:
        try:
            await coap.start()
        except OSError as exc:
            if not self.settings.coap_optional:
                raise
            log.warning("CoAP not served: cannot bind %s:%d (%s); pass --coap HOST:PORT", coap.host, coap.port, exc)
            self.coap_servers.remove(coap)
            return
        self.hub.watch(coap.on_change)

    async def live_stats(self) -> LiveStats:
        """The live side's counters (open subscriptions, change-feed lag, resets, revocations)."""
        return await live_stats(self.hub, self.replay, self.revocations, await self.store.last_seq())

    async def stop(self) -> None:
        self.hub.close_all()  # end streams and long-polls first
        await self.revocations.stop()
        for coap in self.coap_servers:
            await coap.stop()
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
    coap = [CoapServer(paging, host, port, account, settings.coap_allow,
                       max_observers_per_host=settings.coap_max_observers_per_host,
                       rate=settings.coap_rate_per_host, burst=settings.coap_burst_per_host)
            for host, port, account in (coap_station(text, settings.station_account) for text in settings.coap)]
    access = AccessService(store, hub, clock, ids)
    events = EventsService(store, hub, clock, ids)
    timing = TimingService(store, hub, clock, ids, events)
    return Runtime(
        settings=settings, store=store, hub=hub,
        access=access,
        timing=timing,
        events=events,
        parking=ParkingService(store, hub, clock, ids, settings.jwt_secret, access.authenticate),
        paging=paging, revocations=Revocations(hub, access),
        replay=ReplayService(store, hub, timing, settings.replay_retention), coap_servers=coap,
    )
