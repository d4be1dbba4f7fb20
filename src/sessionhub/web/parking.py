"""Parking pages: the locations with occupancy and rates; a location's board (pending, active and
recent sessions with elapsed time and running cost) with its gate panel; one-click actions.

Every action is one service call the Coord API makes too: a gate scan (``scan``), ending a
session (``end_session``), issuing a ticket (``create_session`` with a barcode, for a walk-in
user named by a fresh random external id). Running costs are ``core.parking.cost`` at render time.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from sessionhub.core import parking as core
from sessionhub.core.access import Key
from sessionhub.core.changes import parking_location_topic, parking_locations_prefix
from sessionhub.core.errors import InvalidInput
from sessionhub.core.parking import Event, Location, ParkingSession
from sessionhub.service.parking import MAX_LIST
from sessionhub.web import formats
from sessionhub.web.auth import Operator
from sessionhub.web.kit import PREFIX, Kit, done

MAX_PAGES = 10
"""A location's board reads at most MAX_PAGES x MAX_LIST sessions."""
RECENT = 25
MAX_ROW_RENDERS = 10_000


@dataclass(frozen=True, slots=True)
class Row:
    """A session as a board row shows it, formatted once here (a board may hold thousands of rows)."""

    session: ParkingSession
    cost: int | None
    """Billed (ended) or running (active) cost; None while pending."""
    cost_text: str = ""
    since_ms: int = 0
    """Entered (active) or issued (pending): where the row's clock ticks from."""
    since_text: str = ""
    elapsed_text: str = ""


def _row(s: ParkingSession, cost: int | None, currency: str, now_ms: int) -> Row:
    since = s.start_ms if s.start_ms is not None else s.created_ms
    return Row(s, cost, formats.money(cost, s.currency or currency), since, formats.clock(since),
               formats.duration(now_ms - since))


@dataclass(frozen=True, slots=True)
class Occupancy:
    pending: list[Row]
    active: list[Row]
    recent: list[Row]
    ended: int


async def all_sessions(kit: Kit, key: Key, location_id: int) -> list[ParkingSession]:
    out: list[ParkingSession] = []
    after = None
    for _ in range(MAX_PAGES):
        got = await kit.parking.sessions_of_location(key, location_id, after, MAX_LIST)
        out.extend(got)
        if len(got) < MAX_LIST:
            break
        after = got[-1].id
    return out


async def occupancy(kit: Kit, key: Key, location: Location, now_ms: int) -> Occupancy:
    pending, active, ended = [], [], []
    currency = location.currency
    for s in await all_sessions(kit, key, location.id):
        if s.end_ms is not None:
            ended.append(s)
        elif s.start_ms is not None:
            active.append(_row(s, core.cost(location, s.start_ms, now_ms), currency, now_ms))
        else:
            pending.append(_row(s, None, currency, now_ms))
    ended.sort(key=lambda s: s.end_ms or 0, reverse=True)
    return Occupancy(pending, active, [_row(s, s.cost, currency, now_ms) for s in ended[:RECENT]], len(ended))


async def locations(kit: Kit, request: Request) -> Response:
    who = await kit.gate.require(request)
    now = kit.now_ms()
    rows = [(loc, await occupancy(kit, who.key, loc, now)) for loc in await kit.parking.locations_of(who.key)]
    return kit.page(request, who, "parking/locations.html", "parking/_locations.html",
                    topics=(parking_locations_prefix(),), rows=rows)


def _number(raw: str, name: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise InvalidInput(f"a {name.replace('_', ' ')} is a number", name)
    return int(raw)


def _location_id(request: Request) -> int:
    return _number(request.path_params["location_id"], "location_id")


async def _one_row(kit: Kit, who: Operator, location_id: int, session_id: int) -> Response:
    """One session's row, for a live board's update. Every open board of the garage fetches the row
    a change names at once, so a rendering is shared: by the account, the row, what the key may do,
    the last published change and the second (the row's texts change by the second at most). A key is
    still authenticated per fetch (``Gate.require``); a change published since makes a new rendering."""
    published = kit.hub.last_seq
    now = kit.now_ms()
    key = (who.key.account_id, location_id, session_id, who.can_write, published, now // 1000)
    hit = kit.row_renders.get(key)
    if hit is not None:
        return HTMLResponse(hit, headers={"cache-control": "no-store"})
    location = await kit.parking.location(who.key, location_id)
    s = await kit.parking.session(who.key, location.id, session_id)
    running = core.cost(location, s.start_ms, now) if s.start_ms is not None and s.end_ms is None else s.cost
    response = kit.html("parking/_row.html", who=who, location=location, row=_row(s, running, location.currency, now))
    if kit.hub.last_seq == published:  # nothing changed while it was read: the rendering is the row's
        if len(kit.row_renders) >= MAX_ROW_RENDERS:
            kit.row_renders.clear()
        kit.row_renders[key] = bytes(response.body)
    return response


async def board(kit: Kit, request: Request) -> Response:
    who = await kit.gate.require(request)
    if request.query_params.get("part") == "row":
        return await _one_row(kit, who, _location_id(request),
                              _number(request.query_params.get("session", ""), "session"))
    location = await kit.parking.location(who.key, _location_id(request))
    occ = await occupancy(kit, who.key, location, kit.now_ms())
    return kit.page(request, who, "parking/board.html", "parking/_board.html",
                    topics=(parking_location_topic(location.id),), location=location, occ=occ)


async def scan(kit: Kit, request: Request) -> Response:
    who, fields = await kit.gate.form(request)
    location_id = _location_id(request)
    code = fields.get("barcode", "").strip()
    if not code or len(code) > 64:
        raise InvalidInput("scan or type a barcode", "barcode")
    direction = fields.get("direction", "")
    if direction not in ("entry", "exit"):
        raise InvalidInput("direction must be entry or exit", "direction")
    s = await kit.parking.scan(who.key, location_id, code, Event(direction))
    said = f"Session {s.id}: {'in' if direction == 'entry' else 'out'}"
    return done(request, f"{PREFIX}/parking/{location_id}", said)


async def end(kit: Kit, request: Request) -> Response:
    who, _ = await kit.gate.form(request)
    location_id = _location_id(request)
    s = await kit.parking.end_session(who.key, location_id, _number(request.path_params["session_id"], "session_id"))
    return done(request, f"{PREFIX}/parking/{location_id}", f"Session {s.id} ended")


async def ticket(kit: Kit, request: Request) -> Response:
    who, _ = await kit.gate.form(request)
    location_id = _location_id(request)
    user = core.user_for(who.key.account_id, "walk-in-" + secrets.token_hex(8))
    s = await kit.parking.create_session(who.key, location_id, bearer=None, user_id=user, barcode=True)
    return done(request, f"{PREFIX}/parking/{location_id}", f"Ticket {s.barcode} issued")
