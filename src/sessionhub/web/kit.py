"""What every console view shares: the services, the sign-in gate, the templates, and the one place
that turns a core error into a page.

A view is ``async (kit, request) -> Response`` and does *parse -> one service call -> render*.
``Kit.view`` wraps each one: a ``SessionhubError`` becomes the page (or, for the page's own
script, the short text) of its entry in ``errors.CONSOLE_ERRORS``; an unauthenticated GET goes to
the sign-in page; anything unexpected is logged and shown as a 500 without internals.

Regions. A page marks the parts that change with ``data-live`` (see static/console.js); the same
view renders only that part when asked ``?part=live``, so a region refreshed by the script is
exactly what a full page load shows.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from sessionhub.core.errors import InvalidInput, SessionhubError, Unauthorized, lookup
from sessionhub.live.hub import ChangeHub
from sessionhub.service.access import AccessService
from sessionhub.service.paging import PagingService
from sessionhub.service.parking import ParkingService
from sessionhub.service.shares import ShareService
from sessionhub.service.timing import TimingService
from sessionhub.web import formats
from sessionhub.web.auth import Gate, Operator
from sessionhub.web.errors import CONSOLE_ERRORS

log = logging.getLogger("sessionhub.web")

PREFIX = "/console"
FETCH_HEADER = "x-console-fetch"
"""Sent by the page's own script: errors come back as short text for its status line."""

View = Callable[["Kit", Request], Awaitable[Response]]
Stations = Callable[[], list[tuple[str, int, int, str]]]
"""The CoAP addresses serving paging stations now: (host, port, account id, station) each."""


def _no_stations() -> list[tuple[str, int, int, str]]:
    return []


class Kit:
    def __init__(self, access: AccessService, timing: TimingService, parking: ParkingService,
                 paging: PagingService, hub: ChangeHub, shares: ShareService, gate: Gate, static_version: str,
                 stations: Stations = _no_stations) -> None:
        self.access, self.timing, self.parking, self.paging, self.hub = access, timing, parking, paging, hub
        self.shares = shares
        self.row_renders: dict[tuple[int, int, int, bool, int, int], bytes] = {}
        """A garage board's row renderings shared by the boards that fetch it (web/parking.py)."""
        self.gate = gate
        self.stations = stations
        self.static_version = static_version
        self.env = jinja2.Environment(loader=jinja2.PackageLoader("sessionhub.web", "templates"),
                                      autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                                      lstrip_blocks=True)
        self.env.filters.update(formats.FILTERS)
        self.env.globals.update(prefix=PREFIX, v=static_version)

    def now_ms(self) -> int:
        return self.paging.now_ms()

    # rendering ------------------------------------------------------------------------------

    def html(self, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        body = self.env.get_template(template).render(**ctx)
        return HTMLResponse(body, status, headers={"cache-control": "no-store"})

    def page(self, request: Request, who: Operator | None, template: str, part: str | None = None,
             **ctx: Any) -> HTMLResponse:
        """The full page ``template``, or only its live region ``part`` when the script asks ``?part=live``."""
        # the seq published before the view read anything: a change after it may be missing from the
        # page, so the change stream announces any change after it (never one the page shows already)
        since = getattr(request.state, "since", self.hub.last_seq)
        ctx.update(who=who, now_ms=self.now_ms(), since=since, path=request.url.path)
        if part is not None and request.query_params.get("part") == "live":
            return self.html(part, **ctx)
        return self.html(template, **ctx)

    def error(self, request: Request, exc: SessionhubError | None) -> Response:
        status, title = lookup(CONSOLE_ERRORS, exc or SessionhubError("internal error"))
        message = exc.message if exc is not None else "The server failed on this request; it is logged."
        if request.headers.get(FETCH_HEADER):
            return PlainTextResponse(message, status, headers={"cache-control": "no-store"})
        if isinstance(exc, Unauthorized) and request.method == "GET":
            return RedirectResponse(f"{PREFIX}/signin?next={quote(request.url.path)}", 303)
        return self.html("error.html", status, title=title, message=message, who=None, now_ms=self.now_ms(),
                         since=0, path=request.url.path, back=request.headers.get("referer"))

    def view(self, fn: View) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            request.state.since = self.hub.last_seq
            try:
                return await fn(self, request)
            except SessionhubError as exc:
                return self.error(request, exc)
            except Exception:
                log.exception("console failed on %s %s", request.method, request.url.path)
                return self.error(request, None)

        endpoint.__name__ = fn.__name__
        return endpoint


def done(request: Request, to: str, message: str = "Done") -> Response:
    """After a successful form post: the script gets a short text, a browser without it a redirect."""
    if request.headers.get(FETCH_HEADER):
        return PlainTextResponse(message, 200, headers={"cache-control": "no-store"})
    return RedirectResponse(to, 303)


def int_field(fields: Mapping[str, str], name: str, low: int, high: int, default: int | None = None) -> int:
    """A whole number from a form, within ``low..high``. Raises InvalidInput naming the field."""
    raw = fields.get(name, "").strip()
    if not raw and default is not None:
        return default
    if not (raw.isascii() and raw.lstrip("-").isdigit()) or len(raw) > 12 or not low <= int(raw) <= high:
        raise InvalidInput(f"{name.replace('_', ' ')} must be a whole number from {low} to {high}", name)
    return int(raw)
