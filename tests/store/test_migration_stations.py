"""Migrations 0007 (several paging stations per account) and 0008 (one snapshot mechanism) on a
database made by the version-6 schema: what one station per account held is the station "default"
afterwards, and paging_events' snapshots are their changes' data, on both engines.

The old rows are written as the version-6 schema had them (its SQL, through the Db seam: the
repositories of this build speak version 7), then the store is migrated to the latest version
and read through the repositories.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sessionhub.core.changes import parse_paging_topic
from sessionhub.core.paging import (
    DEFAULT_STATION,
    ClearType,
    Counters,
    GuestSession,
    Page,
    State,
    Station,
    StationEvent,
    StationSettings,
)
from sessionhub.service import snapshots
from sessionhub.store import migrations
from sessionhub.store.sqlite import SqliteStore
from tests import pg

OLD = 6
Opener = Callable[[], Any]


@pytest.fixture(params=["sqlite", "postgres"])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    """``await opener()``: the store at its latest schema (first call: at the version-6 schema)."""
    opened: list[Any] = []

    async def sqlite_open() -> Any:
        store = SqliteStore(str(tmp_path / "old.db"))
        store.open(migrate=True)
        opened.append(store)
        return store

    if request.param == "sqlite":
        yield sqlite_open
        for store in opened:
            store.close()
        return
    async with pg.fresh_schema("mig") as url:
        from sessionhub.store.postgres import PostgresStore

        async def pg_open() -> Any:
            store = PostgresStore(url)
            await store.apply_migrations()
            await store.start()
            opened.append(store)
            return store

        yield pg_open
        for store in opened:
            await store.stop()


async def _close(store: Any) -> None:
    if isinstance(store, SqliteStore):
        store.close()
    else:
        await store.stop()


def _without_station_name(event: StationEvent) -> bytes:
    """A snapshot as version 6 wrote it: its station had no name."""
    doc = msgspec.json.decode(msgspec.json.encode(event))
    del doc["station"]["name"]
    return msgspec.json.encode(doc)


async def test_one_station_per_account_becomes_the_default_station(
    opener: Opener, monkeypatch: pytest.MonkeyPatch,
) -> None:
    everything = migrations.migrations
    monkeypatch.setattr(migrations, "migrations", lambda engine: [m for m in everything(engine) if m.version <= OLD])
    old = await opener()
    station = Station(0, 7, 3, 3_600_000, StationSettings(9, 600, 4), Counters(5_000, 2, 1, 0, 40))
    active = GuestSession(2, "uuid-2", 23, 4, 600, "window", State.PAGED, 6_000, 7_000, None, None, 7, "Vibe1")
    cleared = GuestSession(1, "uuid-1", 12, 2, 300, None, State.CLEARED, 5_500, None, 6_500, ClearType.STOP, 5)
    async with old.unit_of_work() as uow:
        acme = await uow.accounts.ensure_account("acme", False, 1_000)
        station = Station(acme, *[getattr(station, f) for f in ("global_seq", "next_id", "clock_offset_ms",
                                                                 "settings", "counters")])
        db = uow.paging._db  # the seam: the old schema's SQL, as version 6's repository wrote it
        session_seq = await uow.accounts.append_change(acme, f"paging/session/{acme}/23", 7_000)
        station_seq = await uow.accounts.append_change(acme, f"paging/station/{acme}", 7_100)
        await uow.accounts.append_change(acme, "timing/device/D1", 7_200)
        await db.run(
            "INSERT INTO paging_stations (account_id, global_seq, next_id, clock_offset_ms, system_id,"
            " default_goal_s, stats_clear_mark, stats_since_ms, stats_sessions, stats_served, stats_late,"
            " stats_served_s, seq) VALUES ($1, 7, 3, 3600000, 9, 600, 4, 5000, 2, 1, 0, 40, $2)", acme, station_seq)
        for s in (cleared, active):
            await db.run(
                "INSERT INTO paging_sessions (account_id, id, uuid, number, party_size, goal_s, label, state,"
                " created_ms, notified_ms, cleared_ms, clear_type, session_seq, page_mode) VALUES ($1, $2, $3,"
                " $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)", acme, s.id, s.uuid, s.number, s.party_size,
                s.goal_s, s.label, s.state.value, s.created_ms, s.notified_ms, s.cleared_ms,
                None if s.clear_type is None else s.clear_type.value, s.session_seq, s.page_mode)
        await db.run("INSERT INTO paging_pages (account_id, number, page_mode, system_id, message, session_id,"
                     " at_ms) VALUES ($1, 23, 'Vibe1', 9, NULL, 2, 7000)", acme)
        event = StationEvent("session", station, 7_000, active)
        await db.run("INSERT INTO paging_events (seq, account_id, snapshot) VALUES ($1, $2, $3)", session_seq,
                     acme, _without_station_name(event))
    await _close(old)
    monkeypatch.setattr(migrations, "migrations", everything)

    store = await opener()  # migrated to the latest version
    paging = store.reads.paging
    assert await paging.station(acme, station=DEFAULT_STATION) == station
    assert [s.name for s in await paging.stations(acme)] == [DEFAULT_STATION]
    assert await paging.active_all(acme, station=DEFAULT_STATION) == [active]
    assert await paging.history(acme, station=DEFAULT_STATION) == [cleared]
    assert await paging.pages(acme, station=DEFAULT_STATION) == [Page(23, "Vibe1", 9, None, 7_000, 2)]
    changes = await store.reads.accounts.changes_after(0)
    # 0008: paging_events' snapshot is its change's data now; one written before stations had names
    # reads as the default station's
    assert [c.data is not None for c in changes] == [True, False, False]
    assert changes[0].data is not None and snapshots.read_paging(changes[0].data) == event
    topics = [c.topic for c in changes]
    assert topics == [f"paging/{acme}/default/session/23", f"paging/{acme}/default/station", "timing/device/D1"]
    parsed = [parse_paging_topic(t) for t in topics]
    assert [(p.station, p.number) for p in parsed if p is not None] == [(DEFAULT_STATION, 23), (DEFAULT_STATION, None)]

    # the keys include the station now: a second station reuses the default's ids and numbers
    async with store.unit_of_work() as uow:
        await uow.paging.save_station(Station(acme, 0, 1, 0, StationSettings(), Counters(0), "north"), 99)
        await uow.paging.save_session(acme, active, station="north")
    assert await paging.active_all(acme, station="north") == [active]
    assert await paging.active_all(acme, station=DEFAULT_STATION) == [active]
    assert [s.name for s in await paging.stations(acme)] == [DEFAULT_STATION, "north"]
