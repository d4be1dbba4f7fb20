"""Share links in the console: an operator makes, lists and revokes the links of one object; anyone
holding a link sees that object's live view, phone-sized, without signing in.

Views for the holder (no cookie, no key; the token in the path is the only credential):
    GET /console/s/{token}          "your parking stay" / "your race" / "your table", by the link's kind
    GET /console/s/{token}/events   its one object's changes (the console's change stream, web/events.py),
                                    ended when the link is revoked
Views for the operator (signed in; WRITE to make or revoke, CSRF on every form):
    POST /console/share/parking (form: session) | /share/timing/{token} (form: bib) | /share/paging/{number}
    GET  /console/share?kind=K&ref=R   the object's links;  POST /console/share/{id}/revoke

A link is shown whole only on the page that made it (only its hash is kept). Each view is one
``ShareService`` call; which object a token opens is the stored share's, never the request's.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from sessionhub.core import paging as paging_core
from sessionhub.core import shares as core
from sessionhub.core.errors import InvalidInput
from sessionhub.core.shares import Kind, Share
from sessionhub.web.events import ChangeStream, parse_since
from sessionhub.web.kit import PREFIX, Kit, done, int_field
from sessionhub.web.timing import path_token

_TITLES = {Kind.PARKING: "Parking stay", Kind.TIMING: "Race", Kind.PAGING: "Table"}


def _link(request: Request, token: str) -> str:
    return f"{request.base_url.scheme}://{request.base_url.netloc}{PREFIX}/s/{token}"


def _object_page(kind: Kind, ref: str) -> str:
    return f"{PREFIX}/share?" + urlencode({"kind": kind.value, "ref": ref})


def _describe(kind: Kind, ref: str) -> str:
    if kind is Kind.PARKING:
        return f"parking session {ref}"
    if kind is Kind.TIMING:
        token, bib = core.parse_timing(ref)
        return f"bib {bib} in timing session {token}"
    _, number, station = core.parse_paging(ref)
    return f"the party on pager {number}" + ("" if station == paging_core.DEFAULT_STATION else f" of station {station}")


# the operator's side -----------------------------------------------------------------------------

async def _made(kit: Kit, request: Request, made: tuple[str, Share]) -> Response:
    who = await kit.gate.require(request)
    raw, share = made
    links = await kit.shares.shares_of(who.key, share.kind, share.ref)
    return kit.page(request, who, "share/links.html", kind=share.kind, ref=share.ref, title=_TITLES[share.kind],
                    what=_describe(share.kind, share.ref), links=links, new_link=_link(request, raw),
                    new_id=share.id)


async def share_parking(kit: Kit, request: Request) -> Response:
    who, f = await kit.gate.form(request)
    session_id = int_field(f, "session", 1, 2**62)
    return await _made(kit, request, await kit.shares.share_parking(who.key, session_id))


async def share_timing(kit: Kit, request: Request) -> Response:
    who, f = await kit.gate.form(request)
    return await _made(kit, request, await kit.shares.share_bib(who.key, path_token(request),
                                                                f.get("bib", "").strip()))


async def share_paging(kit: Kit, request: Request) -> Response:
    who, _ = await kit.gate.form(request)
    number = int_field(dict(request.path_params), "number", paging_core.NUMBER_MIN, paging_core.NUMBER_MAX)
    return await _made(kit, request, await kit.shares.share_table(who.key, number))


async def links(kit: Kit, request: Request) -> Response:
    who = await kit.gate.require(request)
    kind = core.parse_kind(request.query_params.get("kind", ""))
    ref = request.query_params.get("ref", "")
    if not 0 < len(ref) <= 200:
        raise InvalidInput("name the object: ref=...", "ref")
    return kit.page(request, who, "share/links.html", kind=kind, ref=ref, title=_TITLES[kind],
                    what=_describe(kind, ref), links=await kit.shares.shares_of(who.key, kind, ref), new_link=None,
                    new_id=None)


async def revoke(kit: Kit, request: Request) -> Response:
    who, f = await kit.gate.form(request)
    share_id = int_field(dict(request.path_params), "share_id", 1, 2**62)
    await kit.shares.revoke(who.key, share_id)
    kind = core.parse_kind(f.get("kind", ""))
    return done(request, _object_page(kind, f.get("ref", "")[:200]), f"Link {share_id} revoked")


# the holder's side -------------------------------------------------------------------------------

def _token(request: Request) -> str:
    return core.check_token(str(request.path_params["token"]))


async def view(kit: Kit, request: Request) -> Response:
    token = _token(request)
    share = await kit.shares.resolve(token)
    ctx: dict[str, object] = {"events": f"{PREFIX}/s/{token}/events"}
    if share.kind is Kind.PARKING:
        stay = await kit.shares.stay(token)
        return kit.page(request, None, "share/stay.html", "share/_stay.html", stay=stay, **ctx)
    if share.kind is Kind.TIMING:
        race = await kit.shares.race(token)
        ps = race.passings
        rows = [(p, p.ts_ms - ps[i - 1].ts_ms if i else None) for i, p in enumerate(ps)][::-1]  # newest first
        return kit.page(request, None, "share/race.html", "share/_race.html", race=race, rows=rows, **ctx)
    table = await kit.shares.table(token)
    offset = table.station.clock_offset_ms if table.station is not None else 0
    return kit.page(request, None, "share/table.html", "share/_table.html", table=table, offset=offset,
                    local=kit.now_ms() + offset, **ctx)


async def events(kit: Kit, request: Request) -> Response:
    share = await kit.shares.resolve(_token(request))
    since = parse_since(request.headers.get("last-event-id") or request.query_params.get("since"))

    async def link_live() -> bool:
        return await kit.shares.still_live(share.id)

    return ChangeStream(kit.hub, share.account_id, (core.topic(share),), since, link_live)
