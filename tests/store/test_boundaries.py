"""Kept page boundaries (store/boundaries.py): the map's rules without a database, then the SQLite
store keeping them honest when another process writes its file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sessionhub.core.access import Access
from sessionhub.core.timing import Device, Passing, TimingSession
from sessionhub.store import boundaries
from sessionhub.store.boundaries import PageBoundaries, Written
from sessionhub.store.sqlite import SqliteStore

W = (1, -10, 10_000)  # device 1, a time window


def _kept(offsets_keys: dict[int, tuple[int, int, int]], window: tuple[int, int, int] = W) -> PageBoundaries:
    m = PageBoundaries("v1")
    for offset, key in offsets_keys.items():
        m.remember(window, offset, key)
    return m


def test_the_nearest_boundary_is_the_greatest_at_or_below_the_offset() -> None:
    m = _kept({10: (100, 1, 10), 20: (200, 1, 20), 30: (300, 1, 30)})
    assert m.nearest(W, 25) == (20, (200, 1, 20))
    assert m.nearest(W, 30) == (30, (300, 1, 30))
    assert m.nearest(W, 10_000) == (30, (300, 1, 30))
    assert m.nearest(W, 9) is None
    assert m.nearest((1, -10, 9_999), 25) is None  # another window of the same device
    assert m.nearest((2, -10, 10_000), 25) is None


def test_an_insert_drops_the_boundaries_at_or_above_its_key_and_keeps_those_below() -> None:
    m = _kept({10: (100, 1, 10), 20: (200, 1, 20), 30: (300, 1, 30)})
    m.inserted(1, [(250, 1, 99), (260, 2, 1)])  # an older passing: moves the boundary at 300
    assert m.nearest(W, 40) == (20, (200, 1, 20))
    m.inserted(1, [(200, 1, 20)])  # a repeat of the key kept: dropped too (never wrong to drop)
    assert m.nearest(W, 40) == (10, (100, 1, 10))
    m.inserted(1, [(100, 0, 5)])  # same time, lower session: sorts below the key at 100
    assert m.nearest(W, 40) is None


def test_appends_at_the_end_keep_every_boundary() -> None:
    m = _kept({10: (100, 1, 10), 20: (200, 1, 20)})
    m.inserted(1, [(200, 1, 21), (200, 2, 0), (5_000, 1, 22)])
    assert len(m) == 2 and m.nearest(W, 25) == (20, (200, 1, 20))


def test_inserts_outside_a_window_or_of_another_device_move_nothing() -> None:
    narrow = (1, 150, 400)
    m = _kept({10: (200, 1, 20)}, narrow)
    m.inserted(1, [(100, 1, 1)])  # before the window: not one of its rows
    m.inserted(1, [(500, 1, 2)])  # after it
    m.inserted(2, [(160, 1, 3)])  # in its time, another device
    assert m.nearest(narrow, 10) == (10, (200, 1, 20))
    m.inserted(1, [(160, 1, 4)])
    assert m.nearest(narrow, 10) is None


def test_a_delete_forgets_the_device_s_windows_only() -> None:
    m = _kept({10: (100, 1, 10)})
    other = (2, -10, 10_000)
    m.remember(other, 10, (100, 7, 10))
    m.remember((1, 0, 50), 3, (40, 1, 3))
    m.deleted(1)
    assert m.nearest(W, 10) is None and m.nearest((1, 0, 50), 3) is None
    assert m.nearest(other, 10) == (10, (100, 7, 10))


def test_a_state_the_map_does_not_describe_clears_it() -> None:
    m = _kept({10: (100, 1, 10)})
    m.at("v1")
    assert len(m) == 1
    m.at("v2")
    assert len(m) == 0 and m.version == "v2"


def test_written_tells_a_map_only_when_asked_after_the_commit() -> None:
    m = _kept({10: (100, 1, 10), 20: (200, 1, 20)})
    m.remember((2, -10, 10_000), 5, (1, 1, 1))
    w = Written()
    w.insert(1, 1, [Passing(50, 150, "b")])
    w.delete(2)
    assert len(m) == 3  # nothing happens until the unit of work has committed
    w.tell(m)
    assert m.nearest(W, 30) == (10, (100, 1, 10)) and m.nearest((2, -10, 10_000), 5) is None


def test_the_map_is_bounded_least_recently_used_first() -> None:
    m = PageBoundaries()
    for offset in range(boundaries.PER_WINDOW):
        m.remember(W, offset, (offset, 1, offset))
    assert m.nearest(W, 0) == (0, (0, 1, 0))  # used: now the most recent
    m.remember(W, 1_000, (1_000, 1, 1_000))
    assert len(m) == boundaries.PER_WINDOW
    assert m.nearest(W, 1) == (0, (0, 1, 0))  # 1 was the least recently used: gone
    for device in range(2, boundaries.WINDOWS + 1):
        m.remember((device, 0, 1), 1, (1, 1, 1))
    assert m.nearest(W, 0) is not None  # used: kept over device 2's
    m.remember((9_999, 0, 1), 1, (1, 1, 1))
    assert m.nearest((2, 0, 1), 1) is None and m.nearest(W, 0) is not None
    assert len(m._windows) == boundaries.WINDOWS


# the SQLite store -----------------------------------------------------------------------------------

async def _paged_device(store: SqliteStore, n: int) -> tuple[Device, TimingSession]:
    async with store.unit_of_work() as uow:
        acc = await uow.accounts.ensure_account("acme", False, 1)
        await uow.accounts.add_key(acc, "h", Access.READ_WRITE, False, "", 1)
        dev = await uow.timing.insert_device(Device(0, acc, "D" * 64, "CUSTOM", "X", "S-1", "a", None, 1, None, 1))
        ses = await uow.timing.insert_session(
            TimingSession(0, acc, dev.id, dev.deviceid, "T" * 64, "a", 1, None, 0, None, None, 1))
        await uow.timing.add_passings(ses, [Passing(k, 1_000 + 10 * k, str(k)) for k in range(n)])
    return dev, ses


async def _pages(store: SqliteStore, dev: Device, limit: int) -> list[list[str]]:
    out, offset = [], 0
    while page := await store.reads.timing.passings_of_device(dev.id, None, None, offset, limit):
        out.append([p.passing.bib for p in page])
        offset += limit
    return out


async def test_sqlite_keeps_boundaries_and_another_process_s_commit_clears_them(tmp_path: Path) -> None:
    """The CLI (another process) may write the file: an older passing it stores moves every page after
    it, and neither the read connection's next read nor this process's next commit may trust a
    boundary kept before it."""
    path = tmp_path / "s.db"
    store = SqliteStore(str(path))
    store.open(migrate=True)
    try:
        dev, ses = await _paged_device(store, 40)
        before = await _pages(store, dev, 7)
        assert len(store._pages) >= 5  # kept: one per deep page read
        assert [b for page in before for b in page] == [str(k) for k in range(40)]
        other = sqlite3.connect(path, isolation_level=None)  # as another process would
        other.execute("INSERT INTO passings (session_id, device_id, seq, num_passing, ts_ms, bib) "
                      "VALUES (?, ?, 0, 100, 5, 'early')", (ses.id, dev.id))
        after = await _pages(store, dev, 7)
        assert [b for page in after for b in page] == ["early"] + [str(k) for k in range(40)]
        other.execute("INSERT INTO passings (session_id, device_id, seq, num_passing, ts_ms, bib) "
                      "VALUES (?, ?, 0, 101, 6, 'early2')", (ses.id, dev.id))
        async with store.unit_of_work() as uow:  # our commit next: it must not vouch for the map
            await uow.timing.add_passings(ses, [Passing(200, 90_000, "late")])
        again = await _pages(store, dev, 7)
        assert [b for page in again for b in page] == ["early", "early2", *[str(k) for k in range(40)], "late"]
        other.close()
    finally:
        store.close()


async def test_sqlite_appends_keep_the_boundaries_a_live_client_polls_from(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "s.db"))
    store.open(migrate=True)
    try:
        dev, ses = await _paged_device(store, 30)
        await _pages(store, dev, 5)
        kept = len(store._pages)
        async with store.unit_of_work() as uow:
            await uow.timing.add_passings(ses, [Passing(100 + k, 90_000 + k, f"new{k}") for k in range(3)])
        assert len(store._pages) == kept
        last = await store.reads.timing.passings_of_device(dev.id, None, None, 30, 5)
        assert [p.passing.bib for p in last] == ["new0", "new1", "new2"]
        async with store.unit_of_work() as uow:
            await uow.timing.add_passings(ses, [Passing(300, 1_000, "tied first")])  # ties the first's time
        assert len(store._pages) == 0  # every kept key sorts above it
    finally:
        store.close()
