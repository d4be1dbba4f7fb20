"""The composition root: ``build(settings)`` wires clock, ids, store, change hub, services and the
ASGI app; ``start()`` opens the store and starts the change feed; ``stop()`` undoes both.

Nothing in the package opens a file or a socket, or reads the environment, before ``build`` and
``start`` are called. Log policy: INFO for lifecycle (listening, stopping), WARNING for a client's
misbehaviour worth an operator's eye, ERROR with traceback for anything unexpected (each 500).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from sessionhub.coap.transport import CoapServer
from sessionhub.config import Settings, coap_station
from sessionhub.core.webhooks import DeliveryStats, RetryPolicy, networks
from sessionhub.live import ChangeHub
from sessionhub.live.revocation import Revocations
from sessionhub.live.stats import LiveStats, live_stats
from sessionhub.service.access import AccessService
from sessionhub.service.events import EventsService
from sessionhub.service.paging import PagingService
from sessionhub.service.parking import ParkingService
from sessionhub.service.ports import ManagedStore
from sessionhub.service.replay import ReplayService
from sessionhub.service.shares import ShareService
from sessionhub.service.timing import TimingService
from sessionhub.service.webhooks import WebhookService
from sessionhub.store import open_store, sqlite_path
from sessionhub.webhooks.delivery import Delivery

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
    shares: ShareService
    webhooks: WebhookService
    webhook_delivery: Delivery | None = None
    """The webhook delivery worker (None where ``Settings.webhook_delivery`` is off: the CLI, other workers)."""
    coap_servers: list[CoapServer] = field(default_factory=list)
    """One CoAP endpoint per ``--coap`` address, each serving its own station (``ACCOUNT/STATION``)."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def coap(self) -> CoapServer | None:
        """The first CoAP endpoint (the only one unless ``--coap`` was given several times)."""
        return self.coap_servers[0] if self.coap_servers else None

    def coap_stations(self) -> list[tuple[str, int, int, str]]:
        """The CoAP addresses serving paging stations now: (host, port, account id, station) each."""
        return [(s.host, s.port, s.account_id, s.station) for s in self.coap_servers]

    def coap_observers(self) -> int:
        """CoAP observers held now, over every endpoint."""
        return sum(len(s.endpoint.observations) for s in self.coap_servers if s.endpoint is not None)

    async def start(self, *, migrate: bool = True) -> None:
        """Open the store (bringing an embedded SQLite schema up to date; a PostgreSQL schema is only
        checked) and follow the change feed."""
        private_files(self.settings.db)
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
        if self.webhook_delivery is not None:
            self.hub.watch(self.webhook_delivery.on_change)
            await self.webhook_delivery.start()
        self._tasks.append(asyncio.create_task(self.store.follow(self.hub.catch_up), name="change-feed"))
        self._tasks.append(asyncio.create_task(self._prune_snapshots(), name="snapshot-pruning"))

    async def _prune_snapshots(self, interval: float = 10.0) -> None:
        """Keep the change log's snapshots within their retention (service.snapshots), a batch at a
        time: back to back while behind (a little pause between batches for other writers), then
        every ``interval`` seconds. The first round waits ``interval``: a short-lived CLI command's
        runtime never prunes."""
        await asyncio.sleep(interval)
        while True:
            try:
                behind = await self.replay.prune()
            except Exception as exc:  # the store unreachable for a while: the next round catches up
                log.warning("pruning snapshots failed (%s); retrying", exc)
                behind = False
            await asyncio.sleep(0.05 if behind else interval)

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

    @property
    def webhook_stats(self) -> DeliveryStats | None:
        """The webhook worker's counters (None: this process does not deliver)."""
        return None if self.webhook_delivery is None else self.webhook_delivery.stats

    async def live_stats(self) -> LiveStats:
        """The live side's counters (open subscriptions, change-feed lag, resets, revocations)."""
        return await live_stats(self.hub, self.replay, self.revocations, await self.store.last_seq())

    async def stop(self) -> None:
        self.hub.close_all()  # end streams and long-polls first
        await self.revocations.stop()
        for coap in self.coap_servers:
            await coap.stop()
        if self.webhook_delivery is not None:
            await self.webhook_delivery.stop()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.store.stop()


