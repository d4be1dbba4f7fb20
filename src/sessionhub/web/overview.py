"""The overview: the account at a glance, live (parking occupancy, open timing sessions with their
passings per minute, the host stand's waiting parties and longest wait)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from sessionhub.core import paging as paging_core
from sessionhub.core.access import Key
from sessionhub.core.changes import paging_prefix, parking_locations_prefix, timing_devices_prefix
from sessionhub.core.errors import SessionsNotFound
from sessionhub.core.parking import Location
from sessionhub.core.timing import DeviceStats, TimingSession
from sessionhub.web.kit import Kit
from sessionhub.web.parking import Occupancy, occupancy

TOPICS = (parking_locations_prefix(), timing_devices_prefix(), paging_prefix())
MAX_DEVICES = 50


@dataclass(frozen=True, slots=True)
class OpenSession:
    device: DeviceStats
    session: TimingSession
    per_minute: int


async def open_sessions(kit: Kit, key: Key) -> list[OpenSession]:
    """Each device's active session with the passings it timed in the last minute."""
    devices, _, _, _ = await kit.timing.devices(key, 1, MAX_DEVICES)
    now = kit.now_ms()
    out = []
    for d in devices:
        try:
            active = await kit.timing.active_session(key, d.device.deviceid)
        except SessionsNotFound:
            continue
        recent = await kit.timing.passings_of_device(key, d.device.deviceid, now - 60_000, None, 1)
        out.append(OpenSession(d, active, sum(1 for p in recent if p.token_session == active.token)))
    return out


async def locations(kit: Kit, key: Key) -> list[tuple[Location, Occupancy]]:
    return [(loc, await occupancy(kit, key, loc, kit.now_ms())) for loc in await kit.parking.locations_of(key)]


async def overview(kit: Kit, request: Request) -> Response:
    who = await kit.gate.require(request)
    sessions = (await kit.paging.active_sessions(who.key.account_id))
    local = paging_core.local_now(sessions.station, kit.now_ms())
    waiting = [s for s in sessions.sessions if s.state is paging_core.State.STARTED]
    longest = max((local - s.created_ms for s in waiting), default=None)
    return kit.page(request, who, "overview.html", "_overview.html", topics=TOPICS,
                    locations=await locations(kit, who.key), timing=await open_sessions(kit, who.key),
                    parties=len(sessions.sessions), waiting=len(waiting), longest_ms=longest,
                    overdue=sum(1 for s in waiting if local - s.created_ms > s.goal_s * 1000))
