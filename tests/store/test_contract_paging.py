"""The store contract, guest paging: stations, sessions (active and history), pages and event
snapshots, on every engine (the ``store`` fixture of tests/store/conftest.py; see test_contract.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sessionhub.core.paging import (
    ClearType,
    Counters,
    GuestSession,
    Page,
    State,
    Station,
    StationEvent,
    StationSettings,
)
from sessionhub.store.paging import EVENTS_KEPT, HISTORY_KEPT

Store = Any


async def _account(store: Store, name: str = "acme") -> int:
    async with store.unit_of_work() as uow:
        account_id: int = await uow.accounts.ensure_account(name, False, 1_000)
    return account_id


def _station(account_id: int, global_seq: int = 0) -> Station:
    return Station(account_id, global_seq, 1, -3_600_000, StationSettings(7, 600, 3), Counters(5_000, 2, 1, 1, 90))


def _guest(sid: int, number: int, state: State = State.STARTED, **fields: Any) -> GuestSession:
    return GuestSession(sid, f"uuid-{sid}", number, 4, 900, f"table {number}", state, 10_000 + sid, **fields)


async def test_a_station_is_saved_whole_and_overwritten(store: Store) -> None:
    acme, rival = await _account(store), await _account(store, "rival")
    assert await store.reads.paging.station(acme) is None
    async with store.unit_of_work() as uow:
        assert await uow.paging.station(acme) is None
        await uow.paging.save_station(_station(acme), 3)
    assert await store.reads.paging.station(acme) == _station(acme)
    assert await store.reads.paging.station(rival) is None
    changed = Station(acme, 9, 4, 7_200_000, StationSettings(8, 300, 0), Counters(6_000, 3, 2, 0, 100))
    async with store.unit_of_work() as uow:
        await uow.paging.save_station(changed, 4)
    assert await store.reads.paging.station(acme) == changed


async def test_sessions_are_active_until_cleared_then_history(store: Store) -> None:
    acme, rival = await _account(store), await _account(store, "rival")
    async with store.unit_of_work() as uow:
        await uow.paging.save_station(_station(acme), 1)
        await uow.paging.save_session(acme, _guest(1, 12))
        await uow.paging.save_session(acme, _guest(2, 13, page_mode="VIBRATE"))
        await uow.paging.save_session(rival, _guest(1, 12))
    paging = store.reads.paging
    assert await paging.active(acme, 12) == _guest(1, 12)
    assert await paging.active(acme, 99) is None
    assert await paging.active_all(acme) == [_guest(1, 12), _guest(2, 13, page_mode="VIBRATE")]
    assert await paging.history(acme) == []

    paged = replace(_guest(1, 12), state=State.PAGED, notified_ms=20_000, session_seq=5, label=None)
    cleared = replace(_guest(2, 13), state=State.CLEARED, cleared_ms=30_000, clear_type=ClearType.REMOVED)
    async with store.unit_of_work() as uow:
        await uow.paging.save_session(acme, paged)  # an overwrite of (account, id)
        await uow.paging.save_session(acme, cleared)
    assert await paging.active_all(acme) == [paged]
    assert await paging.active(acme, 13) is None
    assert await paging.history(acme) == [cleared]
    assert await paging.active_all(rival) == [_guest(1, 12)]
    async with store.unit_of_work() as uow:
        assert await uow.paging.delete_history(acme) == 1
    assert await paging.history(acme) == [] and await paging.active_all(acme) == [paged]


async def test_one_active_session_per_number_is_enforced_by_the_schema(store: Store) -> None:
    acme = await _account(store)
    async with store.unit_of_work() as uow:
        await uow.paging.save_session(acme, _guest(1, 12))
    with pytest.raises(Exception):  # noqa: B017 - whatever the service checked
        async with store.unit_of_work() as uow:
            await uow.paging.save_session(acme, _guest(2, 12))
    assert await store.reads.paging.active_all(acme) == [_guest(1, 12)]


async def test_history_keeps_the_latest_finished_sessions(store: Store) -> None:
    acme = await _account(store)
    total = HISTORY_KEPT + 3
    async with store.unit_of_work() as uow:
        for sid in range(1, total + 1):
            await uow.paging.save_session(acme, _guest(sid, 1 + sid % 9000, State.CLEARED, cleared_ms=sid,
                                                       clear_type=ClearType.STOP))
    history = await store.reads.paging.history(acme)
    assert len(history) == HISTORY_KEPT
    assert [s.id for s in history] == list(range(total - HISTORY_KEPT + 1, total + 1))


async def test_pages_are_read_newest_first(store: Store) -> None:
    acme, rival = await _account(store), await _account(store, "rival")
    async with store.unit_of_work() as uow:
        for n in range(1, 6):
            await uow.paging.add_page(acme, Page(n, "BEEP", 7, None if n % 2 else f"m{n}", 1_000 + n, n))
        await uow.paging.add_page(rival, Page(1, "BEEP", 0, None, 5, None))
    pages = await store.reads.paging.pages(acme)
    assert [p.number for p in pages] == [5, 4, 3, 2, 1]
    assert pages[1] == Page(4, "BEEP", 7, "m4", 1_004, 4)
    assert [p.number for p in await store.reads.paging.pages(acme, limit=2)] == [5, 4]
    assert await store.reads.paging.pages(rival) == [Page(1, "BEEP", 0, None, 5, None)]


async def test_event_snapshots_round_trip_and_are_pruned(store: Store) -> None:
    acme = await _account(store)
    first = StationEvent("session", _station(acme, 1), 40_000, _guest(1, 12, session_seq=1))
    settings = StationEvent("settings", _station(acme, 2), 41_000)
    async with store.unit_of_work() as uow:
        await uow.paging.add_event(10, first)
        await uow.paging.add_event(11, settings)
    assert await store.reads.paging.event(10) == first
    assert await store.reads.paging.event(11) == settings
    assert await store.reads.paging.event(12) is None
    async with store.unit_of_work() as uow:
        await uow.paging.add_event(10 + EVENTS_KEPT, settings)  # seq 10 is now EVENTS_KEPT changes old
    assert await store.reads.paging.event(10) is None
    assert await store.reads.paging.event(11) == settings
