"""The console's ASGI app: its route table, the session cookie, static files and security headers.

The cookie secret is a server secret kept in the database (``AccessService.server_secret``), so
sessions and sign-in links survive restarts and hold across processes sharing the database; it
is read on the first request (the store opens after the app is built), then the inner app is
built once.
"""

from __future__ import annotations

import asyncio
import hashlib
from importlib import resources

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionhub.core.errors import RouteNotFound
from sessionhub.live.hub import ChangeHub
from sessionhub.service.access import AccessService
from sessionhub.service.paging import PagingService
from sessionhub.service.parking import ParkingService
from sessionhub.service.shares import ShareService
from sessionhub.service.timing import TimingService
from sessionhub.web import admin, overview, paging, parking, share, signin, timing
from sessionhub.web.auth import SECRET_NAME, Gate
from sessionhub.web.kit import Kit, Stations, View

SESSION_SECONDS = 12 * 3600
COOKIE = "sessionhub_console"
_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none';"
     b" form-action 'self'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def static_version() -> str:
    """A short hash of the static files: their URLs change when they do (long caching is safe)."""
    h = hashlib.sha256()
    for f in sorted(resources.files("sessionhub.web").joinpath("static").iterdir(), key=lambda p: p.name):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:10]


def routes(kit: Kit) -> list[Route | Mount]:
    def r(path: str, view: View, method: str = "GET") -> Route:
        return Route(path, kit.view(view), methods=[method])

    async def not_found(kit: Kit, request: Request) -> Response:
        raise RouteNotFound("no such page in the console")

    return [
        r("/", overview.overview),
        r("/signin", signin.signin_form),
        r("/signin", signin.signin, "POST"),
        r("/signin/link", signin.signin_link),
        r("/signout", signin.signout, "POST"),
        r("/events", signin.events),
        r("/timing", timing.devices),
        r("/timing/devices", timing.bind, "POST"),
        r("/timing/devices/{deviceid}/sessions", timing.open_session, "POST"),
        r("/timing/{token}", timing.board),
        r("/timing/{token}/passings.csv", timing.export),
        r("/timing/{token}/close", timing.close_session, "POST"),
        r("/parking", parking.locations),
        r("/parking/{location_id}", parking.board),
        r("/parking/{location_id}/scan", parking.scan, "POST"),
        r("/parking/{location_id}/tickets", parking.ticket, "POST"),
        r("/parking/{location_id}/sessions/{session_id}/end", parking.end, "POST"),
        r("/paging", paging.stand),
        r("/paging/parties", paging.add, "POST"),
        r("/paging/settings", paging.settings, "POST"),
        r("/paging/statistics/reset", paging.reset_statistics, "POST"),
        r("/paging/history/delete", paging.clear_history, "POST"),
        r("/paging/{number}/{action}", paging.act, "POST"),
        r("/share", share.links),
        r("/share/parking", share.share_parking, "POST"),
        r("/share/timing/{token}", share.share_timing, "POST"),
        r("/share/paging/{number}", share.share_paging, "POST"),
        r("/share/{share_id}/revoke", share.revoke, "POST"),
        r("/s/{token}", share.view),
        r("/s/{token}/events", share.events),
        r("/admin", admin.index),
        r("/admin/keys", admin.keys),
        r("/admin/keys", admin.create_key, "POST"),
        r("/admin/keys/{key_id}/revoke", admin.revoke_key, "POST"),
        r("/admin/locations", admin.locations),
        r("/admin/locations", admin.create_location, "POST"),
        r("/admin/locations/{location_id}/rates", admin.set_rates, "POST"),
        r("/admin/stations", admin.stations),
        Mount("/static", app=StaticFiles(packages=[("sessionhub.web", "static")])),
        Route("/{rest:path}", kit.view(not_found), methods=["GET", "POST"]),
    ]


class Console:
    """The console app (mounted at ``/console``); builds its inner app on the first request."""

    def __init__(self, access: AccessService, timing: TimingService, parking: ParkingService,
                 paging: PagingService, hub: ChangeHub, shares: ShareService, https_only: bool = False,
                 stations: Stations | None = None) -> None:
        """``stations``: the CoAP addresses serving paging stations (the admin's stations page)."""
        self._services = (access, timing, parking, paging, hub, shares)
        self._stations = stations
        self._https_only = https_only
        self._app: ASGIApp | None = None
        self._lock = asyncio.Lock()
        self.kit: Kit | None = None

    async def _build(self) -> ASGIApp:
        async with self._lock:
            if self._app is None:
                access = self._services[0]
                secret = await access.server_secret(SECRET_NAME)
                kit = Kit(*self._services, gate=Gate(access, secret), static_version=static_version())
                if self._stations is not None:
                    kit.stations = self._stations
                app = Starlette(routes=routes(kit), middleware=[
                    # a board of 1,000 rows: ~400 KB -> ~29 KB; level 6, not Starlette's 9: 4 ms, not 10, for 5% more
                    Middleware(GZipMiddleware, minimum_size=2048, compresslevel=6),
                    Middleware(SessionMiddleware, secret_key=secret, session_cookie=COOKIE,
                               max_age=SESSION_SECONDS, path="/console", same_site="lax",
                               https_only=self._https_only)])
                self.kit, self._app = kit, app
            return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app or await self._build()
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await app(scope, receive, secured)


async def to_console(request: Request) -> Response:
    """``GET /``: the console."""
    return RedirectResponse("/console/", 303)