def private_files(db: str) -> None:
    """An SQLite database and its -wal/-shm are the owner's alone (0600; SQLite gives the -wal and -shm
    it creates the database file's mode): create the file 0600 (its directory 0700) before SQLite does,
    and tighten files left wider by older versions. Other URLs: nothing to do."""
    if not db.startswith("sqlite:///"):
        return
    path = sqlite_path(db)
    if path == ":memory:" or path.startswith("file:"):
        return
    Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        with contextlib.suppress(FileNotFoundError):
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)


def with_jwt_secret(settings: Settings) -> Settings:
    """Settings whose ``jwt_secret`` is set from the secret file (``jwt_secret_file``, else
    ``DATABASE.jwt-secret`` beside an SQLite database; created 0600 with a random secret when missing),
    so that the database never holds it. PostgreSQL without either keeps the database's, with a warning."""
    if settings.jwt_secret:
        return settings
    path = settings.jwt_secret_file
    if path is None and settings.db.startswith("sqlite:///") and not sqlite_path(settings.db).startswith(
            (":memory:", "file:")):
        path = sqlite_path(settings.db) + ".jwt-secret"
    if path is None:
        log.warning("the JWT secret is kept in the database: set SESSIONHUB_JWT_SECRET (the same on every process) "
                    "or --jwt-secret-file so that a reader of the database cannot mint user tokens")
        return settings
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        secret = Path(path).read_text().strip()
        if not secret:
            raise ValueError(f"the JWT secret file {path!r} is empty") from None
    else:
        secret = secrets.token_hex(32)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
    return dataclasses.replace(settings, jwt_secret=secret)


def build(settings: Settings) -> Runtime:
    """Wire a runtime for ``settings``; nothing is opened until ``start``."""
    store = open_store(settings.db)
    hub = ChangeHub(store)
    clock, ids = SystemClock(), SecretIds()
    paging = PagingService(store, hub, clock, ids, local_utc_offset_ms)
    coap = [CoapServer(paging, s.host, s.port, s.account, settings.coap_allow,
                       max_observers_per_host=settings.coap_max_observers_per_host,
                       rate=settings.coap_rate_per_host, burst=settings.coap_burst_per_host, station=s.station)
            for s in (coap_station(text, settings.station_account) for text in settings.coap)]
    access = AccessService(store, hub, clock, ids)
    events = EventsService(store, hub, clock, ids)
    timing = TimingService(store, hub, clock, ids, events)
    allowed = networks(settings.webhook_allow_networks)
    webhooks = WebhookService(store, hub, clock, ids, allowed, settings.webhook_log_keep)
    delivery = Delivery(
        webhooks, clock, RetryPolicy(settings.webhook_retry_base, settings.webhook_retry_cap,
                                     settings.webhook_max_failures),
        timeout_s=settings.webhook_timeout, concurrency=settings.webhook_concurrency, allowed=allowed,
        owner=f"{os.getpid()}-{ids.hex_token(8)}", poll_s=settings.webhook_poll,
    ) if settings.webhook_delivery else None
    return Runtime(
        settings=settings, store=store, hub=hub,
        access=access,
        timing=timing,
        events=events,
        parking=ParkingService(store, hub, clock, ids, settings.jwt_secret, access.authenticate),
        paging=paging, revocations=Revocations(hub, access),
        replay=ReplayService(store, hub, timing, settings.replay_retention),
        webhooks=webhooks, webhook_delivery=delivery, coap_servers=coap,
        shares=ShareService(store, hub, clock, ids),
    )
