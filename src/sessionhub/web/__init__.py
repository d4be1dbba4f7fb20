"""The web adapter: the operator console (``/console``) and its share links, server-rendered and live.

Like ``http/`` and ``coap/`` it only translates: each view parses a request, makes one service
call and renders a template; the rules are the core's and the refusals are the service's. It
never imports another adapter or the composition root: the root builds ``pages(runtime)`` and
hands them to the HTTP app (``create_app(runtime, pages=...)``). docs/console.md tells an
operator what is on each page.
"""

from __future__ import annotations

from typing import Protocol

from starlette.routing import BaseRoute, Mount, Route

from sessionhub.live.hub import ChangeHub
from sessionhub.service.access import AccessService
from sessionhub.service.paging import PagingService
from sessionhub.service.parking import ParkingService
from sessionhub.service.shares import ShareService
from sessionhub.service.timing import TimingService
from sessionhub.web.app import Console, to_console

__all__ = ["Console", "ConsoleParts", "console", "pages", "to_console"]


class ConsoleParts(Protocol):
    """What the console is built from (the composition root's ``Runtime`` satisfies it)."""

    access: AccessService
    timing: TimingService
    parking: ParkingService
    paging: PagingService
    hub: ChangeHub
    shares: ShareService

    def coap_stations(self) -> list[tuple[str, int, int, str]]:
        """The CoAP addresses serving paging stations now: (host, port, account id, station) each."""


def console(parts: ConsoleParts) -> Console:
    """The console app for ``parts``' services (mount it at ``/console``)."""
    return Console(parts.access, parts.timing, parts.parking, parts.paging, parts.hub, parts.shares,
                   stations=parts.coap_stations)


def pages(parts: ConsoleParts) -> list[BaseRoute]:
    """The console at ``/console`` and ``GET /`` redirecting there, for the HTTP app."""
    return [Mount("/console", app=console(parts)), Route("/", to_console, methods=["GET"])]
