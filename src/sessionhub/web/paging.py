"""The host stand (paging): the waitlist with each party's wait against its goal (overdue shown
plainly), adding a party, one-click page / clear / remove, history, statistics and settings.

The LRS station has no keys (its CoAP adapter is locked by network); here the signed-in key's
account is the station, its access type decides (WRITE to act, the unbind flag to delete the
history), and every action is the same ``PagingService`` call the CoAP dialect makes, so a CoAP
Observe client of that station sees it at once. Station times are station-local (core.paging);
the page converts them to UTC for its ticking clocks with the station's clock offset.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from sessionhub.core import paging as core
from sessionhub.core.access import Operation, authorize
from sessionhub.core.changes import paging_prefix
from sessionhub.core.errors import InvalidInput
from sessionhub.core.paging import Action, Fields
from sessionhub.web.kit import PREFIX, Kit, done, int_field

HISTORY = 30
HERE = f"{PREFIX}/paging"


def _free_number(taken: set[int]) -> int:
    return next((n for n in range(core.NUMBER_MIN, core.NUMBER_MAX + 1) if n not in taken), core.NUMBER_MIN)


async def stand(kit: Kit, request: Request) -> Response:
    who = await kit.gate.require(request)
    account = who.key.account_id
    active = await kit.paging.active_sessions(account)
    station = active.station
    now = kit.now_ms()
    local = core.local_now(station, now)
    history = (await kit.paging.history(account)).sessions[-HISTORY:][::-1]
    parties = sorted(active.sessions, key=lambda s: s.created_ms)
    return kit.page(request, who, "paging/stand.html", "paging/_stand.html", topics=(paging_prefix(),),
                    station=station, parties=parties, history=history, local=local,
                    offset=station.clock_offset_ms, stats=core.statistics(station, local),
                    next_number=_free_number({s.number for s in parties}), modes=core.PAGE_MODES,
                    overdue=sum(1 for s in parties if s.state is core.State.STARTED
                                and local - s.created_ms > s.goal_s * 1000))


async def add(kit: Kit, request: Request) -> Response:
    who, f = await kit.gate.form(request)
    station = await kit.paging.station(who.key.account_id)
    number = int_field(f, "number", core.NUMBER_MIN, core.NUMBER_MAX)
    goal_min = int_field(f, "goal_minutes", 1, core.GOAL_MAX // 60, max(1, station.settings.default_goal_s // 60))
    size = int_field(f, "party_size", core.PARTY_MIN, core.PARTY_MAX, 2)
    label = f.get("label", "").strip() or None
    if label is not None and len(label) > core.LABEL_MAX:
        raise InvalidInput(f"a name has at most {core.LABEL_MAX} characters", "label")
    await kit.paging.open_session(who.key.account_id, number, Fields(goal_s=goal_min * 60, label=label,
                                                                     party_size=size), None, None)
    return done(request, HERE, f"Pager {number}: {label or 'party'} of {size}")


async def act(kit: Kit, request: Request) -> Response:
    who, f = await kit.gate.form(request)
    number = int_field(dict(request.path_params), "number", core.NUMBER_MIN, core.NUMBER_MAX)
    action = core.check_action(request.path_params["action"])
    assert action is not None
    mode = f.get("page_mode") or None
    await kit.paging.update_session(who.key.account_id, number, Fields(), action, mode)
    said = {Action.PAGE: "paged", Action.CLEAR: "seated (cleared)", Action.REMOVE: "removed"}[action]
    return done(request, HERE, f"Pager {number} {said}")


async def settings(kit: Kit, request: Request) -> Response:
    who, f = await kit.gate.form(request)
    await kit.paging.update_settings(
        who.key.account_id, datetime_ms=None,
        system_id=int_field(f, "system_id", 0, core.SYSTEM_ID_MAX) if f.get("system_id") else None,
        default_goal_s=int_field(f, "default_goal_minutes", 1, core.GOAL_MAX // 60) * 60
        if f.get("default_goal_minutes") else None,
        stats_clear_mark=int_field(f, "stats_clear_mark", 0, core.CLEAR_MARK_NEVER)
        if f.get("stats_clear_mark") else None)
    return done(request, HERE, "Settings saved")


async def reset_statistics(kit: Kit, request: Request) -> Response:
    who, _ = await kit.gate.form(request)
    await kit.paging.reset_statistics(who.key.account_id)
    return done(request, HERE, "Statistics reset")


async def clear_history(kit: Kit, request: Request) -> Response:
    who, _ = await kit.gate.form(request, Operation.DELETE)
    authorize(who.key, Operation.DELETE)
    await kit.paging.delete_history(who.key.account_id)
    return done(request, HERE, "History deleted")
