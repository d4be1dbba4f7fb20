"""The web adapter: the operator console (``/console``), server-rendered and live.

Like ``http/`` and ``coap/`` it only translates: each view parses a request, makes one service
call and renders a template; the rules are the core's and the refusals are the service's. It
never imports another adapter. ``console(runtime)`` builds the ASGI app; docs/console.md tells
an operator what is on each page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sessionhub.web.app import Console, to_console

if TYPE_CHECKING:
    from sessionhub.runtime import Runtime

__all__ = ["Console", "console", "to_console"]


def console(runtime: Runtime) -> Console:
    """The console app for ``runtime``'s services (mount it at ``/console``)."""
    def stations() -> list[tuple[str, int, int]]:  # read per request: the servers start after the app is built
        return [(s.host, s.port, s.account_id) for s in runtime.coap_servers]

    return Console(runtime.access, runtime.timing, runtime.parking, runtime.paging, runtime.hub, runtime.shares,
                   stations=stations)
