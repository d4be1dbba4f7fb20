"""Admin pages: an admin key manages its own account — keys (issue, shown once; list; revoke),
locations (create; change rates) and the paging stations (what serves them, their settings).

Each view is one service call the CLI makes too, through the admin methods that authorize
``Operation.ADMIN`` (``AccessService.issue_key / keys_of / revoke_key_id``, ``ParkingService.add_location
/ set_rates``); a key without the flag is refused there (403, the console's error page), and the
navigation offers these pages only to an admin. Every form carries the CSRF token (``Gate.form``).

A new key is shown once, on the page the create form posts to (never a redirect, never a URL,
``cache-control: no-store``); the console keeps only what the store keeps, its hash.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sessionhub.core import paging as paging_core
from sessionhub.core.access import Access, Operation
from sessionhub.core.errors import InvalidInput
from sessionhub.web.kit import PREFIX, Kit, done, int_field

HERE = f"{PREFIX}/admin"


def money_field(fields: Mapping[str, str], name: str, optional: bool = False) -> int | None:
    """An amount typed as ``3.50`` (or ``3``) as minor units. Raises InvalidInput naming the field."""
    raw = fields.get(name, "").strip()
    if not raw and optional:
        return None
    whole, dot, cents = raw.partition(".")
    if (not whole.isascii() or not whole.isdigit() or len(whole) > 9 or (dot and not (
            cents.isascii() and cents.isdigit() and 1 <= len(cents) <= 2))):
        raise InvalidInput(f"{name.replace('_', ' ')} is an amount such as 3.50", name)
    return int(whole) * 100 + (int(cents.ljust(2, "0")) if dot else 0)  # the bounds are core.parking's


def coordinate_field(fields: Mapping[str, str], name: str) -> float | None:
    """An optional decimal degree (``52.37``); its range is core.parking's. Raises InvalidInput."""
    raw = fields.get(name, "").strip()
    if not raw:
        return None
    if len(raw) > 16 or not raw.isascii() or not raw.lstrip("-").replace(".", "", 1).isdigit():
        raise InvalidInput(f"{name} is a number of degrees such as 52.37", name)
    return float(raw)


def _checked(fields: Mapping[str, str], name: str) -> bool:
    return fields.get(name, "") in ("1", "on", "true")


async def index(kit: Kit, request: Request) -> Response:
    await kit.gate.require(request, Operation.ADMIN)
    return RedirectResponse(f"{HERE}/keys", 303)


# keys --------------------------------------------------------------------------------------------

async def keys(kit: Kit, request: Request) -> Response:
    who = await kit.gate.require(request, Operation.ADMIN)
    listed = await kit.access.keys_of(who.key)
    return kit.page(request, who, "admin/keys.html", keys=listed, accesses=[a.value for a in Access])


async def create_key(kit: Kit, request: Request) -> Response:
    who, f = await kit.gate.form(request, Operation.ADMIN)
    alias = f.get("alias", "").strip()
    raw = await kit.access.issue_key(who.key, f.get("access", ""), _checked(f, "unbind"), alias, _checked(f, "admin"))
    return kit.page(request, who, "admin/key_created.html", raw=raw, alias=alias, access=f.get("access", ""),
                    unbind=_checked(f, "unbind"), admin=_checked(f, "admin"))


async def revoke_key(kit: Kit, request: Request) -> Response:
    who, _ = await kit.gate.form(request, Operation.ADMIN)
    key_id = int_field(dict(request.path_params), "key_id", 1, 2**62)
    await kit.access.revoke_key_id(who.key, key_id)
    return done(request, f"{HERE}/keys", f"Key {key_id} revoked")


# locations ---------------------------------------------------------------------------------------

async def locations(kit: Kit, request: Request) -> Response:
    who = await kit.gate.require(request, Operation.ADMIN)
    return kit.page(request, who, "admin/locations.html", locations=await kit.parking.locations_of(who.key))


def _rates(f: Mapping[str, str]) -> tuple[int, int, int | None]:
    rate = money_field(f, "rate")
    assert rate is not None
    return rate, int_field(f, "increment_minutes", 1, 1440, 15), money_field(f, "daily_max", optional=True)


async def create_location(kit: Kit, request: Request) -> Response:
    who, f = await kit.gate.form(request, Operation.ADMIN)
    rate, increment, daily_max = _rates(f)
    name = f.get("name", "")
    loc_id = await kit.parking.add_location(who.key, name, rate, f.get("currency", "").strip().upper(), increment,
                                            daily_max, _checked(f, "gated"), coordinate_field(f, "latitude"),
                                            coordinate_field(f, "longitude"))
    return done(request, f"{HERE}/locations", f"Location {loc_id} ({name.strip()}) created")


async def set_rates(kit: Kit, request: Request) -> Response:
    who, f = await kit.gate.form(request, Operation.ADMIN)
    location_id = int_field(dict(request.path_params), "location_id", 1, 2**62)
    rate, increment, daily_max = _rates(f)
    loc = await kit.parking.set_rates(who.key, location_id, rate, increment, daily_max)
    return done(request, f"{HERE}/locations", f"{loc.name}: new rates saved")


# stations ----------------------------------------------------------------------------------------

async def stations(kit: Kit, request: Request) -> Response:
    who = await kit.gate.require(request, Operation.ADMIN)
    account = who.key.account_id
    served: dict[str, list[str]] = {}
    for host, port, acc, name in kit.stations():
        if acc == account:
            served.setdefault(name, []).append(f"{host}:{port}")
    now = kit.now_ms()
    rows = []
    for name in sorted({paging_core.DEFAULT_STATION, *served}):
        active = await kit.paging.active_sessions(account, station=name)
        local = paging_core.local_now(active.station, now)
        rows.append((name, active.station, served.get(name, []), len(active.sessions), local,
                     paging_core.statistics(active.station, local)))
    return kit.page(request, who, "admin/stations.html", rows=rows)
