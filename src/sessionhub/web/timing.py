"""Race timing pages: devices (last seen, sessions, passings) with their sessions; a session's live
board (the latest passings as they arrive, a per-bib table, a passings-per-second chart); the CSV
export of a session's passings; opening and closing sessions and binding a device.

Each action is the service call the RUFUS API makes (``bind_device``, ``open_session``,
``close_session``); the board reads the passings the API pages out (``passings_of_session``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from sessionhub.core.access import Key
from sessionhub.core.changes import timing_devices_prefix, timing_session_topic
from sessionhub.core.errors import InvalidInput, SessionsNotFound
from sessionhub.core.timing import PAGE_SIZE, StoredPassing, TimingSession
from sessionhub.web import chart, formats
from sessionhub.web.kit import PREFIX, Kit, done

MAX_BOARD_PAGES = 4
"""The board reads at most this many pages of PAGE_SIZE passings (the CSV reads them all)."""
LATEST = 40
CHART_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Bib:
    bib: str
    passings: int
    first_ms: int
    last_ms: int
    lap_ms: int | None
    """The time between its last two passings (None after one)."""


def per_bib(passings: list[StoredPassing]) -> list[Bib]:
    """One row per bib, by passings (most first), then by last passing (earliest first)."""
    seen: dict[str, list[int]] = {}
    for sp in passings:
        seen.setdefault(sp.passing.bib, []).append(sp.passing.ts_ms)
    rows = []
    for bib, times in seen.items():
        times.sort()
        rows.append(Bib(bib, len(times), times[0], times[-1], times[-1] - times[-2] if len(times) > 1 else None))
    rows.sort(key=lambda r: (-r.passings, r.last_ms))
    return rows


def path_token(request: Request) -> str:
    """The session token in the path (letters and digits). Raises InvalidInput."""
    token = str(request.path_params["token"])
    if not (0 < len(token) <= 128 and token.isascii() and token.isalnum()):
        raise InvalidInput("a session token is letters and digits", "token")
    return token


async def devices(kit: Kit, request: Request) -> Response:
    who = await kit.gate.require(request)
    found, total, _, _ = await kit.timing.devices(who.key, 1, 100)
    sessions: dict[str, list[TimingSession]] = {}
    today: dict[str, str] = {}
    midnight = formats.local_midnight_ms(kit.now_ms())
    for d in found:
        got = await kit.timing.passings_of_device(who.key, d.device.deviceid, midnight, None, 1)
        today[d.device.deviceid] = f"{len(got):,}" + ("+" if len(got) >= PAGE_SIZE else "")
        try:
            sessions[d.device.deviceid] = (await kit.timing.sessions_of_device(who.key, d.device.deviceid))[:10]
        except SessionsNotFound:
            sessions[d.device.deviceid] = []
    return kit.page(request, who, "timing/devices.html", "timing/_devices.html", topics=(timing_devices_prefix(),),
                    devices=found, total=total, sessions=sessions, today=today)


async def read_passings(kit: Kit, key: Key, token: str, pages: int | None) -> AsyncIterator[list[StoredPassing]]:
    page = 1
    while pages is None or page <= pages:
        got = await kit.timing.passings_of_session(key, token, None, None, page)
        yield got
        if len(got) < PAGE_SIZE:
            return
        page += 1


async def board(kit: Kit, request: Request) -> Response:
    who = await kit.gate.require(request)
    token = path_token(request)
    session = await kit.timing.session(who.key, token)
    passings: list[StoredPassing] = []
    async for got in read_passings(kit, who.key, token, MAX_BOARD_PAGES):
        passings.extend(got)
    latest = sorted(passings, key=lambda sp: (sp.passing.ts_ms, sp.passing.num_passing))[-LATEST:][::-1]
    end = max(session.last_ms or 0, kit.now_ms()) if session.active else (session.last_ms or kit.now_ms())
    bars = chart.bars((sp.passing.ts_ms for sp in passings), end, CHART_SECONDS)
    return kit.page(request, who, "timing/board.html", "timing/_board.html", topics=(timing_session_topic(token),),
                    session=session, latest=latest, bibs=per_bib(passings), chart=chart.svg(bars), bars=bars,
                    truncated=len(passings) >= MAX_BOARD_PAGES * PAGE_SIZE)


async def export(kit: Kit, request: Request) -> Response:
    who = await kit.gate.require(request)
    token = path_token(request)
    await kit.timing.session(who.key, token)

    async def rows() -> AsyncIterator[str]:
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["num_passing", "bib", "timestamp", "chip", "participant_id", "status", "deviceid"])
        async for got in read_passings(kit, who.key, token, None):
            for sp in got:
                p = sp.passing
                w.writerow([p.num_passing, p.bib, formats.iso(p.ts_ms), p.chip or "", p.participant_id or "",
                            p.status or "", sp.deviceid])
            yield out.getvalue()
            out.seek(0)
            out.truncate()

    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="passings-{token[:12]}.csv"', "cache-control": "no-store"})


async def open_session(kit: Kit, request: Request) -> Response:
    who, fields = await kit.gate.form(request)
    deviceid = request.path_params["deviceid"]
    token = await kit.timing.open_session(who.key, deviceid, fields.get("alias", "").strip() or None)
    return done(request, f"{PREFIX}/timing/{token}", f"Session {token[:8]} opened")


async def close_session(kit: Kit, request: Request) -> Response:
    who, _ = await kit.gate.form(request)
    token = path_token(request)
    await kit.timing.close_session(who.key, token)
    return done(request, f"{PREFIX}/timing/{token}", "Session closed")


async def bind(kit: Kit, request: Request) -> Response:
    who, fields = await kit.gate.form(request)
    await kit.timing.bind_device(who.key, model=fields.get("model", "").strip(),
                                 serial_number=fields.get("serial_number", "").strip(), type="CUSTOM",
                                 alias=fields.get("alias", "").strip() or None, firmware=None)
    return done(request, f"{PREFIX}/timing", "Device bound")
