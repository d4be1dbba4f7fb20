"""The store contract, guest paging: stations, sessions (active and history) and pages, on every
engine (the ``store`` fixture of tests/store/conftest.py; see test_contract.py). A paging change's
snapshot is the change log's ``data``, as in every domain (test_contract.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sessionhub.core.paging import (
    DEFAULT_STATION,
    ClearType,
    Counters,
    GuestSession,
    Page,
    State,
    Station,
    StationSettings,
)
from sessionhub.store.paging import HISTORY_KEPT

D = DEFAULT_STATION

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
    assert await store.reads.paging.station(acme, station=D) is None
    async with store.unit_of_work() as uow:
        assert await uow.paging.station(acme, station=D) is None
        await uow.paging.save_station(_station(acme), 3)
    assert await store.reads.paging.station(acme, station=D) == _station(acme)
    assert await store.reads.paging.station(rival, station=D) is None
    changed = Station(acme, 9, 4, 7_200_000, StationSettings(8, 300, 0), Counters(6_000, 3, 2, 0, 100))
    async with store.unit_of_work() as uow:
        await uow.paging.save_station(changed, 4)
    assert await store.reads.paging.station(acme, station=D) == changed


async def test_sessions_are_active_until_cleared_then_history(store: Store) -> None:
    acme, rival = await _account(store), await _account(store, "rival")
    async with store.unit_of_work() as uow:
        await uow.paging.save_station(_station(acme), 1)
        await uow.paging.save_session(acme, _guest(1, 12), station=D)
        await uow.paging.save_session(acme, _guest(2, 13, page_mode="VIBRATE"), station=D)
        await uow.paging.save_session(rival, _guest(1, 12), station=D)
    paging = store.reads.paging
    assert await paging.active(acme, 12, station=D) == _guest(1, 12)
    assert await paging.active(acme, 99, station=D) is None
    assert await paging.active_all(acme, station=D) == [_guest(1, 12), _guest(2, 13, page_mode="VIBRATE")]
    assert await paging.history(acme, station=D) == []

    paged = replace(_guest(1, 12), state=State.PAGED, notified_ms=20_000, session_seq=5, label=None)
    cleared = replace(_guest(2, 13), state=State.CLEARED, cleared_ms=30_000, clear_type=ClearType.REMOVED)
    async with store.unit_of_work() as uow:
        await uow.paging.save_session(acme, paged, station=D)  # an overwrite of (account, id)
        await uow.paging.save_session(acme, cleared, station=D)
    assert await paging.active_all(acme, station=D) == [paged]
    assert await paging.active(acme, 13, station=D) is None
    assert await paging.history(acme, station=D) == [cleared]
    assert await paging.active_all(rival, station=D) == [_guest(1, 12)]
    async with store.unit_of_work() as uow:
        assert await uow.paging.delete_history(acme, station=D) == 1
    assert await paging.history(acme, station=D) == [] and await paging.active_all(acme, station=D) == [paged]


async def test_one_active_session_per_number_is_enforced_by_the_schema(store: Store) -> None:
    acme = await _account(store)
    async with store.unit_of_work() as uow:
        await uow.paging.save_session(acme, _guest(1, 12), station=D)
    with pytest.raises(Exception):  # noqa: B017 - whatever the service checked
        async with store.unit_of_work() as uow:
            await uow.paging.save_session(acme, _guest(2, 12), station=D)
    assert await store.reads.paging.active_all(acme, station=D) == [_guest(1, 12)]


async def test_history_keeps_the_latest_finished_sessions(store: Store) -> None:
    acme = await _account(store)
    total = HISTORY_KEPT + 3
    async with store.unit_of_work() as uow:
        for sid in range(1, total + 1):
            await uow.paging.save_session(acme, _guest(sid, 1 + sid % 9000, State.CLEARED, cleared_ms=sid,
                                                       clear_type=ClearType.STOP), station=D)
    history = await store.reads.paging.history(acme, station=D)
    assert len(history) == HISTORY_KEPT
    assert [s.id for s in history] == list(range(total - HISTORY_KEPT + 1, total + 1))


async def test_pages_are_read_newest_first(store: Store) -> None:
    acme, rival = await _account(store), await _account(store, "rival")
    async with store.unit_of_work() as uow:
        for n in range(1, 6):
            page = Page(n, "BEEP", 7, None if n % 2 else f"m{n}", 1_000 + n, n)
            await uow.paging.add_page(acme, page, station=D)
        await uow.paging.add_page(rival, Page(1, "BEEP", 0, None, 5, None), station=D)
    pages = await store.reads.paging.pages(acme, station=D)
    assert [p.number for p in pages] == [5, 4, 3, 2, 1]
    assert pages[1] == Page(4, "BEEP", 7, "m4", 1_004, 4)
    assert [p.number for p in await store.reads.paging.pages(acme, limit=2, station=D)] == [5, 4]
    assert await store.reads.paging.pages(rival, station=D) == [Page(1, "BEEP", 0, None, 5, None)]


# several stations per account (migration 0007) ---------------------------------------------------


async def test_stations_of_one_account_are_keyed_apart(store: Store) -> None:
    acme = await _account(store)
    north, south = replace(_station(acme), name="north"), replace(_station(acme, 5), name="south", next_id=9)
    async with store.unit_of_work() as uow:
        await uow.paging.save_station(south, 1)
        await uow.paging.save_station(north, 2)
        # the same session id and the same pager number, active on both stations at once
        await uow.paging.save_session(acme, _guest(1, 12), station="north")
        await uow.paging.save_session(acme, replace(_guest(1, 12), label="south"), station="south")
        await uow.paging.add_page(acme, Page(12, "BEEP", 7, "north", 1, 1), station="north")
    paging = store.reads.paging
    assert await paging.station(acme, station="north") == north
    assert await paging.station(acme, station="south") == south
    assert await paging.station(acme, station=D) is None
    assert [s.name for s in await paging.stations(acme)] == ["north", "south"]
    assert await paging.active(acme, 12, station="south") == replace(_guest(1, 12), label="south")
    assert await paging.active_all(acme, station="north") == [_guest(1, 12)]
    assert await paging.pages(acme, station="south") == []
    assert [p.message for p in await paging.pages(acme, station="north")] == ["north"]

    cleared = replace(_guest(1, 12), state=State.CLEARED, cleared_ms=30_000, clear_type=ClearType.STOP)
    async with store.unit_of_work() as uow:
        await uow.paging.save_session(acme, cleared, station="north")  # an overwrite of north's id 1 only
        await uow.paging.save_session(acme, _guest(2, 12), station="north")  # pager 12 is free on north again
    assert await paging.history(acme, station="north") == [cleared]
    assert await paging.history(acme, station="south") == []
    assert await paging.active_all(acme, station="south") == [replace(_guest(1, 12), label="south")]
    async with store.unit_of_work() as uow:
        assert await uow.paging.delete_history(acme, station="south") == 0
        assert await uow.paging.delete_history(acme, station="north") == 1
    assert await paging.active_all(acme, station="north") == [_guest(2, 12)]


async def test_one_active_session_per_number_is_per_station(store: Store) -> None:
    acme = await _account(store)
    async with store.unit_of_work() as uow:
        await uow.paging.save_session(acme, _guest(1, 12), station="north")
        await uow.paging.save_session(acme, _guest(2, 12), station="south")
    with pytest.raises(Exception):  # noqa: B017 - whatever the service checked
        async with store.unit_of_work() as uow:
            await uow.paging.save_session(acme, _guest(3, 12), station="north")
    assert await store.reads.paging.active_all(acme, station="north") == [_guest(1, 12)]


async def test_history_is_trimmed_per_station(store: Store) -> None:
    acme = await _account(store)
    async with store.unit_of_work() as uow:
        await uow.paging.save_session(acme, _guest(1, 1, State.CLEARED, cleared_ms=1), station="south")
        for sid in range(1, HISTORY_KEPT + 2):
            await uow.paging.save_session(acme, _guest(sid, 1 + sid % 9000, State.CLEARED, cleared_ms=sid),
                                          station="north")
    assert len(await store.reads.paging.history(acme, station="north")) == HISTORY_KEPT
    assert [s.id for s in await store.reads.paging.history(acme, station="south")] == [1]
