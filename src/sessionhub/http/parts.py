"""What the HTTP adapter is built from: ``Parts``, a protocol the composition root's ``Runtime``
satisfies, so that this adapter names no composition root and no other adapter (a CoAP endpoint's
observers reach ``/metrics`` as a number)."""

from __future__ import annotations

from typing import Protocol

from sessionhub.config import Settings
from sessionhub.core.webhooks import DeliveryStats
from sessionhub.live.hub import ChangeHub
from sessionhub.service.access import AccessService
from sessionhub.service.events import EventsService
from sessionhub.service.paging import PagingService
from sessionhub.service.parking import ParkingService
from sessionhub.service.ports import ManagedStore
from sessionhub.service.replay import ReplayService
from sessionhub.service.timing import TimingService


class Parts(Protocol):
    settings: Settings
    store: ManagedStore
    hub: ChangeHub
    access: AccessService
    timing: TimingService
    parking: ParkingService
    paging: PagingService
    events: EventsService
    replay: ReplayService

    async def start(self) -> None:
        """Open the store and follow the change feed (the app's lifespan calls it)."""

    async def stop(self) -> None:
        """Undo ``start``."""

    @property
    def webhook_stats(self) -> DeliveryStats | None:
        """The webhook worker's counters (None: this process does not deliver)."""

    def coap_observers(self) -> int:
        """CoAP observers held now, over every endpoint of the process (0 without CoAP)."""
